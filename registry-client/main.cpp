// lxbox-registry: the registry client lxbox spawns for pull, push and login (see
// CMakeLists.txt for why it is a separate executable). Its stdout is JSON lines for lxbox
// (events.hpp); the last is "done" or "error". Not meant to be run by hand, but it can be:
//   lxbox-registry pull --store DIR [--platform P] [--insecure] [--tls-verify=false] [--ca-file F] REF
//   lxbox-registry push --store DIR --manifest sha256:... [--mount-from REPO] REF
//   lxbox-registry login -u USER REGISTRY   (the password on stdin)
//   lxbox-registry logout REGISTRY
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>

#include "host/registry/credentials.hpp"
#include "registry-client/pull.hpp"
#include "registry-client/push.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::registry {
namespace {

struct Args {
    std::string ref, store, platform, manifest, user, ca_file, mount_from;
    bool insecure = false, tls_verify = true;
    int jobs = 4;
};

TransportOptions transport_of(const Args& a) { return TransportOptions{a.insecure, a.tls_verify, a.ca_file}; }

Result<nlohmann::json> run_pull(const Args& a, Events& events) {
    PullOptions o;
    o.ref = LXBOX_TRY(parse_reference(a.ref));
    o.transport = transport_of(a);
    o.platform = a.platform.empty() ? image::host_platform() : LXBOX_TRY(image::parse_platform(a.platform));
    o.store_root = a.store;
    o.jobs = a.jobs;
    auto r = LXBOX_TRY(pull_image(o, events));
    return nlohmann::json{{"event", "done"},       {"reference", o.ref.to_string()}, {"manifest", r.manifest.str()},
                          {"fetched", r.fetched}, {"present", r.present},          {"fetched_bytes", r.fetched_bytes}};
}

Result<nlohmann::json> run_push(const Args& a, Events& events) {
    PushOptions o;
    o.ref = LXBOX_TRY(parse_reference(a.ref));
    o.transport = transport_of(a);
    o.store_root = a.store;
    o.manifest = LXBOX_TRY(image::parse_digest(a.manifest));
    o.mount_from = a.mount_from;
    auto r = LXBOX_TRY(push_image(o, events));
    return nlohmann::json{{"event", "done"},
                          {"reference", o.ref.to_string()},
                          {"manifest", r.manifest.str()},
                          {"uploaded", r.uploaded},
                          {"mounted", r.mounted},
                          {"present", r.present}};
}

// The registry part of a reference-like argument ("localhost:5000", "docker.io").
Result<ImageReference> registry_only(const std::string& text) {
    auto ref = LXBOX_TRY(parse_reference(text + "/x"));
    if (text.find('.') == std::string::npos && text.find(':') == std::string::npos && text != "localhost")
        return Error(ErrorKind::Invalid, "'" + text + "' is not a registry host (docker.io, localhost:5000, ...)");
    ref.repository.clear();
    return ref;
}

Status save_auth_file(const std::function<Result<std::string>(const std::string&)>& change) {
    const std::string path = lxbox_auth_file(AuthEnv::from_process());
    std::string text;
    if (::access(path.c_str(), F_OK) == 0) text = LXBOX_TRY(read_file(path));
    std::string updated = LXBOX_TRY_CTX(change(text), path);
    const std::string dir = path.substr(0, path.rfind('/'));
    for (size_t pos = 1; (pos = dir.find('/', pos)) != std::string::npos; ++pos) ::mkdir(dir.substr(0, pos).c_str(), 0700);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + dir);
    return write_file_atomic(path, updated, Durability::Durable, 0600);
}

Result<nlohmann::json> run_login(const Args& a) {
    auto ref = LXBOX_TRY(registry_only(a.ref));
    Credentials c{a.user, "", ""};
    if (!std::getline(std::cin, c.password) || c.password.empty())
        return Error(ErrorKind::Invalid, "login: no password on stdin");
    LXBOX_TRY(check_login(ref, transport_of(a), c));
    LXBOX_TRY(save_auth_file([&](const std::string& text) { return with_credentials(text, ref.registry, c); }));
    return nlohmann::json{{"event", "done"}, {"registry", ref.registry}, {"file", lxbox_auth_file(AuthEnv::from_process())}};
}

Result<nlohmann::json> run_logout(const Args& a) {
    auto ref = LXBOX_TRY(registry_only(a.ref));
    bool had = false;
    LXBOX_TRY(save_auth_file([&](const std::string& text) -> Result<std::string> {
        auto [updated, was] = LXBOX_TRY(without_credentials(text, ref.registry));
        had = was;
        return updated;
    }));
    if (!had) return Error(ErrorKind::NotFound, "not logged in to " + ref.registry + " (in lxbox's auth file)");
    return nlohmann::json{{"event", "done"}, {"registry", ref.registry}};
}

void add_transport(CLI::App* cmd, Args& a) {
    cmd->add_flag("--insecure", a.insecure, "Allow plain HTTP");
    cmd->add_option("--tls-verify", a.tls_verify, "Verify the registry's certificate (default true)");
    cmd->add_option("--ca-file", a.ca_file, "A CA certificate to trust");
}

int run(int argc, char** argv) {
    CLI::App app{"lxbox-registry: lxbox's registry client (spawned by lxbox)"};
    app.require_subcommand(1);
    Args a;
    auto* pull = app.add_subcommand("pull");
    pull->add_option("REF", a.ref)->required();
    pull->add_option("--store", a.store)->required();
    pull->add_option("--platform", a.platform);
    pull->add_option("--jobs", a.jobs)->check(CLI::Range(1, 32));
    add_transport(pull, a);
    auto* push = app.add_subcommand("push");
    push->add_option("REF", a.ref)->required();
    push->add_option("--store", a.store)->required();
    push->add_option("--manifest", a.manifest)->required();
    push->add_option("--mount-from", a.mount_from, "A repository of the same registry to mount blobs from");
    add_transport(push, a);
    auto* login = app.add_subcommand("login");
    login->add_option("REGISTRY", a.ref)->required();
    login->add_option("-u,--username", a.user)->required();
    add_transport(login, a);
    auto* logout = app.add_subcommand("logout");
    logout->add_option("REGISTRY", a.ref)->required();
    CLI11_PARSE(app, argc, argv);
    // lxbox killed means the pull is killed: the helper goes too (what it had stays in the blob
    // store's partial file for the next pull), rather than finishing a pull nobody registers.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) return 1;  // the parent was gone before the line above

    if (auto st = http_global_init(); !st) {
        std::cout << nlohmann::json{{"event", "error"}, {"error", st.error()}}.dump() << std::endl;
        return 1;
    }
    Events events(STDOUT_FILENO);
    Result<nlohmann::json> r = pull->parsed()   ? run_pull(a, events)
                               : push->parsed() ? run_push(a, events)
                               : login->parsed() ? run_login(a)
                                                 : run_logout(a);
    if (!r) {
        events.emit({{"event", "error"}, {"error", r.error()}});
        return 1;
    }
    events.emit(*r);
    return 0;
}

}  // namespace
}  // namespace lxbox::registry

int main(int argc, char** argv) { return lxbox::registry::run(argc, argv); }
