#include "host/cli/app.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "host/install/version.hpp"
#include "runtime/base/log.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

std::string store_root(const GlobalOptions& global) {
    if (!global.root.empty()) return global.root;
    return store::default_root(std::getenv("LXBOX_ROOT"), std::getenv("XDG_DATA_HOME"), std::getenv("HOME"));
}

std::vector<std::string> expand_shim_argv(const std::vector<std::string>& argv) {
    if (argv.empty()) return argv;
    const std::string& arg0 = argv[0];
    const std::string base = arg0.substr(arg0.rfind('/') + 1);
    // `lxbox-oci ARGS` is `lxbox oci ARGS`: the path an engine takes as its OCI runtime.
    if (base == "lxbox-oci") {
        std::vector<std::string> out{"lxbox", "oci"};
        out.insert(out.end(), argv.begin() + 1, argv.end());
        return out;
    }
    if (base.empty() || base.rfind("lxbox", 0) == 0) return argv;
    std::vector<std::string> out{"lxbox", "launch", base, "--"};
    out.insert(out.end(), argv.begin() + 1, argv.end());
    return out;
}

const std::vector<VerbGroup>& verb_groups() {
    static const std::vector<VerbGroup> groups = {
        {{"doctor"}, add_doctor_command},
        {{"check"}, add_check_command},
        {{"import", "list", "export", "unregister", "set-default"}, add_store_commands},
        {{"launch", "exec", "ps", "stop", "rm", "shutdown"}, add_container_commands},
        {{"shim"}, add_shim_command},
        {{"vm"}, add_vm_commands},
        {{"config"}, add_config_commands},
        {{"oci"}, add_oci_commands},
        {{"images", "inspect", "image"}, add_image_commands},
        {{"pull", "login", "push", "logout"}, add_registry_commands},
        {{"completion", "__complete", "__man"}, add_completion_commands},
    };
    return groups;
}

void add_root(CLI::App& app, CommandContext& ctx) {
    app.set_version_flag("--version", install::version_line(install::kVersion, install::kCommit));
    app.require_subcommand(1);
    add_global_options(app, ctx.global);
}

void add_every_verb(CLI::App& app, CommandContext& ctx) {
    add_root(app, ctx);
    for (const VerbGroup& g : verb_groups()) g.add(app, ctx);
}

void add_global_options(CLI::App& app, GlobalOptions& global) {
    app.add_option("--root", global.root, "State directory (default $LXBOX_ROOT or ~/.local/share/lxbox)");
    app.add_option("--log-level", global.log_level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_flag("-q,--quiet", global.quiet, "No progress output");
}

std::vector<std::string> value_option_names(const CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::Option* o : app.get_options()) {
        if (o->get_expected_min() == 0) continue;  // a flag: -q, --help, --version
        for (const std::string& n : o->get_lnames()) names.push_back("--" + n);
        for (const std::string& n : o->get_snames()) names.push_back("-" + n);
    }
    return names;
}

std::string named_verb(const std::vector<std::string>& argv, const std::vector<std::string>& value_options) {
    for (size_t i = 1; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a == "--") return "";
        if (a == "-h" || a == "--help") return "";
        if (std::find(value_options.begin(), value_options.end(), a) != value_options.end()) {
            ++i;  // its value
            continue;
        }
        if (!a.empty() && a[0] == '-') continue;  // -q, --quiet, --version, --root=DIR, ...
        return a;
    }
    return "";
}

namespace {

// Output flushed (spdlog's sinks and the C streams that std::cout shares), then gone.
[[noreturn]] void exit_unwound(int code) {
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
    std::fflush(nullptr);
    ::_exit(code);
}

// CLI11's parse of args, then the selected verb's action: the process's exit code.
int parse_and_run(CLI::App& app, CommandContext& ctx, const std::vector<std::string>& args) {
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11 wants them reversed
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : ctx.error_exit;
    }
    init_logging(ctx.global.log_level);
    if (!ctx.action) return ctx.error_exit;
    auto result = ctx.action();
    if (!result) {
        std::fprintf(stderr, "lxbox: %s\n", result.error().message.c_str());
        return ctx.error_exit;
    }
    return *result;
}

}  // namespace

void run_main(int argc, char** argv) {
    std::vector<std::string> args = expand_shim_argv(std::vector<std::string>(argv, argv + argc));
    CLI::App app{kDescription, "lxbox"};
    CommandContext ctx;
    add_root(app, ctx);
    const std::string verb = named_verb(args, value_option_names(app));
    const VerbGroup* named = nullptr;
    for (const VerbGroup& g : verb_groups()) {
        if (std::find(g.verbs.begin(), g.verbs.end(), verb) != g.verbs.end()) named = &g;
    }
    if (verb == "oci") ctx.error_exit = kExitOciError;
    if (named != nullptr) {
        named->add(app, ctx);
    } else {
        for (const VerbGroup& g : verb_groups()) g.add(app, ctx);
    }
    exit_unwound(parse_and_run(app, ctx, args));  // app and ctx are never destroyed (see app.hpp)
}

}  // namespace lxbox::cli
