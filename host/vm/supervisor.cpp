// The VM supervisor: one process per VM that boots QEMU, owns the agent's channel and serves
// lxbox clients on a socket until the VM is idle or asked to stop. Its frames are handled in
// supervisor_frames.cpp, its disks and ports in supervisor_resources.cpp (supervisor_impl.hpp).
#include "host/vm/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "host/vm/disks.hpp"
#include "host/vm/port_forward.hpp"
#include "host/vm/qmp.hpp"
#include "host/vm/session_router.hpp"
#include "host/vm/supervisor_impl.hpp"
#include "host/vm/vm_launcher.hpp"
#include "runtime/base/json_number.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::vm {

using proto::AttachDisk;

VmPaths vm_paths(const std::string& vm_dir) {
    VmPaths p;
    p.dir = vm_dir;
    p.socket = vm_dir + "/lxbox.sock";
    p.lock = vm_dir + "/supervisor.lock";
    p.start_lock = vm_dir + "/start.lock";
    p.channel = vm_dir + "/agent.sock";
    p.qmp = vm_dir + "/qmp.sock";
    p.console_log = vm_dir + "/console.log";
    p.supervisor_log = vm_dir + "/supervisor.log";
    p.containers_disk = vm_dir + "/containers.ext4";
    return p;
}

std::string vm_dir_for(const std::string& root, const std::string& arch, const std::string& host_arch) {
    if (arch.empty() || arch == host_arch) return root + "/vm";
    return root + "/vm/" + arch;
}

std::string vm_dir_for(const std::string& root, const std::string& arch) {
    return vm_dir_for(root, arch, build_arch());
}

void to_json(nlohmann::json& j, const VmStatus& s) {
    j = {{"running", s.running},   {"pid", s.pid},           {"qemu_pid", s.qemu_pid},
         {"accel", s.accel},       {"boot_ms", s.boot_ms},   {"started", s.started},
         {"memory_mib", s.memory_mib}, {"cpus", s.cpus},     {"sessions", s.sessions},
         {"clients", s.clients},   {"disks", s.disks},       {"held_disks", s.held_disks},
         {"heartbeat_us", s.heartbeat_us}, {"idle_timeout_s", s.idle_timeout_s},
         {"forwarded_ports", s.forwarded_ports}};
}

void from_json(const nlohmann::json& j, VmStatus& s) {
    s.running = j.value("running", false);
    s.pid = json_value<pid_t>(j, "pid", 0);
    s.qemu_pid = json_value<pid_t>(j, "qemu_pid", 0);
    s.accel = j.value("accel", "");
    s.boot_ms = json_value<int64_t>(j, "boot_ms", 0);
    s.started = j.value("started", "");
    s.memory_mib = json_value<unsigned>(j, "memory_mib", 0);
    s.cpus = json_value<unsigned>(j, "cpus", 0);
    s.sessions = json_value<uint64_t>(j, "sessions", 0);
    s.clients = json_value<uint64_t>(j, "clients", 0);
    s.disks = j.value("disks", std::vector<std::string>{});
    s.held_disks = j.value("held_disks", std::vector<std::string>{});
    s.heartbeat_us = json_value<int64_t>(j, "heartbeat_us", 0);
    s.idle_timeout_s = json_value<int64_t>(j, "idle_timeout_s", 0);
    s.forwarded_ports = json_value<std::vector<uint16_t>>(j, "forwarded_ports", {});
}

std::vector<AttachDisk> disks_to_boot(const std::vector<AttachDisk>& have, const std::vector<AttachDisk>& wanted,
                                      size_t max) {
    std::vector<AttachDisk> out;
    auto add = [&](const AttachDisk& d) {
        if (out.size() >= max) return;
        if (std::none_of(out.begin(), out.end(), [&](const AttachDisk& o) { return o.serial == d.serial; }))
            out.push_back(d);
    };
    for (const auto& d : wanted) add(d);
    // Newest first: a distro's older builds were attached before its newer ones.
    for (auto it = have.rbegin(); it != have.rend(); ++it) add(*it);
    return out;
}

std::string guest_image_dir(const std::string& serial) { return "/run/lxbox/images/" + serial; }

std::vector<std::string> disks_to_detach(const std::vector<std::string>& attached, const std::set<std::string>& on_file,
                                         const std::set<std::string>& in_use) {
    std::vector<std::string> out;
    for (const auto& serial : attached)
        if (!on_file.count(serial) && !in_use.count(serial)) out.push_back(serial);
    return out;
}

}  // namespace lxbox::vm

namespace lxbox::vm::supervisor_detail {

Result<UniqueFd> listen_on(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return Error(ErrorKind::Invalid, "socket path too long: " + path);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Error::last("socket");
    // Bound under a temporary name and renamed: a client sees either no socket or a listening one.
    const std::string tmp = path + ".tmp";
    ::unlink(tmp.c_str());
    std::memcpy(addr.sun_path, tmp.c_str(), tmp.size() + 1);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Error::last("bind " + tmp);
    ::chmod(tmp.c_str(), 0600);
    if (::listen(fd.get(), 64) != 0) return Error::last("listen " + tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::last("rename " + tmp);
    return fd;
}


Status Supervisor::boot(const std::vector<AttachDisk>& disks) {
    BootRequest req;
    req.config = opts_.vm;
    req.config.channel_socket = paths_.channel;
    req.config.qmp_socket = paths_.qmp;
    req.config.serial_log = paths_.console_log;
    req.config.disks = {{paths_.containers_disk, false, kContainersDiskSerial}};
    // The host's filesystem for -v and --share-cwd (as WSL shows the host's drives).
    req.config.host_share = "/";
    req.config.host_share_passthrough = ::geteuid() == 0;
    for (const auto& d : disks) req.config.disks.push_back({d.path, d.readonly, d.serial});
    req.facts = opts_.facts;
    req.vm_dir = opts_.vm_dir;
    req.notice = opts_.notice;
    vm_ = LXBOX_TRY(boot_vm(req));
    disks_.clear();
    for (const auto& d : disks) disks_.push_back({d});
    disk_users_.clear();
    stale_in_use_ = false;
    agent_ = Conn{};
    agent_.fd = UniqueFd(::dup(vm_->channel().fd()));
    ::fcntl(agent_.fd.get(), F_SETFD, FD_CLOEXEC);
    ::fcntl(agent_.fd.get(), F_SETFL, ::fcntl(agent_.fd.get(), F_GETFL) | O_NONBLOCK);
    last_pong_ = clock_synced_ = Clock::now();
    heartbeat_nonce_.reset();
    qmp_.reset();
    published_.clear();
    forwarder_.clear();
    router_.close_client(kForwarderClient);
    started_ = store::now_rfc3339();
    spdlog::info("VM up under {} in {} ms with {} distro disk(s)", to_string(vm_->accel()), vm_->boot_time().count(),
                 disks.size());
    return {};
}

void Supervisor::stop_vm(const std::string& why, bool graceful) {
    if (!vm_) return;
    spdlog::info("stopping the VM: {}", why);
    if (graceful) {
        // The agent syncs its disks and powers off; QEMU then exits by itself.
        agent_.queue(make_frame(0, Shutdown{}));
        for (int i = 0; i < 100 && !agent_.out.empty(); ++i) {
            pollfd p{agent_.fd.get(), POLLOUT, 0};
            ::poll(&p, 1, 10);
            if (!agent_.flush()) break;
        }
        if (!vm_->wait_exit(std::chrono::seconds(20))) spdlog::warn("the VM did not power off within 20 s: killed");
    }
    vm_->kill();
    vm_.reset();
    qmp_.reset();
    published_.clear();
    forwarder_.clear();
    router_.close_client(kForwarderClient);
    agent_ = Conn{};
}

void Supervisor::heartbeat() {
    const auto now = Clock::now();
    if (heartbeat_nonce_) {
        if (now - heartbeat_sent_ > opts_.heartbeat_deadline) {
            stopping_ = true;
            stop_reason_ = "the VM stopped answering (no heartbeat for " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - heartbeat_sent_).count()) +
                           " s): it was killed; the next launch boots a fresh one";
        }
        return;
    }
    if (now - heartbeat_sent_ < opts_.heartbeat_interval) return;
    heartbeat_nonce_ = (next_nonce_++) | kHeartbeatBit;
    heartbeat_sent_ = now;
    to_agent(make_frame(0, Ping{*heartbeat_nonce_}));
}

VmStatus Supervisor::status() const {
    VmStatus s;
    s.running = vm_ != nullptr;
    s.pid = ::getpid();
    s.qemu_pid = vm_ ? vm_->pid() : 0;
    s.accel = vm_ ? to_string(vm_->accel()) : "";
    s.boot_ms = vm_ ? vm_->boot_time().count() : 0;
    s.started = started_;
    s.memory_mib = opts_.vm.memory_mib;
    s.cpus = opts_.vm.cpus;
    s.sessions = router_.size();
    s.clients = clients_.size();
    for (const auto& d : disks_) {
        s.disks.push_back(d.disk.serial);
        if (d.state == AttachedDisk::Held) s.held_disks.push_back(d.disk.serial);
    }
    s.forwarded_ports = forwarder_.forwarded();
    s.heartbeat_us = heartbeat_rtt_.count();
    s.idle_timeout_s = opts_.idle_timeout.count();
    return s;
}

Status Supervisor::run(const std::function<void(const Status&)>& ready) {
    if (auto st = ensure_empty_disk(paths_.containers_disk, opts_.containers_disk_bytes, "lxbox-containers"); !st) {
        ready(st);
        return st;
    }
    auto built = built_distro_disks(opts_.vm_dir);
    if (built.size() > kMaxDistroDisks) built.resize(kMaxDistroDisks);
    if (auto booted = boot(built); !booted) {
        ready(booted);
        return booted;
    }
    auto listener = listen_on(paths_.socket);
    if (!listener) {
        stop_vm("no socket for clients", false);
        ready(listener.error());
        return std::move(listener).error();
    }
    listener_ = std::move(*listener);
    ready(Status{});
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    idle_since_ = Clock::now();
    while (!stopping_) {
        std::vector<pollfd> fds{{listener_.get(), POLLIN, 0},
                                {agent_.fd.get(), short(POLLIN | (agent_.out.empty() ? 0 : POLLOUT)), 0},
                                {sigfd.get(), POLLIN, 0}};
        std::vector<uint64_t> ids;
        for (auto& [id, c] : clients_) {
            fds.push_back({c->conn.fd.get(), short(POLLIN | (c->conn.out.empty() ? 0 : POLLOUT)), 0});
            ids.push_back(id);
        }
        const size_t forwards_at = fds.size();
        forwarder_.add_poll_fds(fds);
        int timeout = int(opts_.heartbeat_interval.count());
        if (opts_.idle_timeout.count() > 0 && idle()) {
            auto left = std::chrono::duration_cast<Millis>(idle_since_ + opts_.idle_timeout - Clock::now()).count();
            timeout = int(std::clamp<int64_t>(left, 0, timeout));
        }
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return Error::last("poll");
        if (fds[2].revents) {
            signalfd_siginfo si;
            while (::read(sigfd.get(), &si, sizeof si) == sizeof si) {
                stopping_ = true;
                stop_reason_ = std::string("the VM supervisor got ") + ::strsignal(int(si.ssi_signo)) + ": the VM is shutting down";
            }
        }
        if (fds[1].revents & POLLIN) on_agent_bytes();
        if (fds[1].revents & (POLLHUP | POLLERR)) agent_.closed = true;
        for (size_t i = 0; i < ids.size(); ++i) {
            auto it = clients_.find(ids[i]);
            if (it == clients_.end()) continue;
            if (fds[3 + i].revents & (POLLIN | POLLHUP | POLLERR)) on_client_bytes(*it->second);
        }
        forwarder_.on_poll(fds.data() + forwards_at, fds.size() - forwards_at);
        if (fds[0].revents & POLLIN) accept_clients();
        if (agent_.closed) {
            stopping_ = true;
            stop_reason_ = "the VM stopped: QEMU exited or closed the agent's channel; the next launch boots a fresh one";
        }
        heartbeat();
        if (reconcile_due_) reconcile_disks();
        if (!agent_.flush()) agent_.closed = true;
        for (auto it = clients_.begin(); it != clients_.end();) {
            Client& c = *it->second;
            const bool ok = c.conn.flush() && c.conn.out.size() <= kMaxClientBacklog;
            if (!ok && !c.conn.closed) drop_client(c);
            // A client that asked for the shutdown is answered by EOF when the VM is down.
            if (c.conn.closed && !c.wants_stop && c.conn.out.empty()) {
                it = clients_.erase(it);
                continue;
            }
            if (!ok) {
                it = clients_.erase(it);
                continue;
            }
            ++it;
        }
        if (!idle()) idle_since_ = Clock::now();
        if (opts_.idle_timeout.count() > 0 && idle() && !client_pending() &&
            Clock::now() - idle_since_ >= opts_.idle_timeout) {
            stopping_ = true;
            stop_reason_ = "idle for " + std::to_string(opts_.idle_timeout.count()) + " s";
        }
    }
    // Stop accepting first, so no client connects to a supervisor on its way out.
    ::unlink(paths_.socket.c_str());
    listener_.reset();
    spdlog::info("{}", stop_reason_);
    const bool vm_alive = !agent_.closed && !stop_reason_.starts_with("the VM stopped answering");
    fail_all(stop_reason_);
    for (auto& [id, c] : clients_) (void)c->conn.flush();
    stop_vm(stop_reason_, vm_alive);
    clients_.clear();  // EOF to everyone, the one who asked for the stop included
    return {};
}

}  // namespace lxbox::vm::supervisor_detail

namespace lxbox::vm {

Status serve(SupervisorOptions options, const std::function<void(const Status&)>& ready) {
    // One supervisor per VM dir: the flock is held for this process's life.
    const VmPaths paths = vm_paths(options.vm_dir);
    auto lock = open_fd(paths.lock, O_RDWR | O_CREAT, 0600);
    if (!lock) {
        ready(lock.error());
        return std::move(lock).error();
    }
    // A client's liveness probe (supervisor_client.cpp) holds it shared for an instant: tried
    // for 0.2 s before taking it for another supervisor's.
    bool locked = false;
    for (int tries = 0; tries < 20 && !(locked = ::flock(lock->get(), LOCK_EX | LOCK_NB) == 0); ++tries)
        ::poll(nullptr, 0, 10);
    if (!locked) {
        Error e(ErrorKind::Busy, "a VM supervisor already runs for " + options.vm_dir);
        ready(e);
        return e;
    }
    supervisor_detail::Supervisor s(std::move(options));
    return s.run(ready);
}

}  // namespace lxbox::vm
