// One repository on one registry, as the distribution API sees it: URLs under /v2/<name>/,
// and the authentication every request carries. The first 401 names how to authenticate
// (WWW-Authenticate): Bearer → a token from the realm (anonymous, or with the stored
// credentials as Basic), Basic → the stored credentials; the request is then sent again.
// Shared by the download threads: each brings its own HttpClient, the token is one.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/registry/credentials.hpp"
#include "host/registry/reference.hpp"
#include "registry-client/http.hpp"

namespace lxbox::registry {

class RegistrySession {
public:
    // actions: "pull" or "pull,push" (the token's scope); also_pull: other repositories of the
    // registry the token must read (a push's cross-repository mount source).
    RegistrySession(ImageReference ref, TransportOptions transport, std::optional<Credentials> credentials,
                    std::string actions = "pull", std::vector<std::string> also_pull = {});

    const ImageReference& reference() const { return ref_; }
    const TransportOptions& transport() const { return transport_; }
    // scheme://host/v2/<repository>/<path>; "" path gives the API root /v2/.
    std::string url(const std::string& path) const;
    // Sends request (its url made by url()), authenticating on a 401 and sending it again
    // once. With --insecure, a registry that does not speak TLS is asked again over HTTP.
    Result<HttpResponse> send(HttpClient& client, HttpRequest request, const BodySink& sink = nullptr);
    // A non-2xx answer as one line: "GET manifest of REF: 404 Not Found (MANIFEST_UNKNOWN: ...)".
    std::string describe_failure(const std::string& what, const HttpResponse& response) const;

private:
    Status authenticate(HttpClient& client, const HttpResponse& challenge_response);
    std::string authorization() const;

    ImageReference ref_;
    TransportOptions transport_;
    std::optional<Credentials> credentials_;
    std::string actions_;
    std::vector<std::string> also_pull_;
    mutable std::mutex mutex_;  // guards the two below
    std::string scheme_ = "https";
    std::string authorization_;  // "Authorization: Bearer …" once known
};

// Looks for credentials for registry in the auth files (credentials.hpp's order), asking the
// credential helper a file names for it (credential_helper.hpp).
Result<std::optional<Credentials>> find_credentials(const std::string& registry, const AuthEnv& env);

}  // namespace lxbox::registry
