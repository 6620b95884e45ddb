#include "registry-client/session.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "host/registry/challenge.hpp"
#include "registry-client/credential_helper.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::registry {

namespace {

std::string reason_phrase(long status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 416: return "Range Not Satisfiable";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "";
    }
}

// The registry's own words: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}.
std::string registry_errors(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array()) return "";
    std::string out;
    for (const auto& e : j["errors"]) {
        if (!e.is_object()) continue;
        std::string one = e.value("code", "") + (e.contains("message") && e["message"].is_string()
                                                     ? ": " + e["message"].get<std::string>()
                                                     : "");
        out += (out.empty() ? "" : "; ") + one;
    }
    return out;
}

}  // namespace

Result<std::optional<Credentials>> find_credentials(const std::string& registry, const AuthEnv& env) {
    for (const std::string& path : auth_file_paths(env)) {
        if (::access(path.c_str(), R_OK) != 0) continue;
        auto text = LXBOX_TRY(read_file(path));
        auto source = LXBOX_TRY(credential_source_in(text, registry, path));
        if (!source.helper.empty()) {
            auto found = LXBOX_TRY(run_credential_helper(source.helper, registry));
            if (found) return found;
        } else if (source.credentials) {
            return source.credentials;
        }
    }
    return std::optional<Credentials>{};
}

RegistrySession::RegistrySession(ImageReference ref, TransportOptions transport,
                                 std::optional<Credentials> credentials, std::string actions,
                                 std::vector<std::string> also_pull)
    : ref_(std::move(ref)), transport_(std::move(transport)), credentials_(std::move(credentials)),
      actions_(std::move(actions)), also_pull_(std::move(also_pull)) {}

std::string RegistrySession::url(const std::string& path) const {
    std::lock_guard lock(mutex_);
    std::string base = scheme_ + "://" + ref_.api_host() + "/v2/";
    return path.empty() ? base : base + ref_.repository + "/" + path;
}

std::string RegistrySession::authorization() const {
    std::lock_guard lock(mutex_);
    return authorization_;
}

std::string RegistrySession::describe_failure(const std::string& what, const HttpResponse& r) const {
    std::string line = what + " of " + ref_.to_string() + ": " + std::to_string(r.status);
    if (std::string phrase = reason_phrase(r.status); !phrase.empty()) line += " " + phrase;
    if (std::string errs = registry_errors(r.body); !errs.empty()) line += " (" + errs + ")";
    if (r.status == 401 && !credentials_) line += "; log in with: lxbox login " + ref_.registry;
    if (r.status == 429) line += "; the registry limits requests, try again later";
    return line;
}

Status RegistrySession::authenticate(HttpClient& client, const HttpResponse& challenge_response) {
    auto challenges = parse_www_authenticate(challenge_response.header("www-authenticate"));
    for (const AuthChallenge& c : challenges) {
        if (c.scheme == "bearer") {
            HttpRequest token;
            // A login asks /v2/ with no repository: the challenge's own scope (none) then.
            token.url = token_url(c, ref_.repository.empty() ? "" : "repository:" + ref_.repository + ":" + actions_);
            for (const std::string& repo : also_pull_) token.url += "&scope=" + percent_encode("repository:" + repo + ":pull");
            if (credentials_ && !credentials_->username.empty())
                token.headers.push_back("Authorization: Basic " +
                                        base64_encode(credentials_->username + ":" + credentials_->password));
            auto r = LXBOX_TRY_CTX(client.perform(token), "get a token for " + ref_.to_string());
            if (r.status < 200 || r.status >= 300)
                return Error(ErrorKind::Refused, describe_failure("token request to " + c.param("realm"), r));
            std::string t = token_from_response(r.body);
            if (t.empty()) return Error(ErrorKind::Invalid, "the token server " + c.param("realm") + " answered no token");
            std::lock_guard lock(mutex_);
            authorization_ = "Authorization: Bearer " + t;
            return {};
        }
        if (c.scheme == "basic" && credentials_ && !credentials_->username.empty()) {
            std::lock_guard lock(mutex_);
            authorization_ = "Authorization: Basic " + base64_encode(credentials_->username + ":" + credentials_->password);
            return {};
        }
    }
    return Error(ErrorKind::Refused, describe_failure("authentication", challenge_response));
}

Result<HttpResponse> RegistrySession::send(HttpClient& client, HttpRequest request, const BodySink& sink) {
    const std::string path_url = request.url;
    for (int attempt = 0;; ++attempt) {
        HttpRequest r = request;
        if (std::string a = authorization(); !a.empty()) r.headers.push_back(a);
        auto response = client.perform(r, sink);
        if (!response && client.last_failure_was_tls() && transport_.insecure && attempt == 0 &&
            r.url.rfind("https://", 0) == 0) {
            // --insecure: a registry that answers TLS with plain HTTP is asked over HTTP (docker's rule).
            {
                std::lock_guard lock(mutex_);
                scheme_ = "http";
            }
            request.url = "http://" + request.url.substr(8);
            continue;
        }
        if (!response) return response;
        bool auth_failed = response->status == 401 && !response->header("www-authenticate").empty();
        if (!auth_failed || attempt >= 2 || response->streamed > 0) return response;
        LXBOX_TRY(authenticate(client, *response));
    }
}

}  // namespace lxbox::registry
