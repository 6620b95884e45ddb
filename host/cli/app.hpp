// The command line: CLI11 parses argv into one request struct per verb, and each verb's
// file (host/cli/<verb>.cpp) turns its request into one library call. Only run_main prints
// the final "lxbox: ..." error line and maps errors to exit code 125 (docker convention).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::cli {

// Options every verb understands.
struct GlobalOptions {
    std::string root;               // --root, else $LXBOX_ROOT, else $XDG_DATA_HOME/lxbox
    std::string log_level = "warn"; // --log-level
    bool quiet = false;             // --quiet: no progress output
};

// The store root these options name: --root, else store::default_root() over the environment.
std::string store_root(const GlobalOptions& global);

// Exit code for an lxbox error of its own (docker's convention).
inline constexpr int kExitLxboxError = 125;
// runc's: every error of `runc VERB` exits 1, and `runc exec`'s 255 (its command not started).
inline constexpr int kExitOciError = 1;
inline constexpr int kExitOciExecError = 255;

// Filled by the verb that CLI11 selected; run_main calls `action` after parsing.
struct CommandContext {
    GlobalOptions global;
    std::function<Result<int>()> action;
    // The exit code of an error of lxbox's own (a parse error included): docker's 125, and
    // runc's 1 under `lxbox oci` (255 for its exec), which engines read as runc's.
    int error_exit = kExitLxboxError;
};

// Each verb registers its subcommand and, when selected, sets ctx.action.
void add_doctor_command(CLI::App& app, CommandContext& ctx);
void add_check_command(CLI::App& app, CommandContext& ctx);  // check: the store's health and repair
void add_store_commands(CLI::App& app, CommandContext& ctx);  // import, list, export, unregister, set-default
void add_container_commands(CLI::App& app, CommandContext& ctx);  // launch, exec, ps, stop, rm, shutdown
void add_shim_command(CLI::App& app, CommandContext& ctx);
void add_vm_commands(CLI::App& app, CommandContext& ctx);  // vm image, serve, status, stop, ping, logs
void add_config_commands(CLI::App& app, CommandContext& ctx);  // config list, get, set, unset
void add_oci_commands(CLI::App& app, CommandContext& ctx);  // oci create, start, state, kill, delete, run, ps, features
void add_oci_commands(CLI::App& app, CommandContext& ctx);  // oci create, start, state, kill, delete, run, ps, features
void add_image_commands(CLI::App& app, CommandContext& ctx);  // images, inspect, image rm, image prune
void add_registry_commands(CLI::App& app, CommandContext& ctx);  // pull, login, push, logout
void add_completion_commands(CLI::App& app, CommandContext& ctx);  // completion, __complete, __man

// The verbs each add_*_command registers, in one table: run_main registers only the group of
// the verb argv names (building and destroying CLI11's whole tree was ~8% of a launch), and
// every group when argv names none (top-level --help, a typo, no verb).
struct VerbGroup {
    std::vector<std::string> verbs;
    void (*add)(CLI::App&, CommandContext&);
};
const std::vector<VerbGroup>& verb_groups();

inline constexpr const char* kDescription = "lxbox: a Linux distribution's userland on any host";

// The root of the tree: --version, the global options, one verb required.
void add_root(CLI::App& app, CommandContext& ctx);
// The root and every verb: the tree --help shows, and completion and the man page describe.
void add_every_verb(CLI::App& app, CommandContext& ctx);

// --root, --log-level and -q: the options every verb understands.
void add_global_options(CLI::App& app, GlobalOptions& global);

// The names of app's own options that take a value (--root, --log-level), as argv spells them.
std::vector<std::string> value_option_names(const CLI::App& app);

// The verb argv names: its first argument that is not an option or the value of one of
// value_options; "" when there is none or a -h/--help comes first. argv[0] is the program. Pure.
std::string named_verb(const std::vector<std::string>& argv, const std::vector<std::string>& value_options);

// Parses argv, runs the verb and ends the process with its exit code. It does not return: by
// the time a verb is done it has released all it held (the container, its cgroup and dirs, the
// terminal mode, locks), and what is left, CLI11's tree, the heap and static objects, goes with
// the process unwound. Destroying them cost 0.45 ms of an 11.7 ms `launch --rm -- /bin/true`
// (interleaved timing, 400 rounds): the container's fork had write-protected the heap, so each
// page a destructor wrote took a fault.
[[noreturn]] void run_main(int argc, char** argv);

// argv[0] shim (like WSL's per-distro launchers): invoked through a symlink named after a
// distro or container, `debian ARGS...` means `lxbox launch debian -- ARGS...`. Returns argv
// unchanged when argv[0] is lxbox itself. Pure.
std::vector<std::string> expand_shim_argv(const std::vector<std::string>& argv);

}  // namespace lxbox::cli
