#include "host/registry/reference.hpp"

#include <algorithm>
#include <cctype>

namespace lxbox::registry {

namespace {

constexpr std::string_view kDockerHub = "docker.io";

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component of a repository: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'
// (docker's distribution/reference grammar).
bool valid_component(std::string_view c) {
    if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
    for (size_t i = 0; i < c.size();) {
        if (is_lower_alnum(c[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < c.size() && !is_lower_alnum(c[j])) ++j;
        std::string_view sep = c.substr(i, j - i);
        bool dashes = std::all_of(sep.begin(), sep.end(), [](char x) { return x == '-'; });
        if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
        i = j;
    }
    return true;
}

// A registry host: letters, digits, '-', '.', an optional :port, or a bracketed IPv6 address.
bool valid_registry(std::string_view r) {
    if (r.empty()) return false;
    std::string_view host = r, port;
    if (r.front() == '[') {
        size_t close = r.find(']');
        if (close == std::string_view::npos) return false;
        host = r.substr(1, close - 1);
        std::string_view rest = r.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return false;
        port = rest.empty() ? rest : rest.substr(1);
        if (rest.size() == 1) return false;
        return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
                   return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
               }) && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    }
    if (size_t colon = r.rfind(':'); colon != std::string_view::npos) {
        host = r.substr(0, colon);
        port = r.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return false;
    }
    if (host.empty() || host.front() == '-' || host.front() == '.' || host.back() == '-' || host.back() == '.')
        return false;
    return std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    });
}

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128 || t.front() == '.' || t.front() == '-') return false;
    return std::all_of(t.begin(), t.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
}

}  // namespace

bool is_sha256_digest(std::string_view text) {
    if (text.size() != 71 || text.substr(0, 7) != "sha256:") return false;
    return std::all_of(text.begin() + 7, text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<ImageReference> parse_reference(std::string_view text) {
    const std::string quoted = "'" + std::string(text) + "'";
    if (text.empty()) return Error(ErrorKind::Invalid, "an empty image reference");
    ImageReference ref;
    std::string_view rest = text;
    if (size_t at = rest.find('@'); at != std::string_view::npos) {
        ref.digest = std::string(rest.substr(at + 1));
        rest = rest.substr(0, at);
        if (!is_sha256_digest(ref.digest))
            return Error(ErrorKind::Invalid, "image reference " + quoted + ": the digest is not sha256:<64 hex digits>");
    }
    // A tag is after the last ':' that follows the last '/' (a registry's port comes before it).
    size_t slash = rest.rfind('/');
    size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        ref.tag = std::string(rest.substr(colon + 1));
        rest = rest.substr(0, colon);
        if (!valid_tag(ref.tag))
            return Error(ErrorKind::Invalid, "image reference " + quoted + ": bad tag '" + ref.tag +
                                                 "' (letters, digits, '_', '.', '-'; at most 128)");
    }
    // The first component is a registry when it looks like a host (docker's rule).
    std::string_view name = rest;
    if (size_t first = rest.find('/'); first != std::string_view::npos) {
        std::string_view head = rest.substr(0, first);
        if (head.find('.') != std::string_view::npos || head.find(':') != std::string_view::npos ||
            head == "localhost" || head.front() == '[') {
            if (!valid_registry(head))
                return Error(ErrorKind::Invalid, "image reference " + quoted + ": bad registry '" + std::string(head) + "'");
            ref.registry = std::string(head);
            name = rest.substr(first + 1);
        }
    }
    if (ref.registry.empty() || ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io")
        ref.registry = std::string(kDockerHub);
    if (name.empty()) return Error(ErrorKind::Invalid, "image reference " + quoted + ": no repository name");
    for (size_t start = 0;;) {
        size_t end = name.find('/', start);
        std::string_view component = name.substr(start, end == std::string_view::npos ? end : end - start);
        if (!valid_component(component)) {
            bool upper = std::any_of(component.begin(), component.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
            return Error(ErrorKind::Invalid,
                         "image reference " + quoted + ": bad repository name '" + std::string(name) + "'" +
                             (upper ? " (it must be lowercase)" : " (lowercase letters, digits and . _ - between them)"));
        }
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    ref.repository = std::string(name);
    if (ref.registry == kDockerHub && ref.repository.find('/') == std::string::npos)
        ref.repository = "library/" + ref.repository;
    if (ref.registry.size() + 1 + ref.repository.size() > 255)
        return Error(ErrorKind::Invalid, "image reference " + quoted + ": the name is longer than 255 characters");
    if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
    return ref;
}

std::string default_image_name(const ImageReference& ref) {
    std::string name = ref.repository.substr(ref.repository.rfind('/') + 1);
    if (!ref.tag.empty() && ref.tag != "latest") name += "-" + ref.tag;
    else if (ref.tag.empty() && !ref.digest.empty()) name += "-" + ref.digest.substr(7, 12);
    return name.substr(0, 64);
}

std::string ImageReference::api_host() const {
    return registry == kDockerHub ? "registry-1.docker.io" : registry;
}

std::string ImageReference::manifest_reference() const { return digest.empty() ? tag : digest; }

std::string ImageReference::to_string() const {
    std::string s = registry + "/" + repository;
    if (!tag.empty()) s += ":" + tag;
    if (!digest.empty()) s += "@" + digest;
    return s;
}

}  // namespace lxbox::registry
