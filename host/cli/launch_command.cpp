// `lxbox launch`'s command line (the use case is host/launch/), and the container verbs' group.
#include <algorithm>
#include <memory>

#include "host/cli/app.hpp"
#include "host/cli/container_verbs.hpp"
#include "host/cli/registry_commands.hpp"
#include "host/cli/store_commands.hpp"
#include "host/launch/launch.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::cli {

using launch::LaunchRequest;
using launch::ProcessOptions;

void add_process_options(CLI::App& cmd, ProcessOptions& o) {
    cmd.add_option("-u,--user", o.user, "USER|UID[:GROUP|GID], resolved in the container's passwd and group");
    cmd.add_option("--cd", o.cwd, "Working directory inside the container");
    cmd.add_option("-e,--env", o.env, "Set K=V (K alone: take the value from here)")->allow_extra_args(false);
    cmd.add_option("--env-file", o.env_files, "Read K=V lines from a file")->allow_extra_args(false);
    cmd.add_flag("-t,--tty", o.force_tty, "Always allocate a pty");
    cmd.add_flag("-T,--no-tty", o.no_tty, "Never allocate a pty");
    cmd.add_flag("--privileged", o.security.privileged,
                 "Every capability, no seccomp filter, no masked paths (docker's --privileged)");
    cmd.add_option("--cap-add", o.security.cap_add, "Add a capability (NET_ADMIN, SYS_PTRACE, ..., ALL)")
        ->allow_extra_args(false);
    cmd.add_option("--cap-drop", o.security.cap_drop, "Drop a capability of the default set (or ALL)")
        ->allow_extra_args(false);
    cmd.add_option("--seccomp", o.security.seccomp,
                   "default (docker's semantics), unconfined, or a docker-format profile file");
}


namespace {

Result<int> cmd_launch(const GlobalOptions& g, LaunchRequest req, const TransportFlags& transport) {
    if (names_a_registry_image(req.target)) req.target = LXBOX_TRY(image_for_launch(g, req.target, transport));
    auto store = LXBOX_TRY(open_store(g));
    LXBOX_TRY(ensure_default_distro(store, g));
    return launch::launch(store, req);
}

// CLI11 fills positionals in order across "--", so in `launch -- cmd` it would take cmd for the
// distro. The raw argv tells on which side of "--" the first positional was written.
void fix_target_after_double_dash(LaunchRequest& req) {
    if (req.target.empty()) return;
    auto text = read_file("/proc/self/cmdline");
    if (!text) return;
    std::vector<std::string> argv;
    for (size_t pos = 0; pos < text->size();) {
        size_t end = text->find('\0', pos);
        if (end == std::string::npos) end = text->size();
        argv.push_back(text->substr(pos, end - pos));
        pos = end + 1;
    }
    auto verb = std::find(argv.begin(), argv.end(), "launch");
    auto dash = std::find(verb, argv.end(), "--");
    if (dash == argv.end() || std::find(verb, dash, req.target) != dash) return;
    req.process.command.insert(req.process.command.begin(), req.target);
    req.target.clear();
}

void add_launch(CLI::App& app, CommandContext& ctx) {
    auto req = std::make_shared<LaunchRequest>();
    auto transport = std::make_shared<TransportFlags>();
    auto* cmd = app.add_subcommand("launch", "Run a distro's container (its default one, or --name, or --rm)");
    cmd->add_option("target", req->target,
                    "Distro, container or image reference (debian:bookworm: pulled on first use; "
                    "default: the default distro)");
    cmd->add_option("command", req->process.command, "Command and arguments (after --); default: login shell");
    add_process_options(*cmd, req->process);
    cmd->add_option("--name", req->name, "Make or enter this container of the distro");
    cmd->add_flag("--rm", req->rm, "A throwaway container, deleted when it exits");
    // One value per flag: a vector option would otherwise swallow the command after "--".
    cmd->add_option("-v,--volume", req->volumes, "Bind mount HOST:GUEST[:ro]")->allow_extra_args(false);
    cmd->add_option("-p,--publish", req->publish, "vm backend: publish HOSTPORT:PORT[/udp] on the host's loopback")
        ->allow_extra_args(false);
    // Two flags rather than CLI11's "--integrate,!--isolated" on the optional, which it sets
    // to false when neither is given, hiding the distro's setting.
    auto integrate = std::make_shared<std::pair<bool, bool>>();
    auto* on = cmd->add_flag("--integrate", integrate->first,
                             "A new container runs as you, with your home, cwd, display, sound and session bus");
    cmd->add_flag("--isolated", integrate->second, "A new container is isolated, whatever the distro's integration setting")
        ->excludes(on);
    cmd->add_flag("--share-cwd", req->share_cwd, "Bind the current directory at the same path and start there");
    cmd->add_option("--hostname", req->hostname, "Hostname (default: the container's name)");
    cmd->add_option("--network", req->network, "host or none")->check(CLI::IsMember({"host", "none"}));
    cmd->add_option("--memory", req->memory, "Memory limit (512m, 2g)");
    cmd->add_option("--cpus", req->cpus, "CPU limit (1.5 = one and a half CPUs)");
    cmd->add_option("--pids-limit", req->pids, "Maximum number of processes");
    cmd->add_option("--backend", req->backend, "auto, native or vm")->check(CLI::IsMember({"auto", "native", "vm"}));
    cmd->add_flag("--no-init", req->no_init, "Run the command as PID 1 (no init to reap and forward signals)");
    add_transport_flags(cmd, *transport);
    cmd->callback([&ctx, req, transport, integrate] {
        fix_target_after_double_dash(*req);
        if (integrate->first || integrate->second) req->integrate = integrate->first;
        ctx.action = [&ctx, req, transport] { return cmd_launch(ctx.global, *req, *transport); };
    });
}

}  // namespace

void add_container_commands(CLI::App& app, CommandContext& ctx) {
    add_launch(app, ctx);
    add_exec_command(app, ctx);
    add_ps_command(app, ctx);
    add_stop_command(app, ctx);
    add_rm_command(app, ctx);
    add_shutdown_command(app, ctx);
}

}  // namespace lxbox::cli
