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
#include "host/vm/vm_launcher.hpp"
#include "runtime/base/json_number.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::vm {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using namespace lxbox::proto;

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

namespace {

// The guest has room for this many distro disks at once (virtio-mmio transports of microvm
// are limited; a reboot makes room).
constexpr size_t kMaxDistroDisks = 16;
// A client that does not read its output is cut off past this (sessions are under credit flow
// control, so only a broken client gets here).
constexpr size_t kMaxClientBacklog = 64u << 20;
// Heartbeat pings carry nonces with the top bit set; a client's forwarded pings never do.
constexpr uint64_t kHeartbeatBit = 1ull << 63;
// The router's client number of the forwarded connections (real clients count from 1).
constexpr uint64_t kForwarderClient = 0;
// A clock older than this is resynced when a client connects.
constexpr auto kClockResync = std::chrono::seconds(60);

// One end of a framed byte stream with non-blocking writes.
struct Conn {
    UniqueFd fd;
    FrameDecoder decoder = FrameDecoder();
    std::string out;
    bool closed = false;

    void queue(const Frame& f) { out += encode_frame(f); }
    // Writes what the socket takes now; false on a hard error.
    bool flush() {
        while (!out.empty()) {
            ssize_t n = ::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                out.erase(0, static_cast<size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
        return true;
    }
};

struct Client {
    uint64_t id = 0;
    Conn conn;
    bool hello = false;
    // Asked only about the VM (status, ping, stop): does not keep an idle VM up. A client that
    // has not said what it wants yet holds off the idle stop for a moment (it may be about to
    // run something).
    bool query_only = false;
    std::chrono::steady_clock::time_point connected = std::chrono::steady_clock::now();
    bool wants_stop = false;          // asked for shutdown: kept until the end, told by EOF
    std::set<uint32_t> refused;       // sessions whose Attach failed: their Run is dropped
};

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

// A distro disk the VM has: booted with (virtio-mmio) or hot-plugged (SCSI), and how far
// letting it go got.
struct AttachedDisk {
    AttachDisk disk;
    bool hotplugged = false;
    enum State { Mounted, Detaching, Held } state = Mounted;  // Held: unmounted, QEMU keeps the file
};

class Supervisor {
public:
    explicit Supervisor(SupervisorOptions o)
        : opts_(std::move(o)), paths_(vm_paths(opts_.vm_dir)), forwarder_(forwarder_hooks()) {}
    Status run(const std::function<void(const Status&)>& ready);

private:
    Status boot(const std::vector<AttachDisk>& disks);
    void stop_vm(const std::string& why, bool graceful);
    void accept_clients();
    void on_client_bytes(Client& c);
    void on_client_frame(Client& c, Frame f);
    void on_connection_frame(Client& c, const Frame& f);
    void on_attach(Client& c, const Frame& f);
    void on_agent_bytes();
    void on_agent_frame(Frame f);
    void drop_client(Client& c);
    void fail_all(const std::string& why);
    void heartbeat();
    // Distro disks the running VM does not have, added on its virtio-scsi controller.
    Status hotplug(const std::vector<AttachDisk>& disks);
    // Asks the agent to unmount the attached disks no longer on file that no session uses.
    void reconcile_disks();
    // The agent's answer to a Detach: a hot-plugged disk is then unplugged.
    void on_detached(const Detach& d);
    Status unplug(const std::string& serial);
    // Answers the clients that asked for a detach once no disk is on its way out.
    void answer_detach_waiters();
    // A session (or every session of a client) ended: its ports and its hold on disks go.
    void session_ended(ClientSession s);
    void client_ended(uint64_t client);
    // QEMU's QMP, connected on first use (-p, a hot-plugged disk): its handshake waits for
    // QEMU's main loop, ~45 ms while a guest boots under TCG, which no plain launch needs.
    Result<Qmp*> qmp();
    // -p: hostfwd rules on QEMU's user network, kept while their session lives.
    Status publish(ClientSession s, const std::vector<PortForward>& ports);
    void unpublish(ClientSession s);
    void unpublish_client(uint64_t client);
    // Localhost forwarding: the forwarder's sessions on the channel and its notices to users.
    PortForwarder::Hooks forwarder_hooks();
    std::set<uint16_t> published_ports() const;
    VmStatus status() const;
    void to_agent(const Frame& f) { agent_.queue(f); }
    static void reply(Client& c, const Frame& f) { c.conn.queue(f); }
    static void reply_error(Client& c, uint32_t session, const std::string& message) {
        c.conn.queue(make_frame(session, ErrorMessage{message}));
    }
    // No session runs (clients that only ask about the VM do not count).
    bool idle() const { return router_.size() == 0; }
    // A client connected a moment ago and has not asked for anything yet.
    bool client_pending() const {
        return std::any_of(clients_.begin(), clients_.end(), [](const auto& entry) {
            const Client& c = *entry.second;
            return !c.query_only && !c.conn.closed && Clock::now() - c.connected < std::chrono::seconds(10);
        });
    }

    SupervisorOptions opts_;
    VmPaths paths_;
    std::unique_ptr<RunningVm> vm_;
    std::optional<Qmp> qmp_;
    std::map<ClientSession, std::vector<PortForward>> published_;
    PortForwarder forwarder_;
    Conn agent_;
    UniqueFd listener_;
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
    uint64_t next_client_ = 1;
    uint32_t next_forward_ = 1;  // the forwarder's local session numbers
    SessionRouter router_;
    std::vector<AttachedDisk> disks_;  // distro disks attached (the containers disk is always)
    std::map<ClientSession, std::vector<std::string>> disk_users_;  // the disks a session's Attach named
    bool reconcile_due_ = false;   // run reconcile_disks at the end of this loop turn
    bool stale_in_use_ = false;    // a disk to let go is still used: look again when a session ends
    std::vector<uint64_t> detach_waiters_;  // clients that sent a Detach, answered with a Status
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> pings_;  // our nonce → client, its nonce
    uint64_t next_nonce_ = 1;
    std::optional<uint64_t> heartbeat_nonce_;
    Clock::time_point heartbeat_sent_{}, last_pong_{}, idle_since_{}, clock_synced_{};
    std::chrono::microseconds heartbeat_rtt_{0};
    std::string started_;
    bool stopping_ = false;
    std::string stop_reason_;
};

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

Status Supervisor::publish(ClientSession s, const std::vector<PortForward>& ports) {
    for (const auto& p : ports) {
        Qmp* q = LXBOX_TRY(qmp().context("publish " + hostfwd_key(p)));
        auto out = q->hmp(std::string("hostfwd_add ") + kNetdevId + " " + hostfwd_rule(p));
        // HMP answers success with nothing and failure with a line of text.
        if (!out || !out->empty()) {
            std::string why = out ? *out : out.error().message;
            while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
            return Error(ErrorKind::Busy, "publish " + hostfwd_key(p) + ": " + why + " (is the port in use?)");
        }
        published_[s].push_back(p);
    }
    return {};
}

PortForwarder::Hooks Supervisor::forwarder_hooks() {
    PortForwarder::Hooks h;
    h.open_session = [this] { return router_.open({kForwarderClient, next_forward_++}); };
    h.close_session = [this](uint32_t id) { router_.close(id); };
    h.to_agent = [this](const Frame& f) { to_agent(f); };
    h.warn = [this](uint32_t session, const std::string& line) {
        // Told to the client whose container listens; a port nobody can be named for is in the log only.
        auto owner = router_.owner(session);
        if (!owner) return;
        if (auto c = clients_.find(owner->client); c != clients_.end())
            reply(*c->second, make_frame(owner->local, Notice{line}));
    };
    return h;
}

std::set<uint16_t> Supervisor::published_ports() const {
    std::set<uint16_t> out;
    for (const auto& [session, ports] : published_)
        for (const auto& p : ports) {
            out.insert(p.host_port);
            out.insert(p.guest_port);
        }
    return out;
}

Result<Qmp*> Supervisor::qmp() {
    if (qmp_) return &*qmp_;
    if (!vm_) return Error(ErrorKind::Unsupported, "the VM is not running");
    auto connected = Qmp::connect(paths_.qmp, Millis(5000));
    if (!connected) return Error(ErrorKind::Unsupported, "no QMP connection to the VM: " + connected.error().message);
    qmp_.emplace(std::move(*connected));
    return &*qmp_;
}

Status Supervisor::hotplug(const std::vector<AttachDisk>& disks) {
    Qmp* q = LXBOX_TRY(qmp().context("hot-plug a disk"));
    for (const auto& d : disks) {
        for (const auto& [command, arguments] : hotplug_disk_commands({d.path, d.readonly, d.serial}))
            LXBOX_TRY(q->execute(command, arguments).context(command + " " + d.serial));
        disks_.push_back({d, true});
        spdlog::info("hot-plugged the disk {} ({})", d.serial, d.path);
    }
    return {};
}

void Supervisor::reconcile_disks() {
    reconcile_due_ = false;
    // An agent from before Detach (an image not rebuilt yet) keeps its disks until it stops.
    const std::vector<std::string> caps = vm_ ? vm_->hello().capabilities : std::vector<std::string>{};
    if (std::find(caps.begin(), caps.end(), "detach") == caps.end()) return answer_detach_waiters();
    std::set<std::string> on_file, in_use;
    for (const auto& d : built_distro_disks(opts_.vm_dir)) on_file.insert(d.serial);
    for (const auto& [session, serials] : disk_users_) in_use.insert(serials.begin(), serials.end());
    std::vector<std::string> mounted;
    for (const auto& d : disks_)
        if (d.state == AttachedDisk::Mounted) mounted.push_back(d.disk.serial);
    const auto go = disks_to_detach(mounted, on_file, in_use);
    stale_in_use_ = std::any_of(mounted.begin(), mounted.end(), [&](const std::string& serial) {
        return !on_file.count(serial) && in_use.count(serial);
    });
    for (const auto& serial : go) {
        for (auto& d : disks_)
            if (d.disk.serial == serial) d.state = AttachedDisk::Detaching;
        to_agent(make_frame(0, Detach{serial, guest_image_dir(serial), "", false}));
    }
    answer_detach_waiters();
}

void Supervisor::on_detached(const Detach& answer) {
    auto it = std::find_if(disks_.begin(), disks_.end(), [&](const AttachedDisk& d) {
        return d.disk.serial == answer.serial && d.state == AttachedDisk::Detaching;
    });
    if (it == disks_.end()) return;
    if (!answer.error.empty()) {
        // Still in use (a process with its cwd there, say): tried again when a session ends.
        spdlog::warn("detach the disk {}: {}", answer.serial, answer.error);
        it->state = AttachedDisk::Mounted;
        stale_in_use_ = true;
    } else if (!it->hotplugged) {
        spdlog::info("the disk {} is unmounted in the VM; its file stays open until the VM stops", answer.serial);
        it->state = AttachedDisk::Held;
    } else if (auto unplugged = unplug(answer.serial); !unplugged) {
        spdlog::warn("unplug the disk {}: {}", answer.serial, unplugged.error().message);
        it->state = AttachedDisk::Held;
    } else {
        spdlog::info("unplugged the disk {} ({})", answer.serial, it->disk.path);
        disks_.erase(it);
    }
    answer_detach_waiters();
}

Status Supervisor::unplug(const std::string& serial) {
    Qmp* q = LXBOX_TRY(qmp().context("unplug a disk"));
    const DiskUnplug u = unplug_disk_commands(serial);
    LXBOX_TRY(q->execute(u.device_del.first, u.device_del.second).context(u.device_del.first + " " + serial));
    // The node is the device's until QEMU says it is gone (a SCSI disk goes at once).
    LXBOX_TRY(q->wait_event("DEVICE_DELETED",
                            [&](const nlohmann::json& data) { return data.value("device", "") == u.device_id; },
                            Millis(5000)));
    LXBOX_TRY(q->execute(u.blockdev_del.first, u.blockdev_del.second).context(u.blockdev_del.first + " " + serial));
    return {};
}

void Supervisor::answer_detach_waiters() {
    const auto detaching = [](const AttachedDisk& d) { return d.state == AttachedDisk::Detaching; };
    if (std::any_of(disks_.begin(), disks_.end(), detaching)) return;
    for (uint64_t id : std::exchange(detach_waiters_, {}))
        if (auto c = clients_.find(id); c != clients_.end())
            reply(*c->second, Frame{FrameType::Status, 0, nlohmann::json(status()).dump()});
}

void Supervisor::session_ended(ClientSession s) {
    unpublish(s);
    if (disk_users_.erase(s) && stale_in_use_) reconcile_due_ = true;
}

void Supervisor::client_ended(uint64_t client) {
    unpublish_client(client);
    if (std::erase_if(disk_users_, [client](const auto& entry) { return entry.first.client == client; }) &&
        stale_in_use_)
        reconcile_due_ = true;
}

void Supervisor::unpublish(ClientSession s) {
    auto it = published_.find(s);
    if (it == published_.end()) return;
    for (const auto& p : it->second)
        if (qmp_) (void)qmp_->hmp(std::string("hostfwd_remove ") + kNetdevId + " " + hostfwd_key(p));
    published_.erase(it);
}

void Supervisor::unpublish_client(uint64_t client) {
    std::vector<ClientSession> mine;
    for (const auto& [s, ports] : published_)
        if (s.client == client) mine.push_back(s);
    for (const auto& s : mine) unpublish(s);
}

void Supervisor::fail_all(const std::string& why) {
    // Every client gets the reason on each session it had open (on the connection when it
    // had none), then its connection ends.
    for (auto& [id, c] : clients_) {
        for (uint32_t local : router_.local_ids(id)) reply_error(*c, local, why);
        if (router_.count(id) == 0 && !c->wants_stop) reply_error(*c, kConnectionSession, why);
        router_.close_client(id);
        c->conn.closed = true;
    }
}

void Supervisor::accept_clients() {
    for (;;) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) return;
        auto c = std::make_unique<Client>();
        c->id = next_client_++;
        c->conn.fd = std::move(fd);
        clients_[c->id] = std::move(c);
    }
}

void Supervisor::drop_client(Client& c) {
    client_ended(c.id);
    // Its sessions' processes would run on with nobody reading them: the agent ends them.
    for (uint32_t id : router_.close_client(c.id)) to_agent(make_frame(id, ErrorMessage{"the client went away"}));
    c.conn.closed = true;
}

void Supervisor::on_client_bytes(Client& c) {
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(c.conn.fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) return drop_client(c);
        for (auto& event : c.conn.decoder.feed(std::string_view(buf, static_cast<size_t>(n)))) {
            if (auto* e = std::get_if<DecodeError>(&event)) {
                reply_error(c, e->session, e->message);
                continue;
            }
            on_client_frame(c, std::get<Frame>(std::move(event)));
        }
        if (static_cast<size_t>(n) < sizeof buf) return;
    }
}

void Supervisor::on_connection_frame(Client& c, const Frame& f) {
    switch (f.type) {
        case FrameType::Hello: {
            auto hello = parse_message<Hello>(f);
            if (!hello) return reply_error(c, 0, hello.error().message);
            c.hello = true;
            Hello mine = vm_ ? vm_->hello() : Hello{};
            mine.protocol_version = std::min(hello->protocol_version, kProtocolVersion);
            mine.capabilities.push_back("supervisor");
            reply(c, make_frame(0, mine));
            // The host may have slept since: the guest's clock is set again from this hello's.
            if (hello->host_time_ns > 0 && Clock::now() - clock_synced_ > kClockResync) {
                to_agent(make_frame(0, Hello{kProtocolVersion, "lxbox-supervisor", {"ping", "credit"}, hello->host_time_ns}));
                clock_synced_ = Clock::now();
            }
            return;
        }
        case FrameType::Ping: {
            c.query_only = c.query_only || router_.count(c.id) == 0;
            auto ping = parse_message<Ping>(f);
            if (!ping) return reply_error(c, 0, ping.error().message);
            const uint64_t nonce = next_nonce_++ & ~kHeartbeatBit;
            pings_[nonce] = {c.id, ping->nonce};
            return to_agent(make_frame(0, Ping{nonce}));
        }
        case FrameType::Status:
            c.query_only = true;
            return reply(c, Frame{FrameType::Status, 0, nlohmann::json(status()).dump()});
        case FrameType::Detach:
            // `unregister` removed a disk: let it go (answered once tried).
            c.query_only = true;
            detach_waiters_.push_back(c.id);
            reconcile_due_ = true;
            return;
        case FrameType::Shutdown:
            c.query_only = true;
            c.wants_stop = true;
            stopping_ = true;
            stop_reason_ = "the VM is shutting down (lxbox vm stop)";
            return;
        default:
            return reply_error(c, 0, std::string(to_string(f.type)) + " is not a connection message");
    }
}

void Supervisor::on_attach(Client& c, const Frame& f) {
    auto attach = parse_message<Attach>(f);
    if (!attach) {
        c.refused.insert(f.session);
        return reply_error(c, f.session, attach.error().message);
    }
    std::vector<AttachDisk> missing;
    for (const auto& d : attach->disks) {
        auto have = std::find_if(disks_.begin(), disks_.end(),
                                 [&](const AttachedDisk& a) { return a.disk.serial == d.serial; });
        if (have != disks_.end() && have->state == AttachedDisk::Detaching) {
            c.refused.insert(f.session);
            return reply_error(c, f.session, "the distro's disk " + d.serial +
                                                 " is being detached (re-imported or unregistered meanwhile): try again");
        }
        if (have == disks_.end() || have->state == AttachedDisk::Held) missing.push_back(d);
    }
    auto publish_ports = [&] {
        if (auto st = publish({c.id, f.session}, attach->ports); !st) {
            unpublish({c.id, f.session});
            c.refused.insert(f.session);
            return reply_error(c, f.session, st.error().message);
        }
        // The session holds its disks until it ends.
        auto& held = disk_users_[{c.id, f.session}];
        for (const auto& d : attach->disks) held.push_back(d.serial);
    };
    if (missing.empty()) return publish_ports();
    // A disk is plugged under the serial of the build on file only: the file at a distro's path
    // is its newest build, and a client that read an older serial raced a re-import.
    const auto on_file = built_distro_disks(opts_.vm_dir);
    for (const auto& d : missing)
        if (std::none_of(on_file.begin(), on_file.end(), [&](const AttachDisk& f) { return f.serial == d.serial; })) {
            c.refused.insert(f.session);
            return reply_error(c, f.session, "the distro's disk " + d.serial +
                                                 " is not the one on file (re-imported or unregistered meanwhile): try again");
        }
    // A re-imported distro's new disk comes in: its old one may go.
    reconcile_due_ = true;
    // A distro imported or replaced after the VM started: its disk is hot-plugged (a SCSI disk
    // on the VM's virtio-scsi controller; virtio-mmio has no hotplug), as WSL attaches a VHD.
    auto plugged = hotplug(missing);
    if (plugged) return publish_ports();
    spdlog::warn("hot-plug: {}", plugged.error().message);
    if (router_.size() > 0) {
        c.refused.insert(f.session);
        return reply_error(c, f.session,
                           "a distro was imported or replaced after the VM started and its disk could not be added (" +
                               plugged.error().message + "): it can be used once the VM's " +
                               std::to_string(router_.size()) + " running session(s) end, or after `lxbox vm stop`");
    }
    // Nothing runs: reboot with the disk.
    stop_vm("a new distro disk", true);
    // The disks on file now: an unregistered distro's is gone, a re-imported one's rebuilt.
    if (auto booted = boot(disks_to_boot(built_distro_disks(opts_.vm_dir), attach->disks, kMaxDistroDisks));
        !booted) {
        c.refused.insert(f.session);
        stopping_ = true;
        stop_reason_ = booted.error().message;
        return reply_error(c, f.session, booted.error().message);
    }
    publish_ports();
}

void Supervisor::on_client_frame(Client& c, Frame f) {
    if (f.session == kConnectionSession) return on_connection_frame(c, f);
    if (!c.hello) return reply_error(c, f.session, std::string("expected hello, got ") + to_string(f.type));
    c.query_only = false;
    idle_since_ = Clock::now();
    if (f.type == FrameType::Attach) return on_attach(c, f);
    if (c.refused.count(f.session)) {
        // Its Attach failed and the client was told; what it sent after is dropped, once.
        if (opens_session(f.type)) c.refused.erase(f.session);
        return;
    }
    if (opens_session(f.type)) {
        if (router_.channel_id({c.id, f.session}))
            return reply_error(c, f.session, "session " + std::to_string(f.session) + " is already open");
        f.session = router_.open({c.id, f.session});
        return to_agent(f);
    }
    auto id = router_.channel_id({c.id, f.session});
    // Credit or stdin racing the session's end: nothing to do.
    if (!id) return;
    if (f.type == FrameType::Error) {
        router_.close(*id);
        session_ended({c.id, f.session});
    }
    f.session = *id;
    to_agent(f);
}

void Supervisor::on_agent_frame(Frame f) {
    if (f.session == kConnectionSession) {
        if (f.type == FrameType::Pong) {
            auto pong = parse_message<Pong>(f);
            if (!pong) return;
            if (heartbeat_nonce_ && pong->nonce == *heartbeat_nonce_) {
                heartbeat_nonce_.reset();
                last_pong_ = Clock::now();
                heartbeat_rtt_ = std::chrono::duration_cast<std::chrono::microseconds>(last_pong_ - heartbeat_sent_);
                return;
            }
            auto it = pings_.find(pong->nonce);
            if (it == pings_.end()) return;
            auto [client, nonce] = it->second;
            pings_.erase(it);
            last_pong_ = Clock::now();
            if (auto c = clients_.find(client); c != clients_.end()) reply(*c->second, make_frame(0, Pong{nonce}));
            return;
        }
        if (f.type == FrameType::Error) {
            auto e = parse_message<ErrorMessage>(f);
            spdlog::warn("agent: {}", e ? e->message : f.payload);
        }
        if (f.type == FrameType::Ports) {
            if (auto p = parse_message<Ports>(f)) return forwarder_.on_ports(p->ports, published_ports());
            spdlog::warn("agent: a bad port list: {}", f.payload.substr(0, 200));
            return;
        }
        if (f.type == FrameType::Detach) {
            if (auto d = parse_message<Detach>(f)) return on_detached(*d);
            spdlog::warn("agent: a bad detach answer: {}", f.payload.substr(0, 200));
        }
        return;  // a Hello answering a clock resync
    }
    auto owner = router_.owner(f.session);
    if (!owner) return;  // the client went away; the agent was told to end the session
    if (f.type == FrameType::Exit || f.type == FrameType::Error) {
        router_.close(f.session);
        session_ended(*owner);
    }
    if (owner->client == kForwarderClient) return forwarder_.on_agent_frame(f);
    auto c = clients_.find(owner->client);
    if (c == clients_.end()) return;
    f.session = owner->local;
    reply(*c->second, f);
}

void Supervisor::on_agent_bytes() {
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(agent_.fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            agent_.closed = true;
            return;
        }
        for (auto& event : agent_.decoder.feed(std::string_view(buf, static_cast<size_t>(n)))) {
            if (auto* e = std::get_if<DecodeError>(&event)) {
                spdlog::warn("from the agent: {}", e->message);
                continue;
            }
            on_agent_frame(std::get<Frame>(std::move(event)));
        }
        if (static_cast<size_t>(n) < sizeof buf) return;
    }
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

}  // namespace

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
    Supervisor s(std::move(options));
    return s.run(ready);
}

}  // namespace lxbox::vm
