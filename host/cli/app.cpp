#include "host/cli/app.hpp"

#include <cstdio>

#include "runtime/base/log.hpp"

namespace lxbox::cli {

int run_main(int argc, char** argv) {
    CLI::App app{"lxbox: a Linux distribution's userland on any host", "lxbox"};
    app.set_version_flag("--version", std::string("lxbox ") + LXBOX_VERSION);
    app.require_subcommand(1);
    CommandContext ctx;
    app.add_option("--root", ctx.global.root, "State directory (default $LXBOX_ROOT or ~/.local/share/lxbox)");
    app.add_option("--log-level", ctx.global.log_level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_flag("-q,--quiet", ctx.global.quiet, "No progress output");

    add_doctor_command(app, ctx);
    add_store_commands(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : kExitLxboxError;
    }
    init_logging(ctx.global.log_level);
    if (!ctx.action) return kExitLxboxError;
    auto result = ctx.action();
    if (!result) {
        std::fprintf(stderr, "lxbox: %s\n", result.error().message.c_str());
        return kExitLxboxError;
    }
    return *result;
}

}  // namespace lxbox::cli
