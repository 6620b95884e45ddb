#include "host/registry/credentials.hpp"

#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

namespace lxbox::registry {

namespace {

const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// A key's host: "https://index.docker.io/v1/" → "index.docker.io"; docker.io's aliases are one.
std::string key_host(std::string_view key) {
    if (size_t p = key.find("://"); p != std::string_view::npos) key = key.substr(p + 3);
    key = key.substr(0, key.find('/'));
    if (key == "index.docker.io" || key == "registry-1.docker.io") return "docker.io";
    return std::string(key);
}

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

}  // namespace

AuthEnv AuthEnv::from_process() {
    return AuthEnv{env_or_empty("HOME"), env_or_empty("XDG_CONFIG_HOME"), env_or_empty("XDG_RUNTIME_DIR"),
                   env_or_empty("DOCKER_CONFIG"), env_or_empty("REGISTRY_AUTH_FILE")};
}

std::string lxbox_auth_file(const AuthEnv& env) {
    if (!env.xdg_config_home.empty()) return env.xdg_config_home + "/lxbox/auth.json";
    return env.home + "/.config/lxbox/auth.json";
}

std::vector<std::string> auth_file_paths(const AuthEnv& env) {
    std::vector<std::string> paths{lxbox_auth_file(env)};
    if (!env.registry_auth_file.empty()) paths.push_back(env.registry_auth_file);
    if (!env.xdg_runtime_dir.empty()) paths.push_back(env.xdg_runtime_dir + "/containers/auth.json");
    paths.push_back((env.xdg_config_home.empty() ? env.home + "/.config" : env.xdg_config_home) +
                    "/containers/auth.json");
    paths.push_back(env.docker_config.empty() ? env.home + "/.docker/config.json" : env.docker_config + "/config.json");
    return paths;
}

std::string base64_encode(std::string_view data) {
    std::string out;
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        unsigned v = (unsigned char)data[i] << 16 | (unsigned char)data[i + 1] << 8 | (unsigned char)data[i + 2];
        for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
    }
    if (size_t rest = data.size() - i; rest > 0) {
        unsigned v = (unsigned char)data[i] << 16 | (rest == 2 ? (unsigned char)data[i + 1] << 8 : 0);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    unsigned v = 0;
    int bits = 0;
    for (char c : text) {
        const char* p = std::strchr(kAlphabet, c);
        if (c == '\0' || p == nullptr) return std::nullopt;
        v = (v << 6) | static_cast<unsigned>(p - kAlphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((v >> bits) & 0xff);
        }
    }
    return out;
}

Result<std::optional<Credentials>> credentials_in(std::string_view json_text, const std::string& registry,
                                                  const std::string& file_name) {
    auto j = nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_object()) return Error(ErrorKind::Invalid, file_name + ": not a JSON object");
    auto auths = j.find("auths");
    if (auths == j.end() || !auths->is_object()) return std::optional<Credentials>{};
    const std::string want = key_host(registry);
    for (const auto& [key, entry] : auths->items()) {
        if (key_host(key) != want || !entry.is_object()) continue;
        Credentials c;
        if (auto t = entry.find("identitytoken"); t != entry.end() && t->is_string()) c.identity_token = *t;
        if (auto a = entry.find("auth"); a != entry.end() && a->is_string() && !a->get<std::string>().empty()) {
            auto decoded = base64_decode(a->get<std::string>());
            size_t colon = decoded ? decoded->find(':') : std::string::npos;
            if (colon == std::string::npos)
                return Error(ErrorKind::Invalid, file_name + ": the \"auth\" of " + key + " is not base64 of user:password");
            c.username = decoded->substr(0, colon);
            c.password = decoded->substr(colon + 1);
        }
        if (c.username.empty() && c.identity_token.empty()) continue;  // a credential helper's placeholder
        return std::optional<Credentials>{c};
    }
    return std::optional<Credentials>{};
}

Result<CredentialSource> credential_source_in(std::string_view json_text, const std::string& registry,
                                              const std::string& file_name) {
    auto j = nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_object()) return Error(ErrorKind::Invalid, file_name + ": not a JSON object");
    if (auto helpers = j.find("credHelpers"); helpers != j.end() && helpers->is_object())
        for (const auto& [key, helper] : helpers->items())
            if (key_host(key) == key_host(registry) && helper.is_string() && !helper.get<std::string>().empty())
                return CredentialSource{helper.get<std::string>(), std::nullopt};
    if (auto store = j.find("credsStore"); store != j.end() && store->is_string() && !store->get<std::string>().empty())
        return CredentialSource{store->get<std::string>(), std::nullopt};
    return CredentialSource{"", LXBOX_TRY(credentials_in(json_text, registry, file_name))};
}

std::string helper_server_url(const std::string& registry) {
    return key_host(registry) == "docker.io" ? "https://index.docker.io/v1/" : registry;
}

Result<std::optional<Credentials>> credentials_from_helper(int exit_status, std::string_view output,
                                                           const std::string& helper, const std::string& registry) {
    const std::string who = "the credential helper docker-credential-" + helper + " for " + registry;
    if (exit_status != 0) {
        // docker-credential-helpers' ErrCredentialsNotFound: the registry is not in its store.
        if (output.find("credentials not found") != std::string_view::npos) return std::optional<Credentials>{};
        std::string said(output.substr(0, output.find_last_not_of(" \n\r\t") + 1));
        for (char& c : said)
            if (c == '\n' || c == '\r') c = ' ';
        if (said.size() > 200) said = said.substr(0, 200) + "...";
        return Error(ErrorKind::System, who + " failed (exit status " + std::to_string(exit_status) + ")" +
                                          (said.empty() ? "" : ": " + said));
    }
    auto j = nlohmann::json::parse(output, nullptr, false);
    if (!j.is_object() || !j.value("Secret", nlohmann::json()).is_string() ||
        !j.value("Username", nlohmann::json("")).is_string())
        return Error(ErrorKind::Invalid, who + " answered with no {\"Username\", \"Secret\"} JSON object");
    Credentials c;
    const std::string user = j.value("Username", ""), secret = j.value("Secret", "");
    if (user == "<token>") c.identity_token = secret;
    else c = Credentials{user, secret, ""};
    if (c.username.empty() && c.identity_token.empty()) return std::optional<Credentials>{};
    return std::optional<Credentials>{c};
}

Result<std::string> with_credentials(std::string_view json_text, const std::string& registry, const Credentials& c) {
    nlohmann::json j = json_text.empty() ? nlohmann::json::object() : nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_object()) return Error(ErrorKind::Invalid, "the auth file is not a JSON object");
    auto [text, had] = LXBOX_TRY(without_credentials(j.dump(), registry));
    (void)had;
    j = nlohmann::json::parse(text);
    j["auths"][registry] = {{"auth", base64_encode(c.username + ":" + c.password)}};
    return j.dump(2) + "\n";
}

Result<std::pair<std::string, bool>> without_credentials(std::string_view json_text, const std::string& registry) {
    nlohmann::json j = json_text.empty() ? nlohmann::json::object() : nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_object()) return Error(ErrorKind::Invalid, "the auth file is not a JSON object");
    bool had = false;
    if (auto auths = j.find("auths"); auths != j.end() && auths->is_object()) {
        for (auto it = auths->begin(); it != auths->end();) {
            if (key_host(it.key()) == key_host(registry)) {
                it = auths->erase(it);
                had = true;
            } else {
                ++it;
            }
        }
    }
    return std::make_pair(j.dump(2) + "\n", had);
}

}  // namespace lxbox::registry
