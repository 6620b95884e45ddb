// Docker's credential helpers: `credsStore` and `credHelpers` in ~/.docker/config.json (and
// podman's auth.json) name a program, docker-credential-<name>, that keeps the secrets in the
// desktop's keychain, pass, or a cloud's token service; lxbox asks it as docker does.
#pragma once

#include <optional>
#include <string>

#include "host/registry/credentials.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::registry {

// Runs `docker-credential-<helper> get` (found in PATH) with registry's server URL on its stdin
// (helper_server_url): its credentials, none (it has none for the registry), or an error that
// says, on one line, which helper failed for which registry and what it said.
Result<std::optional<Credentials>> run_credential_helper(const std::string& helper, const std::string& registry);

}  // namespace lxbox::registry
