// The parent side of a container: clone3, the cgroup, the sync byte, and the wait loop.
#include "runtime/container/container.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "runtime/base/log.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"
#include "runtime/container/child.hpp"
#include "runtime/container/impl.hpp"
#include "runtime/linux/exec_stub.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/linux/security.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/plan/bundle.hpp"
#include "runtime/plan/plan.hpp"


namespace lxbox::runtime {

namespace fx = lxbox::linux_fx;

namespace {

struct Pipes {
    UniqueFd error_read, error_write, sync_read, sync_write, sock_parent, sock_child, ready_read, ready_write;
};

Result<Pipes> make_pipes(bool tty, bool ready = false) {
    Pipes p;
    if (ready) {
        auto r = LXBOX_TRY(make_pipe());
        p.ready_read = std::move(r.read);
        p.ready_write = std::move(r.write);
    }
    auto e = LXBOX_TRY(make_pipe());
    p.error_read = std::move(e.read);
    p.error_write = std::move(e.write);
    auto sync = LXBOX_TRY(make_pipe());
    p.sync_read = std::move(sync.read);
    p.sync_write = std::move(sync.write);
    int fds[2];
    if (tty) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return Error::last("socketpair");
        p.sock_parent.reset(fds[0]);
        p.sock_child.reset(fds[1]);
    }
    return p;
}

detail::ChildChannel child_channel(const Pipes& p, int exec_stub) {
    return {p.error_write.get(), p.sync_read.get(), p.sock_child.get(), p.ready_write.get(), exec_stub,
            p.sync_write.get()};
}

Status enter_cgroup(Container::Impl& impl, const ContainerSpec& spec, pid_t pid) {
    if (spec.cgroup.empty()) return {};
    cgroups::Limits limits;
    limits.memory_bytes = spec.limits.memory_bytes;
    limits.cpus = spec.limits.cpus;
    limits.pids = spec.limits.pids;
    // docker's device rules: a root container keeps CAP_MKNOD, and without them could make and
    // open a node for any host device. --privileged (all devices, as docker's) goes without.
    if (!spec.process.security.privileged && !spec.userns.enabled) limits.devices = cgroups::default_device_rules();
    // An integrated container's /dev/dri (the host's GPU render and card nodes, major 226).
    if (!limits.devices.empty() && spec.gpu) limits.devices.push_back({true, 'c', 226, -1, "rw"});
    // An OCI bundle brings its own resources and place; launch its --memory/--cpus/--pids-limit.
    auto made = spec.bundle ? cgroups::Cgroup::create(spec.cgroup, spec.bundle->cgroup_v1, spec.bundle->cgroup_v2,
                                                      {spec.bundle->cgroups_path})
                            : cgroups::Cgroup::create(spec.cgroup, limits);
    Status entered = made ? made->add_process(pid) : Status(made.error());
    if (entered) {
        impl.cgroup.emplace(std::move(*made));
        return {};
    }
    if (!spec.cgroup_optional) return entered;
    // Rootless without a delegated cgroup: podman's behaviour, the container runs unlimited.
    impl.warnings.push_back("no cgroup for the container (" + entered.error().message + ")" +
                            (spec.bundle && !spec.bundle->cgroup_v2.empty()
                                 ? ": linux.resources are not applied"
                             : limits.memory_bytes || limits.cpus || limits.pids
                                 ? ": --memory, --cpus and --pids-limit are not applied"
                                 : ""));
    return {};
}
Status join_cgroup(const JoinSpec& join, pid_t pid) {
    for (const auto& dir : join.cgroup_paths)
        LXBOX_TRY(cgroups::detail::write_cgroup_file(dir + "/cgroup.procs", std::to_string(pid)).context("join cgroup " + dir));
    const std::string& name = join.cgroup;
    if (name.empty()) return {};
    auto cg = LXBOX_TRY(cgroups::Cgroup::open_existing(name));
    auto added = cg.add_process(pid);
    // The container's systemd made its cgroup a parent of its own groups (boot.systemd).
    if (!added && added.error().errno_value == EBUSY) return cgroups::join_cgroups_of(join.pid, pid);
    return added;
}

// The process's security plan with its seccomp filter compiled (or taken from the cache).
Result<SecurityPlan> compiled_security(const SecuritySpec& spec, const std::string& cache_dir) {
    struct utsname host {};
    ::uname(&host);  // a --seccomp profile's minKernel rules
    SecurityPlan plan = LXBOX_TRY(plan_security(spec, host.release));
    plan.seccomp_program = LXBOX_TRY(fx::seccomp_program(plan, cache_dir));
    return plan;
}

// A process of the container whose namespaces its owner may enter. A rootless container's init
// is not dumpable (so that no process of the container can reach lxbox through it), and that
// also keeps the unprivileged owner from entering its namespaces through it (setns checks
// ptrace access); its children were exec'd inside the container's user namespace, where the
// owner may.
struct Member {
    UniqueFd pidfd;
    pid_t pid = -1;
};
// Until init's child has exec'd the command it shares init's memory, not dumpable either (its
// /proc/PID/exe cannot be read) and not enterable (EPERM); a container just started may have
// no child yet. Both last moments, but `ps` shows the container running from its init's birth,
// and its first turn on a busy CPU can come milliseconds later (its session is a scheduler
// group of its own): so this waits for an exec'd child, up to a second.
Result<Member> enterable_member(pid_t init) {
    for (int attempt = 0; attempt < 200 && fx::parent_pid(init); ++attempt) {
        for (pid_t child : fx::child_pids(init)) {
            UniqueFd fd(sys::pidfd_open(child));
            // Checked after the pidfd pins it: the child may have died and its pid been reused.
            if (!fd || fx::parent_pid(child) != init) continue;
            char exe[1];
            const std::string link = "/proc/" + std::to_string(child) + "/exe";
            if (::readlink(link.c_str(), exe, sizeof exe) >= 0 || errno != EACCES) return Member{std::move(fd), child};
        }
        ::usleep(5000);
    }
    return Error(ErrorKind::NotFound, "the container has no process left to enter (its command is exiting)");
}

// The container's init cloned from inside the user namespace userns (OCI linux.namespaces
// "user" with a path), so the namespaces it makes are owned by it, as runc's nsexec does:
// setns into a user namespace needs a single-threaded caller and would leave lxbox in it, so
// an intermediate process joins it and clones the init as lxbox's own child (CLONE_PARENT),
// tells its pid and exits. Returns like clone3: 0 in the init; in lxbox its pid, with a pidfd.
Result<pid_t> clone_in_user_ns(int userns, uint64_t flags, const std::string& path, UniqueFd& pidfd) {
    auto report = LXBOX_TRY(make_pipe());
    int middle_fd = -1;
    const pid_t middle = sys::clone3_pidfd(0, &middle_fd);
    if (middle < 0) return Error::last("fork");
    if (middle == 0) {
        report.read.reset();
        int out[2] = {-1, 0};  // the init's pid, or -1 and errno (-2: the setns, -3: becoming its root)
        if (::setns(userns, CLONE_NEWUSER) != 0) {
            out[0] = -2;
            out[1] = errno;
        } else {
            // Its root, as runc's nsexec and as an init in a namespace of its own becomes: host
            // uid 0 is unmapped there, so files it made would fail (EOVERFLOW). setns left every
            // capability in the namespace, which the switch keeps. A namespace without a root
            // leaves the ids as they are (EINVAL).
            if ((::syscall(SYS_setresgid, 0, 0, 0) != 0 && errno != EINVAL) ||
                (::syscall(SYS_setresuid, 0, 0, 0) != 0 && errno != EINVAL)) {
                out[0] = -3;
                out[1] = errno;
            }
        }
        if (out[1] == 0) {
            const pid_t init = sys::clone3_sibling(flags);
            if (init == 0) return 0;  // the init: its fds are the parent's, the report pipe closes on exec
            out[0] = init;
            out[1] = init < 0 ? errno : 0;
        }
        (void)!::write(report.write.get(), out, sizeof out);
        ::_exit(0);
    }
    report.write.reset();
    const UniqueFd middle_done(middle_fd);
    int in[2] = {-1, EPIPE};
    ssize_t n;
    while ((n = ::read(report.read.get(), in, sizeof in)) < 0 && errno == EINTR) {
    }
    (void)fx::wait_exit(middle_done.get());
    if (n != sizeof in) return Error(ErrorKind::Internal, "the process joining the user namespace " + path + " died");
    errno = in[1];
    if (in[0] == -2) return Error::last("join the user namespace " + path);
    if (in[0] == -3) return Error::last("become root of the user namespace " + path);
    if (in[0] < 0) return Error::last("clone the container in the user namespace " + path);
    // Our child, not reaped yet: its pid cannot have been reused.
    pidfd.reset(sys::pidfd_open(in[0]));
    if (!pidfd) return Error::last("open the container's init");
    return in[0];
}

Status release_child(const Pipes& p) {
    char go = 'G';
    return write_all(p.sync_write.get(), &go, 1).context("start the container");
}

}  // namespace

Container::Container() = default;
Container::Container(Container&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)), error_pipe_(std::move(o.error_pipe_)),
      pty_sock_(std::move(o.pty_sock_)), ready_(std::move(o.ready_)), pty_master_(std::move(o.pty_master_)), hold_(std::move(o.hold_)), tty_(o.tty_), pty_received_(o.pty_received_), reaped_(o.reaped_), namespaces_(o.namespaces_), impl_(std::move(o.impl_)) {}

Container::~Container() {
    if (pidfd_ && !reaped_) {
        sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
        (void)fx::wait_exit(pidfd_.get());
    }
}

const std::vector<std::string>& Container::warnings() const { return impl_->warnings; }

Result<UniqueFd> Container::receive_pty() {
    if (!tty_ || pty_received_)
        return Error(ErrorKind::Internal, "the container has no pty master to hand over (no tty, or taken already)");
    pty_received_ = true;
    return fx::recv_fd(pty_sock_.get());
}

void Container::release_pty_command() {
    char ack = 'A';
    (void)write_all(pty_sock_.get(), &ack, 1);
}

Status Container::take_pty() {
    if (tty_ && !pty_received_) {
        // The bundle's process opens its pty before it reports created: take the master now.
        auto got = receive_pty();
        if (got) {
            pty_master_ = std::move(*got);
            if (::isatty(0)) fx::copy_window_size(0, pty_master_.get());
            release_pty_command();
        }
    }
    return {};
}

Result<UniqueFd> Container::receive_pty_master(uint16_t rows, uint16_t cols) {
    auto master = LXBOX_TRY(receive_pty());
    // As copy_window_size natively: a pty whose size could not be set still works (at 0x0).
    if (rows && cols) (void)fx::set_window_size(master.get(), {rows, cols});
    release_pty_command();
    return master;
}

// A detached exec's command is our child beside the process that made it, which exits: the
// command's pid and pidfd become this container's.
Status Container::adopt_command() {
    pid_t command = -1;
    ssize_t n;
    while ((n = ::read(ready_.get(), &command, sizeof command)) < 0 && errno == EINTR) {
    }
    ready_.reset();
    if (n != sizeof command) return {};  // it failed first: the error pipe says why, wait() reaps it
    (void)fx::wait_exit(pidfd_.get());   // the process that made it, gone once it wrote the pid
    UniqueFd fd(sys::pidfd_open(command));  // our child, not reaped: the pid is still its own
    if (!fd) return Error::last("open the command's process");
    pid_ = command;
    pidfd_ = std::move(fd);
    return {};
}

Status Container::wait_started() {
    if (ready_) LXBOX_TRY(adopt_command());
    LXBOX_TRY(take_pty());
    auto text = LXBOX_TRY(read_all(error_pipe_.get()));
    if (text.empty()) {
        error_pipe_.reset();  // exec'd: wait() has no report to read
        return {};
    }
    try {
        auto j = nlohmann::json::parse(text);
        error_pipe_.reset();
        (void)wait();
        return j.at("error").get<Error>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Internal, std::string("unreadable report from the container: ") + e.what());
    }
}

Status Container::wait_created() {
    LXBOX_TRY(take_pty());
    return wait_ready();
}

Status Container::wait_held() { return wait_ready(); }

Status Container::release() {
    if (!hold_) return Error(ErrorKind::Internal, "the container is not held");
    const char go = 'G';
    Status st = write_all(hold_.get(), &go, 1).context("release the container's command");
    hold_.reset();
    return st;
}

Status Container::wait_ready() {
    char byte = 0;
    ssize_t n;
    while ((n = ::read(ready_.get(), &byte, 1)) < 0 && errno == EINTR) {
    }
    ready_.reset();
    if (n == 1) return {};
    // The child is gone: its report says why.
    auto outcome = wait();
    if (!outcome) return std::move(outcome).error();
    if (outcome->exec_error) return *outcome->exec_error;
    return Error(ErrorKind::Internal, "the container exited while it was being created (status " +
                                          std::to_string(outcome->exit_code) + ")");
}

UniqueFd Container::take_pty_master() { return std::move(pty_master_); }

void Container::detach() {
    if (impl_ && impl_->cgroup) impl_->cgroup->release();
    reaped_ = true;  // not ours to kill or reap any more
}
bool Container::has_cgroup() const { return impl_->cgroup.has_value(); }
std::vector<std::string> Container::cgroup_paths() const {
    return impl_->cgroup ? impl_->cgroup->paths() : std::vector<std::string>{};
}

Result<Container> Container::start(const ContainerSpec& spec) {
    LXBOX_TRY(validate_spec(spec));
    const SecurityPlan security = LXBOX_TRY(compiled_security(spec.process.security, spec.cache_dir));
    const int exec_stub = LXBOX_TRY(fx::exec_stub_fd().context("container " + spec.name));
    auto pipes = LXBOX_TRY(make_pipes(spec.process.tty, spec.bundle.has_value() || spec.hold_command));
    Container c;
    c.impl_ = std::make_unique<Impl>(waited_signals());
    uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (spec.network == "none") flags |= CLONE_NEWNET;
    std::string join_pid, join_user;
    std::optional<NamespacePlan> ns;
    if (spec.bundle) {
        // The cgroup namespace is made by the child once it is in its cgroup.
        ns = LXBOX_TRY(plan_namespaces(*spec.bundle));
        flags = ns->create & ~static_cast<uint64_t>(CLONE_NEWCGROUP | CLONE_NEWUSER);
        join_pid = ns->join_pid;
        join_user = ns->join_user;
    }
    // A rootless container's namespace: its own, or the holder's (the maps are there already).
    if (spec.userns.enabled && spec.userns.join.empty()) flags |= CLONE_NEWUSER;
    if (spec.userns.enabled && !spec.userns.join.empty()) join_user = spec.userns.join;
    UniqueFd userns;
    if (!join_user.empty()) userns = LXBOX_TRY(open_fd(join_user, O_RDONLY).context("join the user namespace"));
    // A pid namespace to join: ours for children is set to it for the clone only.
    UniqueFd own_pid_ns;
    if (!join_pid.empty()) {
        own_pid_ns = LXBOX_TRY(open_fd("/proc/self/ns/pid", O_RDONLY));
        auto target = LXBOX_TRY(open_fd(join_pid, O_RDONLY));
        if (::setns(target.get(), CLONE_NEWPID) != 0) return Error::last("join the pid namespace " + join_pid);
    }
    int pidfd = -1;
    UniqueFd init_pidfd;
    Result<pid_t> cloned = userns ? clone_in_user_ns(userns.get(), flags, join_user, init_pidfd)
                                  : Result<pid_t>(sys::clone3_pidfd(flags, &pidfd));
    const int clone_errno = errno;
    if (cloned && *cloned > 0 && own_pid_ns && ::setns(own_pid_ns.get(), CLONE_NEWPID) != 0)
        spdlog::warn("container {}: cannot return to lxbox's pid namespace: {}", spec.name, std::strerror(errno));
    errno = clone_errno;
    if (!cloned || *cloned < 0) {
        if (own_pid_ns) (void)::setns(own_pid_ns.get(), CLONE_NEWPID);
        if (!cloned) return std::move(cloned).error().context("container " + spec.name);
        return Error::last("clone the container " + spec.name);
    }
    const pid_t pid = *cloned;
    if (pid == 0) detail::container_child_main(spec, child_channel(pipes, exec_stub), security);
    spdlog::debug("container {}: init is pid {}", spec.name, pid);
    c.pid_ = pid;
    c.pidfd_ = userns ? std::move(init_pidfd) : UniqueFd(pidfd);
    c.tty_ = spec.process.tty;
    // The child unshares its cgroup namespace once it is in its cgroup.
    c.namespaces_ = static_cast<int>(flags) | (spec.cgroup.empty() ? 0 : CLONE_NEWCGROUP) |
                    (join_user.empty() ? 0 : CLONE_NEWUSER);
    if (ns) {
        // Those it made and those it joined: what an exec must enter.
        c.namespaces_ = static_cast<int>(ns->create) | (join_pid.empty() ? 0 : CLONE_NEWPID) |
                        (join_user.empty() ? 0 : CLONE_NEWUSER);
        for (const auto& [flag, path] : ns->join) c.namespaces_ |= flag;
    }
    c.ready_ = std::move(pipes.ready_read);
    pipes.ready_write.reset();
    c.error_pipe_ = std::move(pipes.error_read);
    c.pty_sock_ = std::move(pipes.sock_parent);
    if (spec.userns.enabled) {
        // The child waits for its id maps before it creates anything (a joined namespace has them).
        if (spec.userns.join.empty())
            LXBOX_TRY(fx::write_id_maps(pid, spec.userns).context("map the ids of container " + spec.name));
        LXBOX_TRY(release_child(pipes));
    }
    // The child mounts its root meanwhile; it waits for this byte only before the command runs.
    LXBOX_TRY(enter_cgroup(*c.impl_, spec, pid).context("container " + spec.name));
    LXBOX_TRY(release_child(pipes));
    if (spec.hold_command) c.hold_ = std::move(pipes.sync_write);
    return c;
}

Status Container::warm_cache(const SecuritySpec& security, const std::string& cache_dir) {
    LXBOX_TRY(compiled_security(security, cache_dir));
    LXBOX_TRY(fx::exec_stub_fd());
    return {};
}

Result<Container> Container::join(const JoinSpec& join) {
    UniqueFd target(sys::pidfd_open(join.pid));
    if (!target) return Error::last("open the container's init (pid " + std::to_string(join.pid) + ")", ErrorKind::NotFound);
    // The pid may have been reused since the state was written: the pidfd is ours only if the
    // process behind it started when the container's init did.
    if (join.start_time != 0 && linux_fx::process_start_time(join.pid) != join.start_time)
        return Error(ErrorKind::NotFound, "the container's init (pid " + std::to_string(join.pid) + ") is gone");
    constexpr int kAllButUser = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    // An OCI container records what it has (a bundle may have no namespace at all).
    const int namespaces = join.namespaces != 0 || join.through_pid ? join.namespaces : kAllButUser;
    // A rootless container's user namespace decides which users the command may become.
    IdMapsView ids;
    if ((namespaces & CLONE_NEWUSER) && join.through_pid) {
        ids = fx::id_maps_of(join.pid);
    } else if (namespaces & CLONE_NEWUSER) {
        auto member = LXBOX_TRY(enterable_member(join.pid));
        target = std::move(member.pidfd);
        ids = fx::id_maps_of(member.pid);
    }
    const SecurityPlan security = LXBOX_TRY(compiled_security(join.process.security, join.cache_dir));
    const int exec_stub = LXBOX_TRY(fx::exec_stub_fd());
    auto pipes = LXBOX_TRY(make_pipes(join.process.tty, join.detached));
    Container c;
    c.impl_ = std::make_unique<Impl>(waited_signals());
    int pidfd = -1;
    const pid_t pid = sys::clone3_pidfd(0, &pidfd);
    if (pid < 0) return Error::last("fork");
    if (pid == 0)
        detail::join_child_main(join, target.get(), namespaces, ids, child_channel(pipes, exec_stub), security);
    c.pid_ = pid;
    c.pidfd_.reset(pidfd);
    c.tty_ = join.process.tty;
    c.error_pipe_ = std::move(pipes.error_read);
    c.pty_sock_ = std::move(pipes.sock_parent);
    c.ready_ = std::move(pipes.ready_read);  // detached: the command's pid comes here
    pipes.ready_write.reset();
    LXBOX_TRY(join_cgroup(join, pid));
    LXBOX_TRY(release_child(pipes));
    return c;
}

}  // namespace lxbox::runtime
