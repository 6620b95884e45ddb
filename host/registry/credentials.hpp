// Registry credentials: looked up in lxbox's own auth file, then podman's auth.json, then
// docker's config.json (the same format in all three: {"auths": {"HOST": {"auth":
// base64("user:password")}}}), and stored by `lxbox login` in lxbox's own file only, mode
// 0600: docker's file may name credential helpers and keys of other tools that a rewrite
// would have to preserve, and a user who wants docker to share the login copies the entry.
// A file may instead name a credential helper (credHelpers, credsStore), which
// registry-client/credential_helper.hpp runs. Pure but for the file paths' environment, which
// the caller passes in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::registry {

struct Credentials {
    std::string username, password;
    std::string identity_token;  // docker's "identitytoken": an OAuth refresh token
};

// The environment the auth files' paths depend on (std::getenv's values, empty when unset).
struct AuthEnv {
    std::string home, xdg_config_home, xdg_runtime_dir, docker_config, registry_auth_file;
    static AuthEnv from_process();
};

// lxbox's own file: $XDG_CONFIG_HOME/lxbox/auth.json or ~/.config/lxbox/auth.json.
std::string lxbox_auth_file(const AuthEnv& env);
// Every file looked in, first match wins: lxbox's own, $REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, docker's config.json.
std::vector<std::string> auth_file_paths(const AuthEnv& env);

// The entry for registry in one file's text (keys as docker and podman write them:
// "host[:port]", "https://host/v1/", docker.io's "https://index.docker.io/v1/"). nullopt when
// there is none; an error when the file is not JSON or the entry's "auth" is not base64 of
// "user:password".
Result<std::optional<Credentials>> credentials_in(std::string_view json_text, const std::string& registry,
                                                  const std::string& file_name);
// Where one file says registry's credentials are, in docker's order: the credential helper its
// "credHelpers" names for the registry's host, else its "credsStore" (the helper for every
// registry), else its "auths" entry (credentials_in).
struct CredentialSource {
    std::string helper;                      // run docker-credential-<helper> get
    std::optional<Credentials> credentials;  // else these (none: the file has nothing for it)
};
Result<CredentialSource> credential_source_in(std::string_view json_text, const std::string& registry,
                                              const std::string& file_name);

// Pure: what a credential helper's `get` reads on stdin for registry: docker.io's
// "https://index.docker.io/v1/" (what docker stores it under), the host[:port] of any other.
std::string helper_server_url(const std::string& registry);
// Pure: a helper's answer to `get` (exit status, and stdout with stderr): nullopt when it has no
// credentials for the registry (docker-credential-helpers' "credentials not found" answer);
// {"Username","Secret"} as the credentials ("<token>" as Username: Secret is an identity
// token); anything else an error naming the helper, the registry and what it said, on one line.
Result<std::optional<Credentials>> credentials_from_helper(int exit_status, std::string_view output,
                                                           const std::string& helper, const std::string& registry);

// text with registry's entry set (other keys and entries kept); text may be empty.
Result<std::string> with_credentials(std::string_view json_text, const std::string& registry, const Credentials& c);
// text without registry's entry; false in the pair when there was none.
Result<std::pair<std::string, bool>> without_credentials(std::string_view json_text, const std::string& registry);

std::string base64_encode(std::string_view data);
// nullopt on characters outside the alphabet or a bad length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace lxbox::registry
