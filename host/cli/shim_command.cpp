// `lxbox shim CONTAINER CMD [--dir DIR]`: writes a host executable named CMD that runs CMD
// inside CONTAINER with the host's current directory shared (distrobox-export style), so a
// tool installed in a distro is called from the host by name. `lxbox shim --desktop APP
// [--distro NAME] [--remove]`: the distro app's menu entry and icon on the host's menu
// (host/desktop/export.hpp), as distrobox-export --app.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "host/cli/app.hpp"
#include "host/cli/store_commands.hpp"
#include "host/desktop/export.hpp"
#include "host/launch/launch.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

namespace {

struct ShimRequest {
    std::string container, command, dir;
    std::string desktop, distro;  // --desktop APP [--distro NAME]
    bool remove = false;
};

// Single-quotes s for sh.
std::string sh_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// --desktop: the app's entry on the host's menu, run integrated in the distro (or container)
// --distro names; --remove takes it off.
Result<int> cmd_shim_desktop(const GlobalOptions& g, const ShimRequest& req) {
    auto store = LXBOX_TRY(open_store(g));
    LXBOX_TRY(ensure_default_distro(store, g));
    const auto reg = LXBOX_TRY(store.load());
    desktop::ExportRequest er;
    er.app = req.desktop;
    er.target = req.distro.empty() ? reg.default_distro : req.distro;
    LXBOX_TRY(store::validate_name(er.target).context("shim --desktop"));
    er.root = store.root();
    er.data_home = LXBOX_TRY(desktop::data_home().context("shim --desktop"));
    if (req.remove) {
        for (const auto& path : LXBOX_TRY(desktop::remove_app(er).context("shim --desktop " + req.desktop + " --remove")))
            std::printf("%s\n", path.c_str());
        return 0;
    }
    // The entry runs `lxbox launch --integrate TARGET`: what would refuse that refuses the export.
    launch::LaunchRequest would_run;
    would_run.target = er.target;
    would_run.integrate = true;
    LXBOX_TRY(launch::choose_target(store, reg, would_run).context("shim --desktop " + req.desktop));
    er.lxbox = LXBOX_TRY_CTX(self_executable(), "shim: find the lxbox binary");
    for (const auto& path : LXBOX_TRY(desktop::export_app(er).context("shim --desktop " + req.desktop)))
        std::printf("%s\n", path.c_str());
    return 0;
}

Result<int> cmd_shim(const GlobalOptions& g, const ShimRequest& req) {
    if (!req.desktop.empty()) {
        if (!req.container.empty() || !req.dir.empty())
            return Error(ErrorKind::Invalid, "shim --desktop APP takes no CONTAINER CMD nor --dir (--distro names where it runs)");
        return cmd_shim_desktop(g, req);
    }
    if (req.remove || !req.distro.empty())
        return Error(ErrorKind::Invalid, "shim: --remove and --distro go with --desktop APP");
    if (req.container.empty() || req.command.empty())
        return Error(ErrorKind::Invalid, "shim: give CONTAINER CMD, or --desktop APP");
    auto store = LXBOX_TRY(open_store(g));
    LXBOX_TRY(store::validate_name(req.container));
    if (req.command.empty() || req.command.find('/') != std::string::npos)
        return Error(ErrorKind::Invalid, "shim: CMD must be a command name, without '/'");
    // The script runs `lxbox launch CONTAINER`: the launch use case checks here that it names
    // something, and that a backend can run it, before a script that cannot work is written.
    LXBOX_TRY(ensure_default_distro(store, g));
    launch::LaunchRequest would_run;
    would_run.target = req.container;
    const auto reg = LXBOX_TRY(store.load());
    const auto target = LXBOX_TRY_CTX(launch::choose_target(store, reg, would_run), "shim " + req.command);
    std::string dir = req.dir;
    if (dir.empty()) {
        const char* home = std::getenv("HOME");
        if (!home || !*home) return Error(ErrorKind::Invalid, "shim: no --dir and no $HOME");
        dir = std::string(home) + "/.local/bin";
        ::mkdir((std::string(home) + "/.local").c_str(), 0755);
        ::mkdir(dir.c_str(), 0755);
    }
    const std::string exe = LXBOX_TRY_CTX(self_executable(), "shim: find the lxbox binary");
    const std::string script = "#!/bin/sh\n# Written by `lxbox shim`: runs " + req.command + " in container " +
                               req.container + " with the current directory shared.\nexec " + sh_quote(exe) +
                               " --root " + sh_quote(store.root()) + " launch " + sh_quote(req.container) +
                               " --share-cwd -- " + sh_quote(req.command) + " \"$@\"\n";
    const std::string path = dir + "/" + req.command;
    LXBOX_TRY_CTX(write_file_atomic(path, script), "shim " + req.command);
    if (::chmod(path.c_str(), 0755) != 0) return Error::last("shim: chmod " + path);
    std::printf("%s\n", path.c_str());
    spdlog::debug("shim {}: runs in {} on the {} backend", req.command, target.container, target.backend);
    return 0;
}

}  // namespace

void add_shim_command(CLI::App& app, CommandContext& ctx) {
    auto req = std::make_shared<ShimRequest>();
    auto* s = app.add_subcommand("shim", "Write a host executable that runs CMD inside CONTAINER, or put a distro app "
                                         "on the host's menu (--desktop)");
    s->add_option("container", req->container, "Container (or distro) to run in");
    s->add_option("command", req->command, "Command name inside the container");
    s->add_option("--dir", req->dir, "Where to write it (default ~/.local/bin)");
    s->add_option("--desktop", req->desktop,
                  "Export the distro's APP.desktop and its icon to the host's menu ($XDG_DATA_HOME or ~/.local/share)");
    s->add_option("--distro", req->distro, "With --desktop: the distro or container the app runs in (default: the default distro)");
    s->add_flag("--remove", req->remove, "With --desktop: delete what the export wrote");
    s->callback([&ctx, req] { ctx.action = [&ctx, req] { return cmd_shim(ctx.global, *req); }; });
}

}  // namespace lxbox::cli
