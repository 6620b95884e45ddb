// `lxbox oci`: the OCI runtime command line (runc's verbs and flags), so engines such as podman
// run their containers with lxbox: `podman --runtime /path/to/lxbox-oci run ...`. A bundle's
// config.json becomes a ContainerSpec (runtime/oci) and runs on the same runtime/ as `launch`.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"
#include "host/cli/oci_create.hpp"
#include "host/cli/oci_manage_commands.hpp"
#include "host/oci/state.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"
#include "runtime/container/container.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/oci/config.hpp"
#include "runtime/oci/hooks.hpp"
#include "runtime/plan/bundle.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/plan/users.hpp"

namespace lxbox::cli {

namespace {

using oci::Record;
using oci::StateDir;
using oci::RunState;
using namespace oci_cli;

// A pidfd on the record's process, only while it is still that process.
Result<UniqueFd> open_process(const Record& r) {
    UniqueFd fd(sys::pidfd_open(r.pid));
    if (!fd || oci::process_facts(r.pid).start_time != r.start_time)
        return Error(ErrorKind::NotFound, "container '" + r.id + "' is not running");
    return fd;
}

Status wait_gone(int pidfd, int timeout_ms) {
    struct pollfd p{pidfd, POLLIN, 0};
    int n;
    while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (n == 0) return Error(ErrorKind::Busy, "the container's process did not exit");
    return {};
}

// What `delete` does once the process is gone or killed: the cgroup, the root's mounts in the
// caller's namespace, poststop hooks, the state.
Status tear_down(const StateDir& sd, const Record& r) {
    LXBOX_TRY(detach_root_mount(r.root_mount, r.root_mount_id).context("delete " + r.id));
    if (!r.cgroup_paths.empty()) {
        auto cg = cgroups::Cgroup::adopt(r.cgroup, r.cgroup_paths);
        LXBOX_TRY(cg.remove().context("remove the cgroup of " + r.id));
    }
    // A failing poststop hook is reported after the container is gone (runtime-spec: warn).
    Status hooks = runtime::oci::run_hooks(r.poststop, "poststop", oci::state_json(r, RunState::Stopped).dump());
    LXBOX_TRY(sd.remove(r.id));
    if (!hooks) spdlog::warn("{}", hooks.error().message);
    return {};
}

// Lets a created container's process run its command.
Status start_container(const StateDir& sd, const Record& r) {
    auto pidfd = LXBOX_TRY(open_process(r));
    UniqueFd fifo(::open(sd.fifo(r.id).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fifo) return Error::last("open the exec fifo of " + r.id);
    for (;;) {
        struct pollfd p[2] = {{fifo.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return Error::last("poll");
        }
        if (p[0].revents & POLLIN) {
            char byte;
            if (::read(fifo.get(), &byte, 1) == 1) break;
        }
        if (p[1].revents) return Error(ErrorKind::NotFound, "container '" + r.id + "' exited before it started");
    }
    ::unlink(sd.fifo(r.id).c_str());
    Status hooks = runtime::oci::run_hooks(r.poststart, "poststart", oci::state_json(r, RunState::Running).dump());
    if (!hooks) spdlog::warn("{}", hooks.error().message);
    return {};
}

Result<int> cmd_create(const OciGlobal& g, const CreateOptions& o) {
    auto created = LXBOX_TRY(create_container(g, o, true).context("create " + o.id));
    created.container.detach();
    return 0;
}

Result<int> cmd_start(const OciGlobal& g, const std::string& id) {
    const StateDir sd = state_dir(g);
    auto lock = LXBOX_TRY(sd.lock(id).context("start " + id));
    auto [r, status] = LXBOX_TRY(sd.current(id).context("start " + id));
    if (status != RunState::Created)
        return Error(ErrorKind::Invalid, "start " + id + ": the container is " + oci::status_name(status) + ", not created");
    LXBOX_TRY(start_container(sd, r).context("start " + id));
    return 0;
}

Result<int> cmd_run(const OciGlobal& g, const CreateOptions& o) {
    const StateDir sd = state_dir(g);
    auto created = LXBOX_TRY(create_container(g, o, o.detach).context("run " + o.id));
    if (auto st = start_container(sd, created.record); !st) {
        (void)tear_down(sd, created.record);
        return std::move(st).error().context("run " + o.id);
    }
    if (o.detach) {
        created.container.detach();
        return 0;
    }
    auto outcome = created.container.wait();
    const Record record = created.record;
    { auto gone = std::move(created); }  // reaped; its cgroup removed
    if (!o.keep) LXBOX_TRY(tear_down(sd, record).context("run " + o.id));
    if (!outcome) return std::move(outcome).error().context("run " + o.id);
    if (outcome->exec_error) std::fprintf(stderr, "lxbox: %s\n", outcome->exec_error->message.c_str());
    return outcome->exit_code;
}

struct ExecOptions {
    std::string id, process_file, console_socket, pid_file, cwd, user;
    std::vector<std::string> env, args;
    bool tty = false, detach = false;
};

// The process to exec: --process FILE as given, or the bundle's own process with ARGS and the
// flags over it (runc's rules); the bundle's seccomp filter either way.
Result<runtime::ProcessSpec> exec_process(const Record& r, const ExecOptions& o) {
    const std::string text = LXBOX_TRY(read_file(r.bundle + "/config.json").context("read the bundle"));
    auto config = LXBOX_TRY(runtime::oci::parse_config(text, r.bundle).context(r.bundle + "/config.json"));
    runtime::ProcessSpec p;
    if (!o.process_file.empty()) {
        const std::string json_text = LXBOX_TRY(read_file(o.process_file));
        nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
        if (j.is_discarded()) return Error(ErrorKind::Invalid, o.process_file + ": not valid JSON");
        p = LXBOX_TRY(runtime::oci::parse_process(j, "process").context(o.process_file));
    } else {
        if (o.args.empty()) return Error(ErrorKind::Invalid, "no command: give ARGS or --process FILE");
        p = config.spec.process;
        p.args = o.args;
        p.tty = o.tty;
        if (!o.cwd.empty()) p.cwd = o.cwd;
        for (const auto& e : o.env) p.env.push_back(e);
        if (!o.user.empty()) {
            const auto user = LXBOX_TRY(runtime::parse_numeric_user(o.user).context("--user"));
            p.explicit_user->uid = user.uid;
            p.explicit_user->gid = user.gid;
            p.explicit_user->additional_gids.clear();
        }
    }
    p.security.seccomp = config.spec.process.security.seccomp;
    p.security.seccomp_profile = config.spec.process.security.seccomp_profile;
    return p;
}

Result<int> cmd_exec(const OciGlobal& g, const ExecOptions& o) {
    const StateDir sd = state_dir(g);
    auto [r, status] = LXBOX_TRY(sd.current(o.id).context("exec " + o.id));
    if (status != RunState::Running)
        return Error(ErrorKind::Invalid, "exec " + o.id + ": the container is " + oci::status_name(status) + ", not running");
    runtime::JoinSpec join;
    join.pid = r.pid;
    join.start_time = r.start_time;
    join.cgroup_paths = r.cgroup_paths;
    join.process = LXBOX_TRY(exec_process(r, o).context("exec " + o.id));
    join.cache_dir = sd.root() + "/.seccomp-cache";
    join.namespaces = r.namespaces;
    join.detached = o.detach;
    join.through_pid = true;
    if (join.process.tty && o.detach && o.console_socket.empty())
        return Error(ErrorKind::Invalid, "exec " + o.id + ": a terminal needs --console-socket with --detach");
    auto c = LXBOX_TRY(runtime::Container::join(join).context("exec " + o.id));
    if (join.process.tty && !o.console_socket.empty()) {
        LXBOX_TRY(c.wait_started().context("exec " + o.id));
        UniqueFd master = c.take_pty_master();
        LXBOX_TRY(send_console(o.console_socket, master.get()).context("exec " + o.id));
    } else if (o.detach) {
        LXBOX_TRY(c.wait_started().context("exec " + o.id));
    }
    if (!o.pid_file.empty())
        LXBOX_TRY(write_file_atomic(absolute_path(o.pid_file), std::to_string(c.pid()), Durability::RenameOnly, 0644));
    if (o.detach) {
        c.detach();
        return 0;
    }
    auto outcome = LXBOX_TRY(c.wait().context("exec " + o.id));
    // runc looks the command up before it starts it: one it cannot exec is exec's own error.
    if (outcome.exec_error) return std::move(*outcome.exec_error).context("exec " + o.id);
    return outcome.exit_code;
}

Result<int> cmd_state(const OciGlobal& g, const std::string& id) {
    auto [r, status] = LXBOX_TRY(state_dir(g).current(id).context("state " + id));
    nlohmann::json j = oci::state_json(r, status);
    // Beyond runtime-spec's keys (its schema allows more): the resources as applied and updated.
    if (!r.resources.is_null()) j["resources"] = r.resources;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
}

std::vector<pid_t> cgroup_pids(const Record& r) {
    if (r.cgroup_paths.empty()) return {};
    auto pids = cgroups::detail::read_cgroup_pids(r.cgroup_paths.front());
    return pids ? *pids : std::vector<pid_t>{};
}

Result<int> cmd_kill(const OciGlobal& g, const std::string& id, const std::string& signal, bool all) {
    const int sig = LXBOX_TRY(oci::parse_signal(signal).context("kill " + id));
    auto [r, status] = LXBOX_TRY(state_dir(g).current(id).context("kill " + id));
    auto pidfd = status == RunState::Stopped ? Result<UniqueFd>(Error(ErrorKind::NotFound, "")) : open_process(r);
    if (!pidfd) {
        // runc's words and exit codes, which containerd's shim matches to know the process is
        // gone (a TaskExit is recorded only then): --all 0, a single signal an error.
        if (!all) return Error(ErrorKind::NotFound, "container not running");
        std::fprintf(stderr, "lxbox: container not running\n");
        return 0;
    }
    if (all) {
        for (pid_t pid : cgroup_pids(r)) ::kill(pid, sig);
    }
    if (sys::pidfd_send_signal(pidfd->get(), sig) != 0 && errno != ESRCH) return Error::last("kill " + id);
    return 0;
}

Result<int> cmd_delete(const OciGlobal& g, const std::string& id, bool force) {
    const StateDir sd = state_dir(g);
    auto lock = sd.lock(id);
    if (!lock) {
        // runc: deleting what does not exist is fine with --force.
        if (force && lock.error().kind == ErrorKind::NotFound) return 0;
        return std::move(lock).error().context("delete " + id);
    }
    auto [r, status] = LXBOX_TRY(sd.current(id).context("delete " + id));
    if ((status == RunState::Running || status == RunState::Paused) && !force)
        return Error(ErrorKind::Busy, "delete " + id + ": the container is " + oci::status_name(status) +
                                          " (stop it first, or --force)");
    if (status != RunState::Stopped) {
        if (auto pidfd = open_process(r)) {
            sys::pidfd_send_signal(pidfd->get(), SIGKILL);
            // A frozen process takes its SIGKILL once thawed.
            if (status == RunState::Paused) (void)cgroups::set_frozen(r.cgroup_paths, false);
            LXBOX_TRY(wait_gone(pidfd->get(), 10000).context("delete " + id));
        }
    }
    LXBOX_TRY(tear_down(sd, r).context("delete " + id));
    return 0;
}

// pause / resume: the freezer of the container's cgroup (every OCI container joins one).
Result<int> cmd_freeze(const OciGlobal& g, const std::string& id, bool frozen) {
    const std::string verb = frozen ? "pause " : "resume ";
    auto [r, status] = LXBOX_TRY(state_dir(g).current(id).context(verb + id));
    const RunState from = frozen ? RunState::Running : RunState::Paused;
    if (status != from)
        return Error(ErrorKind::Invalid, verb + id + ": the container is " + oci::status_name(status) + ", not " +
                                             oci::status_name(from));
    LXBOX_TRY(cgroups::set_frozen(r.cgroup_paths, frozen).context(verb + id));
    return 0;
}

Result<int> cmd_ps(const OciGlobal& g, const std::string& id, const std::string& format) {
    auto [r, status] = LXBOX_TRY(state_dir(g).current(id).context("ps " + id));
    std::vector<pid_t> pids = cgroup_pids(r);
    if (pids.empty() && status != RunState::Stopped) pids.push_back(r.pid);
    if (format == "json") {
        std::printf("%s\n", nlohmann::json(pids).dump().c_str());
        return 0;
    }
    std::printf("PID\n");
    for (pid_t p : pids) std::printf("%d\n", p);
    return 0;
}

nlohmann::json features_json() {
    using nlohmann::json;
    return {{"ociVersionMin", "1.0.0"},
            {"ociVersionMax", "1.1.0"},
            {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
            {"mountOptions",
             {"async", "atime", "bind", "dev", "diratime", "dirsync", "exec", "mand", "noatime", "nodev",
              "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind",
              "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared",
              "slave", "strictatime", "suid", "sync", "tmpcopyup", "unbindable"}},
            {"linux",
             {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
              {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
              {"seccomp", {{"enabled", true},
                           {"actions", {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                        "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"}},
                           {"operators", {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                                          "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}}}},
              {"apparmor", {{"enabled", false}}},
              {"selinux", {{"enabled", false}}}}},
            {"annotations", {{"org.lxbox.runtime", "lxbox"}}}};
}

// --log FILE: what failed, also as a line there (conmon reads it to tell the user why).
Result<int> logged(const OciGlobal& g, Result<int> result) {
    if (result || g.log.empty()) return result;
    UniqueFd fd(::open(g.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd) {
        std::string line = g.log_format == "json"
                               ? nlohmann::json{{"level", "error"}, {"msg", result.error().message}, {"time", now_rfc3339()}}.dump()
                               : now_rfc3339() + " error: " + result.error().message;
        (void)write_all(fd.get(), line + "\n");
    }
    return result;
}

void add_create_options(CLI::App* cmd, CreateOptions& o) {
    cmd->add_option("id", o.id, "Container id")->required();
    cmd->add_option("-b,--bundle", o.bundle, "Bundle directory (default: the current directory)")->default_val(".");
    cmd->add_option("--console-socket", o.console_socket, "Unix socket that receives the pty master");
    cmd->add_option("--pid-file", o.pid_file, "Write the container process's pid here");
    cmd->add_flag("--no-pivot", o.no_pivot, "Accepted for runc compatibility (lxbox always pivots)");
    cmd->add_flag("--no-new-keyring", o.no_new_keyring, "Accepted for runc compatibility");
    cmd->add_option("--preserve-fds", o.preserve_fds, "Extra fds to pass (not supported yet; must be 0)");
}

}  // namespace

void add_oci_commands(CLI::App& app, CommandContext& ctx) {
    auto* oci = app.add_subcommand("oci", "The OCI runtime interface (runc's command line), for podman and others");
    oci->require_subcommand(1);
    static OciGlobal g;
    oci->add_option("--root", g.root, "State directory (default /run/lxbox/oci, or $XDG_RUNTIME_DIR/lxbox/oci)");
    oci->add_option("--log", g.log, "Also write errors to this file");
    oci->add_option("--log-format", g.log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
    oci->add_flag("--systemd-cgroup", g.systemd_cgroup, "Use systemd for cgroups (refused: not supported)");
    oci->add_flag("--debug", g.debug, "Debug logging");
    oci->add_option("--rootless", g.rootless, "Accepted for runc compatibility (lxbox decides by its uid)");
    oci->add_option("--criu", g.rootless, "Accepted for runc compatibility")->group("");
    // runc's -v/--version; containerd logs it, engines show it.
    oci->set_version_flag("-v,--version", std::string("lxbox-oci version ") + LXBOX_VERSION + "\nspec: 1.1.0");
    auto wrap = [&ctx](std::function<Result<int>()> f) {
        ctx.action = [f = std::move(f)] {
            if (g.debug) spdlog::set_level(spdlog::level::debug);
            if (g.root.empty()) {
                auto root = StateDir::default_root();
                if (!root) return logged(g, std::move(root).error());
                g.root = *root;
            }
            return logged(g, f());
        };
    };

    static CreateOptions create_o;
    auto* create = oci->add_subcommand("create", "Create a container from a bundle; it waits for `start`");
    add_create_options(create, create_o);
    create->callback([wrap] { wrap([] { return cmd_create(g, create_o); }); });

    static CreateOptions run_o;
    auto* run = oci->add_subcommand("run", "Create and start a container, and wait for it unless --detach");
    add_create_options(run, run_o);
    run->add_flag("-d,--detach", run_o.detach, "Return once the container runs");
    run->add_flag("--keep", run_o.keep, "Keep the container's state after it exits");
    run->callback([wrap] { wrap([] { return cmd_run(g, run_o); }); });

    static std::string id, signal = "SIGTERM", format = "table";
    static bool all = false, force = false;
    auto* start = oci->add_subcommand("start", "Run the command of a created container");
    start->add_option("id", id, "Container id")->required();
    start->callback([wrap] { wrap([] { return cmd_start(g, id); }); });

    auto* state = oci->add_subcommand("state", "Print the container's state (runtime-spec JSON)");
    state->add_option("id", id, "Container id")->required();
    state->callback([wrap] { wrap([] { return cmd_state(g, id); }); });

    auto* kill = oci->add_subcommand("kill", "Send a signal to the container's process");
    kill->add_option("id", id, "Container id")->required();
    kill->add_option("signal", signal, "Signal name or number (default SIGTERM)");
    kill->add_flag("-a,--all", all, "Signal every process of the container");
    kill->callback([wrap] { wrap([] { return cmd_kill(g, id, signal, all); }); });

    auto* del = oci->add_subcommand("delete", "Delete a stopped container (--force: kill it first)");
    del->add_option("id", id, "Container id")->required();
    del->add_flag("-f,--force", force, "Kill a running container");
    del->callback([wrap] { wrap([] { return cmd_delete(g, id, force); }); });

    auto* pause = oci->add_subcommand("pause", "Freeze every process of a running container");
    pause->add_option("id", id, "Container id")->required();
    pause->callback([wrap] { wrap([] { return cmd_freeze(g, id, true); }); });
    auto* resume = oci->add_subcommand("resume", "Thaw a paused container");
    resume->add_option("id", id, "Container id")->required();
    resume->callback([wrap] { wrap([] { return cmd_freeze(g, id, false); }); });

    auto* ps = oci->add_subcommand("ps", "List the processes of a container");
    ps->add_option("id", id, "Container id")->required();
    ps->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
    ps->callback([wrap] { wrap([] { return cmd_ps(g, id, format); }); });

    static ExecOptions exec_o;
    auto* exec = oci->add_subcommand("exec", "Run another process in a running container");
    exec->add_option("id", exec_o.id, "Container id")->required();
    exec->add_option("args", exec_o.args, "The command and its arguments (or --process)");
    exec->add_option("-p,--process", exec_o.process_file, "A process.json (runtime-spec's process object)");
    exec->add_option("--console-socket", exec_o.console_socket, "Unix socket that receives the pty master");
    exec->add_option("--pid-file", exec_o.pid_file, "Write the process's pid here");
    exec->add_option("--cwd", exec_o.cwd, "Working directory");
    exec->add_option("-e,--env", exec_o.env, "KEY=VALUE added to the environment");
    exec->add_option("-u,--user", exec_o.user, "UID[:GID]");
    exec->add_flag("-t,--tty", exec_o.tty, "Give the process a pty");
    exec->add_flag("-d,--detach", exec_o.detach, "Return once the process runs");
    exec->callback([wrap, &ctx] {
        ctx.error_exit = kExitOciExecError;
        wrap([] { return cmd_exec(g, exec_o); });
    });

    add_oci_manage_commands(oci, g.root, wrap);

    auto* features = oci->add_subcommand("features", "What this runtime supports (runtime-spec features JSON)");
    features->callback([&ctx] {
        ctx.action = [] {
            std::printf("%s\n", features_json().dump(2).c_str());
            return Result<int>(0);
        };
    });
}

}  // namespace lxbox::cli
