// lxbox-agent: PID 1 of the utility VM (see DESIGN.md). Mounts the early filesystems, loads
// the channel modules, finds the virtio-serial port org.lxbox.agent.0 by name, and serves the
// channel protocol on it forever; loads the remaining modules in the background.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <thread>

#include "guest-agent/pid1.hpp"
#include "guest-agent/server.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"

using namespace lxbox;
using namespace lxbox::agent;

namespace {

constexpr const char* kPortName = "org.lxbox.agent.0";

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

void load_phase(const std::vector<ModuleToLoad>& all, bool boot) {
    std::vector<ModuleToLoad> phase;
    for (const auto& m : all)
        if (m.boot == boot && !m.hotplug) phase.push_back(m);
    if (auto loaded = load_modules(phase); !loaded) log_line(loaded.error().message);
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
    if (::getpid() == 1) {
        if (auto left = leave_initramfs(); !left) log_line(left.error().message);
        if (auto mounted = mount_early_filesystems(); !mounted) log_line(mounted.error().message);
    }
    std::vector<ModuleToLoad> modules;
    if (auto order = read_file(std::string(kModuleDir) + "/load-order"))
        modules = parse_load_order(*order, kModuleDir);
    load_phase(modules, true);
    // Disk and overlay modules are not needed for the hello: load them meanwhile. The first
    // container waits for them.
    // The network comes up with its module: a container may use it from its first command.
    std::shared_future<void> later = std::async(std::launch::async, [modules] {
                                         load_phase(modules, false);
                                         if (auto up = bring_up_network(); !up) log_line(up.error().message);
                                     }).share();
    // The default seccomp filter compiled into the runtime's cache meanwhile (~45 ms under TCG):
    // the first container finds it there. Not waited for: a container that comes first
    // compiles its own.
    std::thread([] {
        if (auto warm = runtime::Container::warm_cache({}, kGuestCacheDir); !warm)
            log_line(warm.error().context("compile the default seccomp filter").message);
    }).detach();
    const std::function<void()> wait_ready = [later] { later.wait(); };
    UniqueFd port = open_port();
    AgentSession session(LXBOX_VERSION);
    // PID 1 must never exit (the kernel panics): any failure restarts the serving loop.
    for (;;) {
        try {
            auto served = serve_port(port.get(), signals.get(), session, wait_ready);
            if (!served) log_line(served.error().message);
        } catch (const std::exception& e) {
            log_line(std::string("serving loop: ") + e.what());
        }
        session.on_disconnect();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}
