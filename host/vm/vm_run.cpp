#include "host/vm/vm_run.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <cstdio>

#include "host/vm/guest_image.hpp"
#include "host/vm/host_facts.hpp"
#include "host/vm/vm_launcher.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/proto/flow_control.hpp"

namespace lxbox::vm {

namespace bp = boost::process;

namespace {

constexpr const char* kGuestImages = "/run/lxbox/images/";
constexpr const char* kGuestContainers = "/run/lxbox/containers/";

thread_local uint64_t tree_bytes = 0;
int add_size(const char*, const struct stat* st, int, struct FTW*) {
    tree_bytes += static_cast<uint64_t>(st->st_blocks) * 512;
    return 0;
}

std::string find_mkfs() {
    auto exe = bp::search_path("mkfs.ext4", {"/usr/sbin", "/sbin", "/usr/bin", "/bin"});
    return exe.empty() ? std::string() : exe.string();
}

}  // namespace

Result<std::string> ensure_distro_disk(const std::string& vm_dir, const std::string& image,
                                       const std::string& rootfs) {
    struct stat st {};
    if (::stat(rootfs.c_str(), &st) != 0) return Error::last("read distro " + image + " (" + rootfs + ")");
    // An import (or --replace) renames a new rootfs into place: a new inode or mtime means a
    // new distro.
    const std::string stamp = "layout 2, rootfs " + std::to_string(st.st_ino) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                              std::to_string(st.st_mtim.tv_nsec) + "\n";
    const std::string dir = vm_dir + "/disks";
    const std::string disk = dir + "/" + image + ".ext4";
    auto have = read_file(disk + ".stamp");
    if (have && *have == stamp && ::access(disk.c_str(), R_OK) == 0) return disk;
    if (::mkdir(vm_dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + vm_dir);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + dir);
    // The image's directory goes in, rootfs/ under the disk's root: the guest mounts the disk
    // at the image's place and ext4's lost+found stays out of the container's root.
    const std::string source = rootfs.substr(0, rootfs.rfind('/'));
    tree_bytes = 0;
    ::nftw(source.c_str(), add_size, 64, FTW_PHYS | FTW_MOUNT);
    // Room for ext4's own metadata (inode tables, directories); read-only after this.
    const uint64_t kib = (tree_bytes + tree_bytes / 4) / 1024 + 16 * 1024;
    const std::string mkfs = find_mkfs();
    if (mkfs.empty()) return Error(ErrorKind::Unsupported, "mkfs.ext4 not found (install e2fsprogs)");
    const std::string tmp = disk + ".tmp." + std::to_string(::getpid());
    int code = -1;
    try {
        bp::ipstream err;
        bp::child child(mkfs, bp::args({"-q", "-F", "-L", "lxbox-" + image.substr(0, 9), "-O", "^has_journal",
                                        "-E", "root_owner=0:0", "-d", source, tmp, std::to_string(kib) + "k"}),
                        bp::std_out > bp::null, bp::std_err > err, bp::std_in < bp::null);
        std::string line, all;
        while (std::getline(err, line)) all = line;
        child.wait();
        code = child.exit_code();
        if (code != 0) {
            ::unlink(tmp.c_str());
            return Error(ErrorKind::System, "build the disk of distro " + image + ": mkfs.ext4 failed" +
                                                (all.empty() ? "" : ": " + all));
        }
    } catch (const bp::process_error& e) {
        ::unlink(tmp.c_str());
        return Error(ErrorKind::System, std::string("run mkfs.ext4: ") + e.what());
    }
    if (::rename(tmp.c_str(), disk.c_str()) != 0) return Error::last("rename " + tmp);
    LXBOX_TRY(write_file_atomic(disk + ".stamp", stamp, Durability::RenameOnly));
    return disk;
}

Result<proto::Run> guest_run(const runtime::ContainerSpec& host_spec, const std::string& image) {
    if (!host_spec.binds.empty())
        return Error(ErrorKind::Unsupported, "-v and --share-cwd are not available with --backend vm yet");
    if (!host_spec.ephemeral)
        return Error(ErrorKind::Unsupported,
                     "the vm backend keeps no container changes yet: add --rm for a throwaway container");
    runtime::ContainerSpec g = host_spec;
    g.image_rootfs = kGuestImages + image + "/rootfs";
    g.container_dir = kGuestContainers + host_spec.name;
    g.cache_dir = "/run/lxbox/cache";
    g.userns = {};  // the agent is root of its own VM
    g.cgroup_optional = false;
    g.process.tty = false;  // pty relay over the channel: a later slice
    proto::Run run;
    run.spec = g;
    run.mounts = {{"vda", kGuestImages + image, "ext4", true}};
    return run;
}

namespace {

// Copies lxbox's stdin to the session and the session's output to stdout/stderr until the
// agent reports the exit.
class Relay {
public:
    Relay(ChannelClient& channel, uint32_t session) : channel_(channel), session_(session) {}

    Result<int> run() {
        sigset_t set = linux_fx::forwarded_signals();
        auto sigfd = LXBOX_TRY(linux_fx::make_signal_fd(set));
        for (;;) {
            while (channel_.has_pending()) {
                auto code = LXBOX_TRY(on_frame(LXBOX_TRY(channel_.receive(std::chrono::milliseconds(0)))));
                if (code) return *code;
            }
            const bool can_send = stdin_open_ && flow_.send.available() > 0;
            pollfd fds[3] = {{channel_.fd(), POLLIN, 0}, {can_send ? 0 : -1, POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
            if (::poll(fds, 3, -1) < 0) {
                if (errno == EINTR) continue;
                return Error::last("poll");
            }
            if (fds[2].revents) LXBOX_TRY(forward_signals(sigfd.get()));
            if (fds[1].revents) LXBOX_TRY(send_stdin());
            if (fds[0].revents) {
                auto code = LXBOX_TRY(on_frame(LXBOX_TRY(channel_.receive(std::chrono::milliseconds(5000)))));
                if (code) return *code;
            }
        }
    }

private:
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
            if (si.ssi_signo == SIGWINCH) continue;
            LXBOX_TRY(channel_.send(proto::make_frame(session_, proto::Signal{static_cast<int>(si.ssi_signo)})));
        }
        return {};
    }

    // The exit code once the session ended, nullopt while it goes on.
    Result<std::optional<int>> on_frame(const proto::Frame& f) {
        if (f.session != session_) return std::optional<int>{};
        switch (f.type) {
            case proto::FrameType::Stdout:
            case proto::FrameType::Stderr: {
                LXBOX_TRY(flow_.receive.on_received(f.payload.size()));
                // A closed stdout (a pipe to head) loses the rest, as natively.
                (void)write_all(f.type == proto::FrameType::Stdout ? 1 : 2, f.payload);
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
                return Error(ErrorKind::Refused, "agent: " + (e ? e->message : f.payload));
            }
            default:
                return std::optional<int>{};
        }
    }

    ChannelClient& channel_;
    uint32_t session_;
    proto::SessionFlow flow_;
    bool stdin_open_ = true;
};

}  // namespace

Result<int> run_in_vm(const VmRunRequest& request) {
    auto run = LXBOX_TRY(guest_run(request.spec, request.image));
    ImageRequest image_req;
    image_req.vm_dir = request.vm_dir;
    auto guest = LXBOX_TRY(ensure_guest_image(image_req).context("the guest image"));
    const std::string disk = LXBOX_TRY(ensure_distro_disk(request.vm_dir, request.image, request.spec.image_rootfs));
    // Sockets and logs of this VM in a directory of its own: launches may run side by side.
    TempDir run_dir = LXBOX_TRY(TempDir::make(request.vm_dir, "run-"));
    BootRequest boot;
    boot.config.kernel = guest.vmlinux;
    boot.config.initrd = guest.initramfs;
    boot.config.disks = {{disk, true}};
    boot.config.channel_socket = run_dir.path() + "/agent.sock";
    boot.config.qmp_socket = run_dir.path() + "/qmp.sock";
    boot.config.serial_log = run_dir.path() + "/console.log";
    boot.facts = detect_vm_host_facts();
    boot.vm_dir = request.vm_dir;  // the KVM verdict is per host, where `lxbox doctor` reads it
    boot.notice = request.notice;
    // Signals reach the container, not lxbox, from here on (they are forwarded as messages).
    linux_fx::SignalBlock blocked(linux_fx::forwarded_signals());
    auto vm = LXBOX_TRY(boot_vm(boot).context("boot the VM"));
    constexpr uint32_t kSession = 1;
    LXBOX_TRY(vm->channel().send(proto::make_frame(kSession, run)));
    Relay relay(vm->channel(), kSession);
    auto code = relay.run();
    (void)vm->shutdown(std::chrono::seconds(10));
    return code;
}

}  // namespace lxbox::vm
