// The container verbs besides launch (host/cli/container_admin.cpp).
#pragma once

#include "host/cli/app.hpp"
#include "host/launch/containers.hpp"

namespace lxbox::cli {

// -u, --cd, -e, --env-file, -t, -T and the security flags: the process options of launch and exec.
void add_process_options(CLI::App& cmd, launch::ProcessOptions& opts);

void add_exec_command(CLI::App& app, CommandContext& ctx);  // exec CONTAINER [opts] -- CMD
void add_ps_command(CLI::App& app, CommandContext& ctx);    // ps [--json]
void add_stop_command(CLI::App& app, CommandContext& ctx);  // stop CONTAINER [-t SECONDS]
void add_rm_command(CLI::App& app, CommandContext& ctx);    // rm [-f] NAME...
void add_shutdown_command(CLI::App& app, CommandContext& ctx);  // shutdown [-t SECONDS]: all containers, the VM

}  // namespace lxbox::cli
