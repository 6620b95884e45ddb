// pull, push, login, logout: the registry verbs. Each runs lxbox-registry (the libcurl
// client, registry-client/) and reads its events: a progress bar on a terminal, the events
// themselves with --json, the image registered in the store from the pulled manifest.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "host/cli/registry_commands.hpp"
#include "host/cli/progress.hpp"
#include "host/cli/store_commands.hpp"
#include "host/registry/helper.hpp"
#include "host/registry/reference.hpp"
#include "runtime/base/log.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/image/prefetch.hpp"
#include "runtime/image/register.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

std::vector<std::string> TransportFlags::args() const {
    std::vector<std::string> a;
    if (insecure) a.push_back("--insecure");
    if (tls_verify != "true") a.insert(a.end(), {"--tls-verify", tls_verify});
    if (!ca_file.empty()) a.insert(a.end(), {"--ca-file", ca_file});
    return a;
}

namespace {

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

}  // namespace

void add_transport_flags(CLI::App* cmd, TransportFlags& t) {
    cmd->add_flag("--insecure", t.insecure, "Allow plain HTTP when the registry does not speak TLS (a local registry)");
    cmd->add_option("--tls-verify", t.tls_verify, "false: do not verify the registry's certificate")
        ->check(CLI::IsMember({"true", "false"}));
    cmd->add_option("--ca-file", t.ca_file, "Trust this CA certificate (PEM) for the registry");
}

namespace {

// The helper's events as a progress bar, or as JSON lines on stdout (--json); the manifest and
// each blob's arrival to the layers' unpacking (a pull's), which overlaps the downloads.
registry::EventFn show_events(const std::shared_ptr<Progress>& bar, bool json,
                              image::LayerPrefetch* prefetch = nullptr) {
    return [bar, json, prefetch](const nlohmann::json& e) {
        const std::string event = e.value("event", "");
        if (prefetch && event == "manifest") prefetch->start(e.value("text", ""));
        if (prefetch && event == "blob") prefetch->arrived(e.value("digest", ""));
        if (json) {
            std::cout << e.dump() << std::endl;
        } else if (event == "progress") {
            bar->update(e.value("done", uint64_t{0}), e.value("total", uint64_t{0}));
        }
    };
}

// The store name for ref: --name, else default_image_name. A re-pull of the same reference
// replaces its image (docker's tag moves too); another image of that name is not touched.
Result<std::pair<std::string, bool>> pull_target(store::Store& store, const registry::ImageReference& ref,
                                                 const std::string& name_flag) {
    const std::string name = name_flag.empty() ? registry::default_image_name(ref) : name_flag;
    LXBOX_TRY(store::validate_name(name));
    auto reg = LXBOX_TRY(store.load());
    auto it = reg.images.find(name);
    if (it == reg.images.end()) return std::make_pair(name, false);
    if (it->second.source != ref.to_string())
        return Error(ErrorKind::Exists, "an image named " + name + " exists (from " + it->second.source +
                                            "): choose another with --name");
    return std::make_pair(name, true);
}

}  // namespace

Result<nlohmann::json> pull_and_register(const GlobalOptions& g, const PullRequest& req) {
    auto ref = LXBOX_TRY_CTX(registry::parse_reference(req.ref), "pull");
    auto store = LXBOX_TRY(open_store(g));  // made if new: the helper writes into its blob store
    auto [name, replace] = LXBOX_TRY_CTX(pull_target(store, ref, req.name), "pull " + req.ref);
    // From the first blob to the registration, prune must not take what no image lists yet.
    auto blobs = LXBOX_TRY(image::BlobStore::open(store.root()));
    auto hold = LXBOX_TRY(blobs.hold_against_prune());
    std::vector<std::string> args{"pull", "--store", store.root(), ref.to_string()};
    if (!req.platform.empty()) args.insert(args.end(), {"--platform", req.platform});
    for (const auto& a : req.transport.args()) args.push_back(a);
    auto bar = std::make_shared<Progress>("pulling " + ref.to_string(), !req.json && Progress::wanted(g.quiet));
    image::LayerPrefetch prefetch(store);
    auto done = registry::run_registry_helper(args, show_events(bar, req.json, &prefetch));
    // The layer being unpacked is finished; register_image unpacks what is left.
    prefetch.stop();
    if (!done) return std::move(done).error().context("pull " + req.ref);
    spdlog::debug("{} layers unpacked while the pull downloaded", prefetch.unpacked());
    auto manifest = LXBOX_TRY_CTX(image::parse_digest(done->value("manifest", "")), "pull " + req.ref);
    image::RegisterOptions opts;
    opts.replace = replace;
    opts.source = ref.to_string();
    bar.reset();
    // The downloaded layers' unpacking: a bar of its own.
    opts.progress = progress_callback(
        std::make_shared<Progress>("unpacking " + ref.to_string(), !req.json && Progress::wanted(g.quiet)));
    auto registered = image::register_image(store, name, manifest, opts);
    if (!registered && registered.error().kind == ErrorKind::Exists) {
        // A concurrent pull of the same reference registered it first: this one replaces it.
        opts.replace = LXBOX_TRY_CTX(pull_target(store, ref, req.name), "pull " + req.ref).second;
        registered = image::register_image(store, name, manifest, opts);
    }
    if (!registered) return std::move(registered).error().context("pull " + req.ref);
    (*done)["name"] = name;
    return std::move(*done);
}

bool names_a_registry_image(const std::string& target) {
    return target.find_first_of(":/@") != std::string::npos;
}

Result<std::string> image_for_launch(const GlobalOptions& g, const std::string& target,
                                     const TransportFlags& transport) {
    auto ref = LXBOX_TRY_CTX(registry::parse_reference(target), "launch");
    {
        // pull's own naming: an image of that name pulled from this reference is the one to use.
        auto store = LXBOX_TRY(open_store(g));
        auto [name, pulled_before] = LXBOX_TRY_CTX(pull_target(store, ref, ""), "launch " + target);
        if (pulled_before) return name;
    }
    PullRequest req;
    req.ref = target;
    req.transport = transport;
    auto done = LXBOX_TRY(pull_and_register(g, req));
    return done.value("name", "");
}

namespace {

Result<int> cmd_pull(const GlobalOptions& g, const PullRequest& req) {
    auto done = LXBOX_TRY(pull_and_register(g, req));
    const std::string name = done.value("name", ""), manifest = done.value("manifest", "");
    if (req.json) {
        std::cout << done.dump() << std::endl;
    } else if (!g.quiet) {
        std::printf("%s: %s (%s)\n", name.c_str(), done.value("reference", "").c_str(), manifest.c_str());
    }
    return 0;
}

Result<int> cmd_push(const GlobalOptions& g, const PushRequest& req) {
    auto ref = LXBOX_TRY_CTX(registry::parse_reference(req.ref), "push");
    auto store = LXBOX_TRY(open_store(g));
    auto reg = LXBOX_TRY(store.load());
    auto it = reg.images.find(req.name);
    if (it == reg.images.end()) return Error(ErrorKind::NotFound, "push: no image named " + req.name);
    if (it->second.manifest.empty())
        return Error(ErrorKind::Unsupported, "push " + req.name +
                                                 ": imported from a rootfs tarball, it has no image manifest to push");
    std::vector<std::string> args{"push", "--store", store.root(), "--manifest", it->second.manifest, ref.to_string()};
    // Pulled from the same registry: the registry mounts the blobs it has instead of taking them again.
    if (auto from = registry::parse_reference(it->second.source); from && from->registry == ref.registry)
        args.insert(args.end(), {"--mount-from", from->repository});
    for (const auto& a : req.transport.args()) args.push_back(a);
    auto bar = std::make_shared<Progress>("pushing " + ref.to_string(), !req.json && Progress::wanted(g.quiet));
    auto done = LXBOX_TRY_CTX(registry::run_registry_helper(args, show_events(bar, req.json)), "push " + req.name);
    bar.reset();
    if (req.json) {
        std::cout << done.dump() << std::endl;
    } else if (!g.quiet) {
        std::printf("%s: %s (%s)\n", ref.to_string().c_str(), it->second.manifest.c_str(), req.name.c_str());
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
    p->add_option("--name", pull->name, "Store name (default: from the reference, debian:bookworm -> debian-bookworm)");
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

    auto push = std::make_shared<PushRequest>();
    auto* u = app.add_subcommand("push", "Push a local image to a registry (blobs it lacks, then the manifest)");
    u->add_option("name", push->name, "Local image name")->required();
    u->add_option("reference", push->ref, "Where to (localhost:5000/app:1.0)")->required();
    u->add_flag("--json", push->json, "Events and the result as JSON lines");
    add_transport_flags(u, push->transport);
    u->callback([&ctx, push] { ctx.action = [&ctx, push] { return cmd_push(ctx.global, *push); }; });

    auto logout = std::make_shared<std::string>();
    auto* o = app.add_subcommand("logout", "Remove a registry's login from lxbox's auth file");
    o->add_option("registry", *logout, "Registry host")->required();
    o->callback([&ctx, logout] { ctx.action = [&ctx, logout] { return cmd_logout(ctx.global, *logout); }; });
}

}  // namespace lxbox::cli
