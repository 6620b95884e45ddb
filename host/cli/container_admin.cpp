// `lxbox exec`, `ps`, `stop`, `rm`: the verbs that look at or act on existing containers.
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <signal.h>

#include <cstdio>
#include <memory>

#include "host/launch/exec.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "host/cli/container_verbs.hpp"
#include "host/cli/store_commands.hpp"
#include "host/vm/supervisor_client.hpp"
#include "host/vm/vm_run.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/linux/userns_holder.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::cli {

using launch::ExecRequest;
using launch::find_container;
using launch::list_containers;

namespace {

Result<int> cmd_exec(const GlobalOptions& g, const ExecRequest& req) {
    auto store = LXBOX_TRY(open_store(g));
    return launch::exec(store, req);
}

std::string join_command(const std::vector<std::string>& args) {
    if (args.empty()) return "(login shell)";
    std::string out;
    for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
    return out;
}

Result<int> cmd_ps(const GlobalOptions& g, bool json) {
    auto store = LXBOX_TRY(open_store(g));
    auto all = LXBOX_TRY(list_containers(store));
    if (json) {
        auto arr = nlohmann::json::array();
        for (const auto& v : all) {
            const auto& i = v.instance;
            arr.push_back({{"name", v.name},
                           {"state", i ? "running" : "stopped"},
                           {"pid", i ? nlohmann::json(i->pid) : nlohmann::json(nullptr)},
                           {"image", v.image},
                           {"backend", i ? i->backend : v.backend},  // where it runs, else where its changes live
                           {"arch", v.arch},
                           {"started", i ? nlohmann::json(i->started) : nlohmann::json(nullptr)},
                           {"command", i ? nlohmann::json(i->command) : nlohmann::json(nullptr)},
                           {"ephemeral", v.ephemeral}});
        }
        std::printf("%s\n", arr.dump(2).c_str());
        return 0;
    }
    std::printf("%-20s %-8s %-8s %-12s %-8s %-21s %s\n", "NAME", "STATE", "PID", "IMAGE", "BACKEND", "STARTED",
                "COMMAND");
    for (const auto& v : all) {
        const auto& i = v.instance;
        std::printf("%-20s %-8s %-8s %-12s %-8s %-21s %s\n", v.name.c_str(), i ? "running" : "stopped",
                    i ? std::to_string(i->pid).c_str() : "-", v.image.c_str(), v.backend.c_str(),
                    i ? i->started.c_str() : "-", i ? join_command(i->command).c_str() : "-");
    }
    return 0;
}

// Waits up to ms for the process behind pidfd to exit.
bool exited_within(int pidfd, int ms) {
    struct pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
}

Status stop_instance(const store::InstanceState& inst, double seconds) {
    UniqueFd pidfd(sys::pidfd_open(inst.pid));
    if (!pidfd) return {};  // already gone
    // Opened first, checked second: the pidfd now pins the process, so a reused pid cannot be hit.
    if (linux_fx::process_start_time(inst.pid) != inst.start_time) return {};
    if (seconds > 0) {
        sys::pidfd_send_signal(pidfd.get(), inst.stop_signal != 0 ? inst.stop_signal : SIGTERM);
        if (exited_within(pidfd.get(), static_cast<int>(seconds * 1000))) return {};
    }
    if (sys::pidfd_send_signal(pidfd.get(), SIGKILL) != 0 && errno != ESRCH) return Error::last("kill the container");
    if (!exited_within(pidfd.get(), 10000)) return Error(ErrorKind::System, "the container did not die after SIGKILL");
    return {};
}

Result<int> cmd_stop(const GlobalOptions& g, const std::string& name, double seconds) {
    auto store = LXBOX_TRY(open_store(g));
    auto view = LXBOX_TRY(find_container(store, name));
    if (!view.instance) return 0;
    LXBOX_TRY(stop_instance(*view.instance, seconds).context("stop " + name));
    if (view.ephemeral) return 0;
    // The launching lxbox (or a systemd container's monitor) holds the container's lock until
    // it has removed the cgroup and cleared the state: stop returns once it lets go, so that
    // nothing of the container is left. A launcher killed -9 let go at its death.
    if (auto lock = open_fd(store.container_dir(name) + "/lock", O_RDWR)) {
        for (int i = 0; i < 1000 && ::flock(lock->get(), LOCK_EX | LOCK_NB) != 0; ++i) ::poll(nullptr, 0, 10);
    }
    return 0;
}

Result<int> cmd_rm(const GlobalOptions& g, const std::vector<std::string>& names, bool force) {
    auto store = LXBOX_TRY(open_store(g));
    if (const auto userns = linux_fx::rootless_userns(); userns.use_helpers) {
        store.set_tree_remover([userns](const std::string& path) {
            return linux_fx::run_in_userns(userns, [&path] { return remove_tree(path); });
        });
    }
    for (const auto& name : names) {
        if (force) {
            auto view = find_container(store, name);
            if (view && view->instance) LXBOX_TRY(stop_instance(*view->instance, 0).context("rm " + name));
            for (int i = 0; i < 100; ++i) {  // until the launcher has seen the exit
                auto inst = LXBOX_TRY(store.running_instance(name));
                if (!inst) break;
                ::poll(nullptr, 0, 10);
            }
        }
        const std::string cgroup = launch::cgroup_name(store, store.container_dir(name));
        // A vm container's changes are on the VM's containers disk: deleted there first (the
        // VM starts for it if it is not running), then its record here.
        if (auto view = find_container(store, name); view && view->backend == "vm" && !view->ephemeral) {
            if (view->instance) return Error(ErrorKind::Busy, "rm " + name + ": the container is running (stop it, or rm -f)");
            LXBOX_TRY(vm::remove_in_vm(store.root(), view->arch, name, [](const std::string& line) {
                          std::fprintf(stderr, "lxbox: %s\n", line.c_str());
                      }).context("rm " + name));
        }
        LXBOX_TRY(store.remove_container(name).context("rm " + name));
        // A launcher killed with SIGKILL cannot remove its container's (empty) cgroup: found in
        // every hierarchy it may have used (limits, devices, membership) and removed here;
        // failing that (rootless, no writable hierarchy) the empty group is harmless, so it is
        // only logged.
        launch::remove_leftover_cgroup(cgroup);
        // One left by an lxbox that named cgroups without the store's id may be another store's
        // running container: removed only if empty, nothing in it killed.
        if (auto old = cgroups::Cgroup::open_existing(launch::unscoped_cgroup_name(store.container_dir(name))); old)
            old->remove_if_empty();
    }
    return 0;
}

// `lxbox shutdown` (wsl --shutdown): every running container, native or vm, stopped as
// `lxbox stop` would, then the VM powered off.
Result<int> cmd_shutdown(const GlobalOptions& g, double seconds) {
    auto store = LXBOX_TRY(open_store(g));
    auto all = LXBOX_TRY(list_containers(store));
    std::string failed;
    for (const auto& v : all) {
        if (!v.instance) continue;
        if (auto st = stop_instance(*v.instance, seconds); !st) failed += (failed.empty() ? "" : ", ") + v.name;
    }
    for (const auto& arch : vm::guest_arches(vm::build_arch()))
        LXBOX_TRY(vm::stop_supervisor(vm::vm_dir_for(store.root(), arch), std::chrono::seconds(60))
                      .context("stop the " + arch + " VM"));
    // Rootless: the user namespace holder (containers that still run keep their namespace).
    LXBOX_TRY(linux_fx::stop_userns_holder(store.root()).context("stop the user namespace holder"));
    if (!failed.empty()) return Error(ErrorKind::System, "shutdown: could not stop " + failed);
    return 0;
}

}  // namespace

void add_shutdown_command(CLI::App& app, CommandContext& ctx) {
    auto seconds = std::make_shared<double>(10);
    auto* cmd = app.add_subcommand("shutdown", "Stop every running container and power the VM off");
    cmd->add_option("-t,--time", *seconds, "Seconds each container gets before SIGKILL (default 10)");
    cmd->callback([&ctx, seconds] { ctx.action = [&ctx, seconds] { return cmd_shutdown(ctx.global, *seconds); }; });
}

void add_exec_command(CLI::App& app, CommandContext& ctx) {
    auto req = std::make_shared<ExecRequest>();
    auto* cmd = app.add_subcommand("exec", "Run a command in a running container");
    cmd->add_option("container", req->container, "The container")->required();
    cmd->add_option("command", req->process.command, "Command and arguments (after --); default: login shell");
    add_process_options(*cmd, req->process);
    cmd->callback([&ctx, req] { ctx.action = [&ctx, req] { return cmd_exec(ctx.global, *req); }; });
}

void add_ps_command(CLI::App& app, CommandContext& ctx) {
    auto json = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("ps", "List containers and whether they run");
    cmd->add_flag("--json", *json, "Machine-readable output");
    cmd->callback([&ctx, json] { ctx.action = [&ctx, json] { return cmd_ps(ctx.global, *json); }; });
}

void add_stop_command(CLI::App& app, CommandContext& ctx) {
    auto name = std::make_shared<std::string>();
    auto seconds = std::make_shared<double>(10);
    auto* cmd = app.add_subcommand("stop", "SIGTERM to a container's init (systemd: SIGRTMIN+3), SIGKILL after a timeout");
    cmd->add_option("container", *name, "The container")->required();
    cmd->add_option("-t,--time", *seconds, "Seconds to wait before SIGKILL (default 10)");
    cmd->callback([&ctx, name, seconds] {
        ctx.action = [&ctx, name, seconds] { return cmd_stop(ctx.global, *name, *seconds); };
    });
}

void add_rm_command(CLI::App& app, CommandContext& ctx) {
    auto names = std::make_shared<std::vector<std::string>>();
    auto force = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("rm", "Delete containers and their changes");
    cmd->add_option("containers", *names, "The containers")->required();
    cmd->add_flag("-f,--force", *force, "Kill a running container first");
    cmd->callback([&ctx, names, force] {
        ctx.action = [&ctx, names, force] { return cmd_rm(ctx.global, *names, *force); };
    });
}

}  // namespace lxbox::cli
