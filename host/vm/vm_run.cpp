#include "host/vm/vm_run.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "host/vm/guest_image.hpp"
#include "host/vm/qemu_command.hpp"
#include "host/vm/supervisor.hpp"
#include "host/vm/supervisor_client.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/proto/flow_control.hpp"

namespace lxbox::vm {

using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kGuestEphemeral = "/run/lxbox/ephemeral/";
constexpr const char* kGuestHost = "/run/lxbox/host";

proto::GuestMount containers_mount() {
    proto::GuestMount m;
    m.serial = kContainersDiskSerial;
    m.target = kGuestContainersDir;
    m.readonly = false;
    return m;
}

}  // namespace

Result<proto::Run> guest_run(const runtime::ContainerSpec& host_spec, const DistroDisk& disk, const std::string& unique) {
    runtime::ContainerSpec g = host_spec;
    // -v and --share-cwd: the host's files reach the guest over the 9p share of its root.
    for (auto& b : g.binds) {
        if (b.source.empty() || b.source[0] != '/')
            return Error(ErrorKind::Invalid, "-v " + b.source + ": the host path must be absolute");
        b.source = kGuestHost + b.source;
    }
    const std::string image_dir = guest_image_dir(disk.serial);
    // One lower layer in the guest: a distro's rootfs, or an OCI image's layers merged into its
    // disk (image_disk.hpp).
    g.image_rootfs = image_dir + "/rootfs";
    g.image_layers.clear();
    g.layers_dir.clear();
    g.container_dir = host_spec.ephemeral ? kGuestEphemeral + host_spec.name + "-" + unique
                                          : std::string(kGuestContainersDir) + "/" + host_spec.name;
    g.cache_dir = "/run/lxbox/cache";
    g.userns = {};  // the agent is root of its own VM
    g.fuse_overlay.clear();  // and its kernel mounts overlayfs
    g.fuse_overlay_only = false;
    g.cgroup_optional = false;
    // The host's resolvers may be loopback addresses (systemd-resolved): the guest asks QEMU's
    // user network, which asks the host's.
    g.resolv_conf = std::string("nameserver ") + kUserNetDns + "\n";
    proto::Run run;
    run.spec = g;
    run.tty = g.process.tty;  // the agent gives the container a pty and relays it as stdin/stdout
    proto::GuestMount image;
    image.serial = disk.serial;
    image.target = image_dir;
    run.mounts = {image};
    if (!host_spec.ephemeral) run.mounts.push_back(containers_mount());
    if (!g.binds.empty()) run.mounts.push_back({kHostShareTag, kGuestHost, "9p", false, ""});
    return run;
}

proto::Remove guest_remove(const std::string& container) {
    proto::Remove r;
    r.container_dir = std::string(kGuestContainersDir) + "/" + container;
    r.mounts = {containers_mount()};
    return r;
}

namespace {

// The size of the terminal lxbox runs in (stdin's, else stdout's); nullopt without one.
std::optional<linux_fx::WindowSize> host_terminal_size() {
    auto size = linux_fx::window_size(0);
    if (!size) size = linux_fx::window_size(1);
    if (size && (size->rows == 0 || size->cols == 0)) return std::nullopt;  // a terminal that does not know
    return size;
}

// A session with a pty (proto::Run or proto::Exec) sized as the host terminal. Called with the
// forwarded signals blocked: a SIGWINCH from then on is a Resize for the relay to send.
template <class Session>
void size_as_host_terminal(Session& session) {
    if (!session.tty) return;
    if (auto size = host_terminal_size()) {
        session.rows = size->rows;
        session.cols = size->cols;
    }
}

// In raw mode the terminal no longer turns \n into \r\n. The remote pty did that for the
// container's output, but the agent's own lines (Stderr frames in tty mode) crossed no pty.
std::string with_crlf(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// Copies lxbox's stdin to the session and the session's output to stdout/stderr until the
// agent reports the exit. With a tty (the container's pty is in the guest), the host terminal
// is raw meanwhile, as natively: Ctrl-C is a byte for the remote line discipline, and window
// size changes follow as Resize messages.
class Relay {
public:
    Relay(ChannelClient& channel, uint32_t session, bool tty) : channel_(channel), session_(session), tty_(tty) {}
    // Quiet (VmExecRequest::output): no stdin, stdout kept in *output, stderr dropped; and given
    // up at deadline, when set.
    Relay(ChannelClient& channel, uint32_t session, std::string* output, std::optional<Clock::time_point> deadline)
        : channel_(channel), session_(session), tty_(false), output_(output), deadline_(deadline) {}

    Result<int> run() {
        sigset_t set = linux_fx::forwarded_signals();
        auto sigfd = LXBOX_TRY(linux_fx::make_signal_fd(set));
        // Restored by its destructor on every way out of this function.
        std::optional<linux_fx::RawTerminal> raw;
        if (tty_ && ::isatty(0)) raw.emplace(LXBOX_TRY(linux_fx::RawTerminal::enter(0)));
        raw_ = raw.has_value();
        if (output_) {
            stdin_open_ = false;
            LXBOX_TRY(channel_.send(proto::make_frame(session_, proto::StdinClose{})));
        }
        for (;;) {
            while (channel_.has_pending()) {
                auto code = LXBOX_TRY(on_frame(LXBOX_TRY(channel_.receive(std::chrono::milliseconds(0)))));
                if (code) return *code;
            }
            const bool can_send = stdin_open_ && flow_.send.available() > 0;
            pollfd fds[3] = {{channel_.fd(), POLLIN, 0}, {can_send ? 0 : -1, POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
            const int ready = ::poll(fds, 3, poll_timeout());
            if (ready < 0) {
                if (errno == EINTR) continue;
                return Error::last("poll");
            }
            // The caller drops the session, which ends the process in the guest.
            if (ready == 0 && deadline_ && Clock::now() >= *deadline_)
                return Error(ErrorKind::Busy, "the command had not ended in time");
            if (fds[2].revents) LXBOX_TRY(forward_signals(sigfd.get()));
            if (fds[1].revents) LXBOX_TRY(send_stdin());
            if (fds[0].revents) {
                auto code = LXBOX_TRY(on_frame(LXBOX_TRY(channel_.receive(std::chrono::milliseconds(5000)))));
                if (code) return *code;
            }
        }
    }

private:
    // -1 (none) without a deadline, else the milliseconds left to it.
    int poll_timeout() const {
        if (!deadline_) return -1;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now()).count();
        return static_cast<int>(std::clamp<int64_t>(left, 0, 60000));
    }

    Status send_stdin() {
        char buf[1 << 16];
        const size_t want = flow_.send.sendable(sizeof buf);
        ssize_t n = ::read(0, buf, want);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return {};
        if (n <= 0) {
            stdin_open_ = false;
            return channel_.send(proto::make_frame(session_, proto::StdinClose{}));
        }
        LXBOX_TRY(flow_.send.consume(static_cast<size_t>(n)));
        return channel_.send(proto::Frame{proto::FrameType::Stdin, session_, std::string(buf, static_cast<size_t>(n))});
    }

    Status forward_signals(int sigfd) {
        struct signalfd_siginfo si;
        while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (si.ssi_signo == SIGWINCH) {
                LXBOX_TRY(send_size());
                continue;
            }
            LXBOX_TRY(channel_.send(proto::make_frame(session_, proto::Signal{static_cast<int>(si.ssi_signo)})));
        }
        return {};
    }

    // Without a pty in the container there is nothing to resize (as natively).
    Status send_size() {
        if (!tty_) return {};
        auto size = host_terminal_size();
        if (!size) return {};
        return channel_.send(proto::make_frame(session_, proto::Resize{size->rows, size->cols}));
    }

    // The exit code once the session ended, nullopt while it goes on.
    Result<std::optional<int>> on_frame(const proto::Frame& f) {
        // The connection's own error (the VM went away) ends this session too.
        if (f.session == proto::kConnectionSession && f.type == proto::FrameType::Error) {
            auto e = proto::parse_message<proto::ErrorMessage>(f);
            return Error(ErrorKind::System, e ? e->message : f.payload);
        }
        if (f.session != session_) return std::optional<int>{};
        switch (f.type) {
            case proto::FrameType::Notice: {
                // A port of this container that is not forwarded to the host, say.
                if (auto n = proto::parse_message<proto::Notice>(f))
                    (void)write_all(2, raw_ ? with_crlf("lxbox: " + n->message + "\n") : "lxbox: " + n->message + "\n");
                return std::optional<int>{};
            }
            case proto::FrameType::Stdout:
            case proto::FrameType::Stderr: {
                LXBOX_TRY(flow_.receive.on_received(f.payload.size()));
                // A closed stdout (a pipe to head) loses the rest, as natively.
                if (output_) {
                    if (f.type == proto::FrameType::Stdout) output_->append(f.payload);
                } else if (f.type == proto::FrameType::Stdout) {
                    (void)write_all(1, f.payload);
                } else {
                    (void)write_all(2, raw_ ? with_crlf(f.payload) : f.payload);
                }
                if (auto grant = flow_.receive.on_consumed(f.payload.size()))
                    LXBOX_TRY(channel_.send(proto::make_frame(session_, proto::Credit{*grant})));
                return std::optional<int>{};
            }
            case proto::FrameType::Credit: {
                auto c = LXBOX_TRY(proto::parse_message<proto::Credit>(f));
                flow_.send.grant(c.bytes);
                return std::optional<int>{};
            }
            case proto::FrameType::Exit: {
                auto e = LXBOX_TRY(proto::parse_message<proto::Exit>(f));
                return std::optional<int>{e.code};
            }
            case proto::FrameType::Error: {
                auto e = proto::parse_message<proto::ErrorMessage>(f);
                return Error(ErrorKind::Refused, e ? e->message : f.payload);
            }
            default:
                return std::optional<int>{};
        }
    }

    ChannelClient& channel_;
    uint32_t session_;
    bool tty_;
    bool raw_ = false;  // the host terminal is raw
    proto::SessionFlow flow_;
    bool stdin_open_ = true;
    std::string* output_ = nullptr;
    std::optional<Clock::time_point> deadline_;
};

}  // namespace

namespace {

SupervisorStart start_options(const std::string& root, const std::string& arch,
                              const std::function<void(const std::string&)>& notice) {
    SupervisorStart start;
    start.root = root;
    start.arch = arch;
    start.notice = notice;
    start.prepare = [root, arch]() -> Status {
        ImageRequest image_req;
        image_req.vm_dir = vm_dir_for(root, arch);
        image_req.recipe = default_recipe(arch);
        auto image = ensure_guest_image(image_req);
        if (!image) return std::move(image).error().context("the guest image");
        return {};
    };
    return start;
}

}  // namespace

Result<int> run_in_vm(const VmRunRequest& request) {
    const std::string vm_dir = vm_dir_for(request.root, request.arch);
    const DistroDisk& disk = request.disk;
    auto run = LXBOX_TRY(guest_run(request.spec, disk, std::to_string(::getpid()) + "-" +
                                                            std::to_string(Clock::now().time_since_epoch().count())));
    // Signals reach the container, not lxbox, from here on (they are forwarded as messages).
    linux_fx::SignalBlock blocked(linux_fx::forwarded_signals());
    size_as_host_terminal(run);
    auto channel = LXBOX_TRY(connect_supervisor(vm_dir, start_options(request.root, request.arch, request.notice)));
    constexpr uint32_t kSession = 1;
    proto::Attach attach{{{disk.serial, disk.path, true}}, request.ports};
    LXBOX_TRY(channel.send(proto::make_frame(kSession, attach)));
    LXBOX_TRY(channel.send(proto::make_frame(kSession, run)));
    if (request.started) request.started(run.spec.at("container_dir").get<std::string>());
    Relay relay(channel, kSession, run.tty);
    return relay.run();
}

Result<int> exec_in_vm(const VmExecRequest& request) {
    proto::Exec exec;
    exec.container_dir = request.guest_dir;
    exec.process = request.process;
    exec.tty = request.process.tty && !request.output;
    linux_fx::SignalBlock blocked(linux_fx::forwarded_signals());
    size_as_host_terminal(exec);
    auto channel = LXBOX_TRY(connect_running(vm_dir_for(request.root, request.arch)));
    if (!channel) return Error(ErrorKind::NotFound, "container '" + request.container + "' is not running (no VM runs)");
    constexpr uint32_t kSession = 1;
    LXBOX_TRY(channel->send(proto::make_frame(kSession, exec)));
    if (request.output) {
        Relay quiet(*channel, kSession, request.output, request.deadline);
        return quiet.run();
    }
    Relay relay(*channel, kSession, exec.tty);
    return relay.run();
}

Status start_vm(const std::string& root, const std::string& arch, const std::function<void(const std::string&)>& notice) {
    (void)LXBOX_TRY(connect_supervisor(vm_dir_for(root, arch), start_options(root, arch, notice)));
    return {};
}

Status remove_in_vm(const std::string& root, const std::string& arch, const std::string& container,
                    const std::function<void(const std::string&)>& notice) {
    const std::string vm_dir = vm_dir_for(root, arch);
    auto channel = LXBOX_TRY(connect_supervisor(vm_dir, start_options(root, arch, notice)));
    constexpr uint32_t kSession = 1;
    LXBOX_TRY(channel.send(proto::make_frame(kSession, guest_remove(container))));
    for (;;) {
        auto f = LXBOX_TRY(channel.receive(std::chrono::minutes(5)));
        if (f.type == proto::FrameType::Error) {
            auto e = proto::parse_message<proto::ErrorMessage>(f);
            return Error(ErrorKind::System, e ? e->message : f.payload);
        }
        if (f.session == kSession && f.type == proto::FrameType::Exit) return {};
    }
}

}  // namespace lxbox::vm
