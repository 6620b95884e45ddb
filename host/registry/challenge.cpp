#include "host/registry/challenge.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

namespace lxbox::registry {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_space(std::string_view s, size_t& i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string read_token(std::string_view s, size_t& i) {
    size_t start = i;
    while (i < s.size() && is_token_char(s[i])) ++i;
    return std::string(s.substr(start, i - start));
}

// A quoted-string with backslash escapes, i at the opening quote; false if unterminated.
bool read_quoted(std::string_view s, size_t& i, std::string& out) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            out += s[++i];
        } else if (s[i] == '"') {
            ++i;
            return true;
        } else {
            out += s[i];
        }
    }
    return false;
}

}  // namespace

std::string AuthChallenge::param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? "" : it->second;
}

std::vector<AuthChallenge> parse_www_authenticate(std::string_view h) {
    std::vector<AuthChallenge> out;
    size_t i = 0;
    while (i < h.size()) {
        skip_space(h, i);
        if (i < h.size() && h[i] == ',') {
            ++i;
            continue;
        }
        std::string word = read_token(h, i);
        if (word.empty()) break;
        size_t after = i;
        skip_space(h, after);
        if (after < h.size() && h[after] == '=' && !out.empty()) {  // a parameter of the current challenge
            i = after + 1;
            skip_space(h, i);
            std::string value;
            if (i < h.size() && h[i] == '"') {
                if (!read_quoted(h, i, value)) break;
            } else {  // unquoted: RFC 7235 wants a token, servers send URLs too; up to ',' or space
                size_t start = i;
                while (i < h.size() && h[i] != ',' && h[i] != ' ' && h[i] != '\t') ++i;
                value = std::string(h.substr(start, i - start));
            }
            out.back().params[lower(word)] = value;
        } else {  // a new challenge's scheme
            out.push_back(AuthChallenge{lower(word), {}});
        }
    }
    return out;
}

std::string percent_encode(std::string_view text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string token_url(const AuthChallenge& bearer, const std::string& scope) {
    std::string url = bearer.param("realm");
    char sep = url.find('?') == std::string::npos ? '?' : '&';
    if (std::string service = bearer.param("service"); !service.empty()) {
        url += sep + std::string("service=") + percent_encode(service);
        sep = '&';
    }
    if (std::string s = scope.empty() ? bearer.param("scope") : scope; !s.empty())
        url += sep + std::string("scope=") + percent_encode(s);
    return url;
}

std::string token_from_response(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) return "";
    for (const char* key : {"token", "access_token"})
        if (auto it = j.find(key); it != j.end() && it->is_string() && !it->get<std::string>().empty())
            return it->get<std::string>();
    return "";
}

}  // namespace lxbox::registry
