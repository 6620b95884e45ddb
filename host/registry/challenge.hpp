// The registry's WWW-Authenticate challenges (RFC 7235) and the token request they lead to
// (the distribution spec's token flow: a 401 names a realm, service and scope; the client
// asks the realm for a bearer token, anonymously or with Basic credentials, and retries).
// Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lxbox::registry {

struct AuthChallenge {
    std::string scheme;                         // lowercase: "bearer", "basic"
    std::map<std::string, std::string> params;  // lowercase keys: realm, service, scope, error
    std::string param(const std::string& key) const;
};

// Every challenge in one header value ("Bearer realm=\"…\",service=\"…\", Basic realm=\"…\"").
// Malformed parameters end the parse; what was read before them is kept.
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);
// The token request's URL: realm?service=…&scope=… (each value percent-encoded). scope, when
// not empty, replaces the challenge's own (a push asks for "repository:x:pull,push").
std::string token_url(const AuthChallenge& bearer, const std::string& scope = "");
// RFC 3986 percent-encoding of everything but the unreserved characters.
std::string percent_encode(std::string_view text);

// The token from a token server's JSON answer ("token", or OAuth's "access_token"); empty when
// neither is there or the body is not JSON.
std::string token_from_response(std::string_view body);

}  // namespace lxbox::registry
