// lxbox-agent: PID 1 of the utility VM (see DESIGN.md). Starts loading the kernel modules,
// mounts the early filesystems, finds the virtio-serial port org.lxbox.agent.0 by name (once
// its modules are in), and serves the channel protocol on it forever.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <thread>

#include "guest-agent/modules.hpp"
#include "guest-agent/pid1.hpp"
#include "guest-agent/server.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"

using namespace lxbox;
using namespace lxbox::agent;

namespace {

constexpr const char* kPortName = "org.lxbox.agent.0";
// The NIC's driver in the image (host/vm/guest_image.cpp, default_recipe()).
constexpr const char* kNicModule = "virtio_net.ko";

UniqueFd block_signals() {
    // SIGCHLD through a signalfd; the rest ignored: PID 1 gets no default action anyway,
    // and a host hanging up must not kill us through SIGPIPE.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) ::signal(sig, SIG_IGN);
    return UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
}

// The image's modules with their sizes, read through the module directory's fd.
std::vector<ModuleToLoad> read_modules(int dir) {
    auto fd = openat_fd(dir, "load-order", O_RDONLY | O_CLOEXEC);
    auto text = fd ? read_all(fd->get()) : Result<std::string>(fd.error());
    if (!text) {
        log_line(text.error().context("read the modules' load order").message);
        return {};
    }
    auto modules = parse_load_order(*text, "");
    for (auto& m : modules) {
        struct stat st {};
        if (::fstatat(dir, m.file.c_str(), &st, 0) == 0) m.size = uint64_t(st.st_size);
    }
    return modules;
}

UniqueFd open_port() {
    // Devices probe asynchronously after the modules load: poll for the name, quickly at
    // first (the port is usually there on the first or second look).
    for (int attempt = 0;; ++attempt) {
        std::string path = find_port(kPortName);
        if (!path.empty()) {
            auto fd = open_fd(path, O_RDWR | O_NOCTTY);
            if (fd) return std::move(fd).value();
            log_line(fd.error().message);
        }
        if (attempt == 500) log_line(std::string("still waiting for the port ") + kPortName);
        std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 100 ? 2 : 50));
    }
}

}  // namespace

int main() {
    UniqueFd signals = block_signals();
    // Opened before the root leaves the initramfs, whose files are then out of reach by path.
    UniqueFd module_dir(::open(kModuleDir, O_PATH | O_DIRECTORY | O_CLOEXEC));
    UniqueFd image_cache(::open(kImageCacheDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const int dir = module_dir.get();
    // The modules load from now on, on every vCPU, beside the rest of the boot: the channel's
    // first, then what every container needs (ext4's chain, the heaviest, first of those).
    // 9p follows once the first container starts (or at once for one with a share); the SCSI
    // stack only for a hot-plugged disk.
    ModuleLoader loader(dir >= 0 ? read_modules(dir) : std::vector<ModuleToLoad>{},
                        std::clamp(std::thread::hardware_concurrency(), 2u, 4u),
                        [dir](const ModuleToLoad& m) { return load_module_file(dir, m.file); });
    loader.request(ModulePhase::Later);
    // A boot that failed is told to every container the host asks for (not only to the
    // console): a container without /proc, /dev or cgroups would fail obscurely, or run unconfined.
    std::string boot_failure;
    if (::getpid() == 1) {
        for (Status st : {leave_initramfs(), mount_early_filesystems()}) {
            if (st) continue;
            log_line(st.error().message);
            boot_failure += (boot_failure.empty() ? "" : "; ") + st.error().message;
        }
    }
    // The network comes up as soon as its driver is in, beside ext4's load: a container may use
    // it from its first command, so it waits for both.
    std::shared_future<void> network = std::async(std::launch::async, [&loader] {
                                           if (auto loaded = loader.wait_for(kNicModule); !loaded)
                                               log_line(loaded.error().message);
                                           if (auto up = bring_up_network(); !up) log_line(up.error().message);
                                       }).share();
    std::shared_future<void> ready = std::async(std::launch::async, [&loader, network] {
                                         if (auto loaded = loader.wait(ModulePhase::Later); !loaded)
                                             log_line(loaded.error().message);
                                         network.wait();
                                     }).share();
    // The default seccomp filter: compiled by the host into the image, else compiled into the
    // runtime's cache meanwhile (~45 ms under TCG): the first container finds it there. Not
    // waited for: a container that comes first compiles its own.
    if (image_cache)
        if (auto installed = install_image_cache(image_cache.get(), kGuestCacheDir); !installed) log_line(installed.error().message);
    std::thread([] {
        if (auto warm = runtime::Container::warm_cache({}, kGuestCacheDir); !warm)
            log_line(warm.error().context("compile the default seccomp filter").message);
    }).detach();
    // A container waits for what its mounts need: 9p for a share; the SCSI stack for a disk
    // that is not there (hot-plugged: most VMs never load it). 9p loads in the background from
    // the first container on: before, it took a vCPU from the boot most containers wait for.
    const PrepareMounts prepare = [&loader, ready](const std::vector<proto::GuestMount>& mounts) {
        ready.wait();
        loader.request(ModulePhase::Share);
        bool share = false, hotplug = false;
        for (const auto& m : mounts) {
            share = share || m.fstype == "9p";
            hotplug = hotplug || (!m.serial.empty() && find_disk(m.serial).empty());
        }
        if (!share && !hotplug) return;
        if (auto loaded = loader.wait(hotplug ? ModulePhase::Hotplug : ModulePhase::Share); !loaded)
            log_line(loaded.error().message);
    };
    UniqueFd port = open_port();
    AgentSession session(LXBOX_VERSION);
    session.set_boot_failure(boot_failure);
    // PID 1 must never exit (the kernel panics): any failure restarts the serving loop.
    for (;;) {
        try {
            auto served = serve_port(port.get(), signals.get(), session, prepare);
            if (!served) log_line(served.error().message);
        } catch (const std::exception& e) {
            log_line(std::string("serving loop: ") + e.what());
        }
        session.on_disconnect();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}
