// The registry verbs (pull, login, push, logout; host/cli/registry_commands.cpp), and the pull
// that `launch REF` runs on first use.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"

namespace lxbox::cli {

// --insecure, --tls-verify, --ca-file, as lxbox-registry takes them.
struct TransportFlags {
    bool insecure = false;
    std::string tls_verify = "true", ca_file;
    std::vector<std::string> args() const;  // lxbox-registry's flags for these
};

// What `lxbox pull` was asked.
struct PullRequest {
    std::string ref, platform, name;
    TransportFlags transport;
    bool json = false;
};

// Pulls req.ref (lxbox-registry) and registers it in the store: the helper's "done" event
// ({"reference","manifest","fetched","present",...}) with the image's store "name" added.
Result<nlohmann::json> pull_and_register(const GlobalOptions& g, const PullRequest& req);

// --insecure, --tls-verify and --ca-file on a verb that talks to a registry.
void add_transport_flags(CLI::App* cmd, TransportFlags& t);

// Whether launch's target is a registry reference: it has ':', '/' or '@', which no distro or
// container name may have (store::validate_name), so `launch debian` stays a local name.
bool names_a_registry_image(const std::string& target);

// `launch REF`: the store's image pulled from REF, pulled now if it was not yet (docker run's
// pull on first use; a later `lxbox pull REF` updates it). Returns the image's store name.
Result<std::string> image_for_launch(const GlobalOptions& g, const std::string& target,
                                     const TransportFlags& transport);

}  // namespace lxbox::cli
