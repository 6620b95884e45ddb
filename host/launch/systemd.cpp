// boot.systemd: the background boot under a monitor process, and the wait for systemd.
#include "host/launch/systemd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "host/launch/containers.hpp"
#include "runtime/base/log.hpp"
#include "runtime/container/container.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/plan/systemd.hpp"

namespace lxbox::launch {

runtime::ContainerSpec systemd_spec(runtime::ContainerSpec made) {
    made.systemd = true;
    made.init = false;  // systemd is PID 1 and reaps for itself
    made.process = runtime::systemd_process(made.process.security);
    return made;
}

namespace {

// The monitor's stdio, which the container's systemd inherits: /dev/null, or lxbox's stderr
// under --log-level debug (systemd's own messages, to see why it did not boot).
void detach_stdio() {
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return;
    const bool debug = spdlog::get_level() <= spdlog::level::debug;
    for (int fd = 0; fd < 3; ++fd)
        if (fd == 0 || !debug) ::dup2(null, fd);
    ::close(null);
}

}  // namespace

ContainerLife native_life(store::Store& store, runtime::ContainerSpec spec, std::string container) {
    return [&store, spec = std::move(spec), container = std::move(container)](const Started& started) {
        std::optional<runtime::Container> c;
        Status up = [&]() -> Status {
            c.emplace(LXBOX_TRY(runtime::Container::start(spec)));
            // Once systemd is exec'd (the error pipe closes at its exec), or why it was not.
            LXBOX_TRY(c->wait_started());
            store::InstanceState st;
            st.pid = c->pid();
            st.start_time = linux_fx::process_start_time(c->pid()).value_or(0);
            st.started = store::now_rfc3339();
            st.command = spec.process.args;
            st.security = spec.process.security;
            if (c->has_cgroup()) st.cgroup = spec.cgroup;
            st.namespaces = c->namespaces();
            st.lower_dirs = spec.image_layers.empty() ? std::vector<std::string>{spec.image_rootfs} : spec.image_layers;
            st.stop_signal = runtime::systemd_stop_signal();
            return store.write_instance(container, st);
        }();
        started(up);
        Status ended = up;
        if (up) {
            auto outcome = c->wait();
            ended = !outcome             ? Status(std::move(outcome).error())
                    : outcome->exec_error ? Status(*outcome->exec_error)
                                          : runtime::systemd_exit_status(outcome->exit_code);
        }
        // Killed and reaped if it still runs (it did not start); its cgroup, with every group
        // systemd made in it, goes before the state: `stop` returns once the state is gone, and
        // then nothing of the container is left.
        c.reset();
        return ended;
    };
}

ContainerLife vm_life(store::Store& store, vm::VmRunRequest request, std::string container) {
    return [&store, request = std::move(request), container = std::move(container)](const Started& started) mutable {
        bool told = false;
        request.started = [&](const std::string& guest_dir) {
            store::InstanceState st = vm_instance_state(request, guest_dir);
            st.stop_signal = runtime::systemd_stop_signal();  // passed on to the guest by run_in_vm
            auto written = store.write_instance(container, st);
            started(written);
            told = true;
            // Nothing would stop a container no state names: this session's end (the monitor's)
            // ends it in the guest.
            if (!written) ::_exit(1);
        };
        auto rc = vm::run_in_vm(request);
        const Status ended = rc ? runtime::systemd_exit_status(*rc) : Status(rc.error());
        if (!told) started(ended ? Status(Error(ErrorKind::Internal, "the VM did not take the container")) : ended);
        return ended;
    };
}

namespace {

// The monitor's next line on report ("" at its end).
Result<std::string> next_line(int report) {
    std::string line;
    char c;
    for (;;) {
        const ssize_t n = ::read(report, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::last("read the container's monitor");
        if (n == 0 || c == '\n') return line;
        line += c;
    }
}

// Why systemd ended (when): what its monitor said on ends once it saw the end, if it could.
Error ended_while_booting(int ends, const std::string& container, const std::string& when) {
    Error unknown(ErrorKind::Internal, "systemd in " + container + " ended " + when +
                                           " (lxbox --log-level debug launch shows its messages)");
    while (ends >= 0) {
        auto line = next_line(ends);
        if (!line || line->empty()) break;
        const auto j = nlohmann::json::parse(*line, nullptr, false);
        if (j.is_object() && j.contains("ended") && j.at("ended").is_object()) {
            try {
                return j.at("ended").get<Error>();
            } catch (const nlohmann::json::exception&) {
                break;
            }
        }
    }
    return unknown;
}

// One line to the launch on the report socket; the launch may have gone (no SIGPIPE then).
void tell(int report, const nlohmann::json& j) {
    const std::string line = j.dump() + "\n";
    (void)::send(report, line.data(), line.size(), MSG_NOSIGNAL);
}

// The monitor: the container's life, telling the launch how its start went and then how it
// ended (report), holding its lock until it has ended, then clearing its state.
[[noreturn]] void run_monitor(store::Store& store, const std::string& container, const ContainerLife& life,
                              UniqueFd report, UniqueFd lock) {
    const Status ended = life([&](const Status& up) {
        tell(report.get(), up ? nlohmann::json{{"ok", true}} : nlohmann::json{{"error", up.error()}});
    });
    if (!ended) spdlog::debug("container {}: {}", container, ended.error().message);
    tell(report.get(), ended ? nlohmann::json{{"ended", true}} : nlohmann::json{{"ended", ended.error()}});
    report.reset();
    (void)store.clear_instance(container);
    lock.reset();
    ::_exit(0);
}

}  // namespace

Result<Booted> boot_in_background(store::Store& store, const std::string& container, UniqueFd lock,
                                  const ContainerLife& life) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return Error::last("socketpair");
    struct {
        UniqueFd read, write;
    } report{UniqueFd(pair[0]), UniqueFd(pair[1])};
    // Twice forked, so that the monitor is no child of this lxbox (which would have to reap
    // it) and leads a session of its own: the terminal's signals and hangup never reach it.
    const pid_t first = ::fork();
    if (first < 0) return Error::last("fork the container's monitor");
    if (first == 0) {
        report.read.reset();
        ::setsid();
        const pid_t monitor = ::fork();
        if (monitor != 0) ::_exit(monitor < 0 ? 1 : 0);
        detach_stdio();
        run_monitor(store, container, life, std::move(report.write), std::move(lock));
    }
    report.write.reset();
    lock.reset();  // the monitor's now (an flock lasts while any copy of its fd is open)
    int status = 0;
    while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string text = LXBOX_TRY(next_line(report.read.get()));
    try {
        const auto j = nlohmann::json::parse(text);
        if (j.contains("error")) return j.at("error").get<Error>();
    } catch (const nlohmann::json::exception&) {
        return Error(ErrorKind::Internal, "the container's monitor died before systemd started");
    }
    auto inst = LXBOX_TRY(store.running_instance(container));
    if (!inst) return ended_while_booting(report.read.get(), container, "as soon as it started");
    return Booted{std::move(*inst), std::move(report.read)};
}

namespace {

using Clock = std::chrono::steady_clock;

// Waiting that says so on a terminal once it takes long, and gives up at the bound.
class BootWait {
public:
    explicit BootWait(std::string container) : container_(std::move(container)) {}
    // false once the bound is passed (after saying so).
    bool go_on() {
        const auto waited = Clock::now() - start_;
        if (waited > std::chrono::seconds(kSystemdBootWaitSeconds)) {
            std::fprintf(stderr, "lxbox: systemd in %s has not finished booting after %d s: going on\n",
                         container_.c_str(), kSystemdBootWaitSeconds);
            return false;
        }
        if (tty_ && !said_ && waited > std::chrono::seconds(kSystemdBootNoticeSeconds)) {
            std::fprintf(stderr, "lxbox: waiting for systemd in %s to finish booting...\n", container_.c_str());
            said_ = true;
        }
        return true;
    }
    // When go_on has something to say next: the notice while it is due, else the bound.
    Clock::time_point next_look() const {
        const int seconds = tty_ && !said_ ? kSystemdBootNoticeSeconds : kSystemdBootWaitSeconds;
        return start_ + std::chrono::seconds(seconds) + std::chrono::milliseconds(10);
    }

private:
    std::string container_;
    Clock::time_point start_ = Clock::now();
    bool tty_ = ::isatty(2);
    bool said_ = false;
};

// systemctl talks to PID 1 over /run/systemd/private, which systemd makes early in its boot:
// before it exists, `systemctl is-system-running --wait` fails at once ("Failed to connect to
// bus") rather than waiting. Looked at from the host, through the init's root.
bool private_socket_ready(pid_t init) {
    const std::string path = "/proc/" + std::to_string(init) + "/root/run/systemd/private";
    return ::access(path.c_str(), F_OK) == 0;
}

// What asks systemd how it runs: as root, with the container's own security settings.
runtime::ProcessSpec ask_state(const store::InstanceState& instance) {
    runtime::ProcessSpec p;
    p.args = {"systemctl", "is-system-running", "--wait"};
    p.user = "0";
    p.security = instance.security;
    return p;
}

}  // namespace

Result<std::string> wait_for_systemd(const store::Store& store, const store::InstanceState& instance,
                                     const std::string& container, int ends) {
    BootWait wait(container);
    while (!private_socket_ready(instance.pid)) {
        if (!wait.go_on()) return std::string();
        if (::kill(instance.pid, 0) != 0) return ended_while_booting(ends, container, "while it booted");
        ::usleep(10000);
    }
    runtime::JoinSpec j{instance.pid, instance.start_time, instance.cgroup, ask_state(instance), store.root() + "/cache",
                        instance.namespaces};
    auto out = LXBOX_TRY(make_pipe());
    auto joined = LXBOX_TRY(join_quietly(j, out.write.get()));
    out.write.reset();
    std::string state;
    for (;;) {
        if (!wait.go_on()) return std::string();  // joined's destructor ends systemctl
        struct pollfd p{out.read.get(), POLLIN, 0};
        if (::poll(&p, 1, 250) <= 0) continue;
        char buf[256];
        const ssize_t n = ::read(out.read.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        state.append(buf, static_cast<size_t>(n));
    }
    (void)LXBOX_TRY(joined.wait().context("ask systemd in " + container + " how it runs"));
    return runtime::systemd_answer(state).value_or("");
}

namespace {

// Whether the instance a wait began with still runs (its monitor has not cleared it).
Result<bool> still_runs(const store::Store& store, const store::InstanceState& instance, const std::string& container) {
    const auto now = LXBOX_TRY(store.running_instance(container));
    return now && now->pid == instance.pid && now->start_time == instance.start_time;
}

}  // namespace

// No /proc/PID/root to look into from the host: systemctl is asked until systemd answers. Until
// the agent has the container up it refuses the exec; until systemd has its bus, systemctl
// says "offline" or nothing (runtime::systemd_answer).
Result<std::string> wait_for_systemd_in_vm(const store::Store& store, const store::InstanceState& instance,
                                           const std::string& container, int ends) {
    BootWait wait(container);
    std::string out;
    vm::VmExecRequest ask{store.root(), instance.arch, container, instance.guest_dir, ask_state(instance)};
    ask.output = &out;
    for (;;) {
        out.clear();
        ask.deadline = wait.next_look();
        auto asked = vm::exec_in_vm(ask);
        if (!wait.go_on()) return std::string();
        if (asked) {
            if (auto state = runtime::systemd_answer(out)) return *state;
        } else if (asked.error().kind != ErrorKind::Refused && asked.error().kind != ErrorKind::Busy) {
            return std::move(asked).error().context("ask systemd in " + container + " how it runs");
        }
        if (!LXBOX_TRY(still_runs(store, instance, container))) return ended_while_booting(ends, container, "while it booted");
        // Busy: the look timed out to say that it waits; ask again at once.
        if (asked || asked.error().kind != ErrorKind::Busy) ::usleep(200000);
    }
}

}  // namespace lxbox::launch
