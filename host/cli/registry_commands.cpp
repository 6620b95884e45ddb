// pull, push, login, logout: the registry verbs. Each runs lxbox-registry (the libcurl
// client, registry-client/) and reads its events: a progress bar on a terminal, the events
// themselves with --json, the image registered in the store from the pulled manifest.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "host/cli/app.hpp"
#include "host/cli/progress.hpp"
#include "host/cli/store_commands.hpp"
#include "host/registry/helper.hpp"
#include "host/registry/reference.hpp"

namespace lxbox::cli {

namespace {

struct TransportFlags {
    bool insecure = false;
    std::string tls_verify = "true", ca_file;
    std::vector<std::string> args() const {
        std::vector<std::string> a;
        if (insecure) a.push_back("--insecure");
        if (tls_verify != "true") a.insert(a.end(), {"--tls-verify", tls_verify});
        if (!ca_file.empty()) a.insert(a.end(), {"--ca-file", ca_file});
        return a;
    }
};

struct PullRequest {
    std::string ref, platform;
    TransportFlags transport;
    bool json = false;
};

struct PushRequest {
    std::string name, ref;
    TransportFlags transport;
    bool json = false;
};

struct LoginRequest {
    std::string registry, username;
    bool password_stdin = false;
    TransportFlags transport;
};

void add_transport_flags(CLI::App* cmd, TransportFlags& t) {
    cmd->add_flag("--insecure", t.insecure, "Allow plain HTTP when the registry does not speak TLS (a local registry)");
    cmd->add_option("--tls-verify", t.tls_verify, "false: do not verify the registry's certificate")
        ->check(CLI::IsMember({"true", "false"}));
    cmd->add_option("--ca-file", t.ca_file, "Trust this CA certificate (PEM) for the registry");
}

// The helper's events as a progress bar, or as JSON lines on stdout (--json).
registry::EventFn show_events(const std::shared_ptr<Progress>& bar, bool json) {
    return [bar, json](const nlohmann::json& e) {
        if (json) {
            std::cout << e.dump() << std::endl;
        } else if (e.value("event", "") == "progress") {
            bar->update(e.value("done", uint64_t{0}), e.value("total", uint64_t{0}));
        }
    };
}

Result<int> cmd_pull(const GlobalOptions& g, const PullRequest& req) {
    auto ref = LXBOX_TRY_CTX(registry::parse_reference(req.ref), "pull");
    auto store = LXBOX_TRY(open_store(g));  // made if new: the helper writes into its blob store
    std::vector<std::string> args{"pull", "--store", store.root(), ref.to_string()};
    if (!req.platform.empty()) args.insert(args.end(), {"--platform", req.platform});
    for (const auto& a : req.transport.args()) args.push_back(a);
    auto bar = std::make_shared<Progress>("pulling " + ref.to_string(), !req.json && Progress::wanted(g.quiet));
    auto done = LXBOX_TRY_CTX(registry::run_registry_helper(args, show_events(bar, req.json)), "pull " + req.ref);
    bar.reset();
    if (req.json) {
        std::cout << done.dump() << std::endl;
    } else if (!g.quiet) {
        std::printf("%s %s\n", ref.to_string().c_str(), done.value("manifest", "").c_str());
    }
    return 0;
}

// The password: a line of stdin with --password-stdin, else asked on the terminal unechoed.
Result<std::string> read_password(bool from_stdin) {
    std::string line;
    if (from_stdin) {
        if (!std::getline(std::cin, line) || line.empty()) return Error(ErrorKind::Invalid, "no password on stdin");
        return line;
    }
    if (!::isatty(STDIN_FILENO)) return Error(ErrorKind::Invalid, "stdin is not a terminal: give the password with --password-stdin");
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    std::fprintf(stderr, "Password: ");
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    bool got = static_cast<bool>(std::getline(std::cin, line));
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::fprintf(stderr, "\n");
    if (!got || line.empty()) return Error(ErrorKind::Invalid, "no password given");
    return line;
}

Result<int> cmd_login(const GlobalOptions& g, const LoginRequest& req) {
    const std::string password = LXBOX_TRY_CTX(read_password(req.password_stdin), "login " + req.registry);
    std::vector<std::string> args{"login", "-u", req.username, req.registry};
    for (const auto& a : req.transport.args()) args.push_back(a);
    auto done = LXBOX_TRY(registry::run_registry_helper(args, nullptr, password + "\n"));
    if (!g.quiet) std::printf("Login succeeded (saved in %s)\n", done.value("file", "").c_str());
    return 0;
}

Result<int> cmd_logout(const GlobalOptions& g, const std::string& registry) {
    LXBOX_TRY(registry::run_registry_helper({"logout", registry}, nullptr));
    if (!g.quiet) std::printf("Removed the login to %s\n", registry.c_str());
    return 0;
}

}  // namespace

void add_registry_commands(CLI::App& app, CommandContext& ctx) {
    auto pull = std::make_shared<PullRequest>();
    auto* p = app.add_subcommand("pull", "Pull an image from a registry (debian:bookworm, localhost:5000/x@sha256:...)");
    p->add_option("reference", pull->ref, "Image reference")->required();
    p->add_option("--platform", pull->platform, "os/arch[/variant] of a multi-platform image (default: this host's)");
    p->add_flag("--json", pull->json, "Events and the result as JSON lines");
    add_transport_flags(p, pull->transport);
    p->callback([&ctx, pull] { ctx.action = [&ctx, pull] { return cmd_pull(ctx.global, *pull); }; });

    auto login = std::make_shared<LoginRequest>();
    auto* l = app.add_subcommand("login", "Log in to a registry (saved in ~/.config/lxbox/auth.json, mode 0600)");
    l->add_option("registry", login->registry, "Registry host (localhost:5000, docker.io)")->required();
    l->add_option("-u,--username", login->username, "User name")->required();
    l->add_flag("--password-stdin", login->password_stdin, "Read the password from stdin");
    add_transport_flags(l, login->transport);
    l->callback([&ctx, login] { ctx.action = [&ctx, login] { return cmd_login(ctx.global, *login); }; });

    auto logout = std::make_shared<std::string>();
    auto* o = app.add_subcommand("logout", "Remove a registry's login from lxbox's auth file");
    o->add_option("registry", *logout, "Registry host")->required();
    o->callback([&ctx, logout] { ctx.action = [&ctx, logout] { return cmd_logout(ctx.global, *logout); }; });
}

}  // namespace lxbox::cli
