#include "host/distro/manifest.hpp"

#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "runtime/base/printable.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::distro {

namespace {

// The manifest's strings are in the text (a path, a mode): escaped, so the error is one line
// whatever they hold (the distro_manifest fuzz target found a newline in a path).
Error invalid(const std::string& what) { return Error(ErrorKind::Invalid, printable(what)); }

Result<unsigned> parse_mode(const nlohmann::json& j) {
    if (!j.is_string()) return invalid("post_import write: 'mode' must be an octal string such as \"0644\"");
    const std::string s = j.get<std::string>();
    size_t used = 0;
    unsigned long v = 0;
    try {
        v = std::stoul(s, &used, 8);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != s.size() || s.empty() || v > 07777) return invalid("post_import write: bad mode '" + s + "'");
    return static_cast<unsigned>(v);
}

Result<WriteStep> parse_write_step(const nlohmann::json& w) {
    WriteStep step;
    if (!w.is_object() || !w.contains("path") || !w["path"].is_string())
        return invalid("post_import write: 'path' (a string) is required");
    step.path = w["path"].get<std::string>();
    if (step.path.empty() || step.path[0] != '/')
        return invalid("post_import write: path '" + step.path + "' must be absolute");
    if (!w.contains("content") || !w["content"].is_string())
        return invalid("post_import write " + step.path + ": 'content' (a string) is required");
    step.content = w["content"].get<std::string>();
    if (w.contains("mode")) step.mode = LXBOX_TRY(parse_mode(w["mode"]));
    return step;
}

Status parse_source(const nlohmann::json& j, Manifest& m) {
    if (!j.contains("source") || !j["source"].is_object())
        return invalid("'source' must be an object with 'tarball' or 'build'");
    const auto& src = j["source"];
    const bool has_tar = src.contains("tarball"), has_build = src.contains("build");
    if (has_tar == has_build) return invalid("'source' must have exactly one of 'tarball' and 'build'");
    if (has_tar) {
        if (!src["tarball"].is_string() || src["tarball"].get<std::string>().empty())
            return invalid("source.tarball must be a non-empty string");
        m.tarball = src["tarball"].get<std::string>();
        if (m.tarball[0] != '/') m.tarball = m.directory + "/" + m.tarball;
        return {};
    }
    if (!src["build"].is_array() || src["build"].empty())
        return invalid("source.build must be a non-empty array of strings (an argv)");
    for (const auto& a : src["build"]) {
        if (!a.is_string()) return invalid("source.build must be an array of strings");
        m.build.push_back(a.get<std::string>());
    }
    return {};
}

Status parse_sha256(const nlohmann::json& j, Manifest& m) {
    if (!j.contains("sha256")) return {};
    if (!j["sha256"].is_string()) return invalid("'sha256' must be a string");
    m.sha256 = j["sha256"].get<std::string>();
    for (auto& c : m.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (m.sha256.size() != 64 || m.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
        return invalid("'sha256' must be 64 hex digits");
    return {};
}

}  // namespace

Result<Manifest> parse_manifest(const std::string& text, const std::string& directory) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        return invalid(std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) return invalid("a manifest must be a JSON object");
    Manifest m;
    m.directory = directory;
    if (!j.contains("name") || !j["name"].is_string()) return invalid("'name' (a string) is required");
    m.name = j["name"].get<std::string>();
    LXBOX_TRY(store::validate_name(m.name));
    if (j.contains("arch")) {
        if (!j["arch"].is_string()) return invalid("'arch' must be a string");
        m.arch = j["arch"].get<std::string>();
    }
    LXBOX_TRY(parse_source(j, m));
    LXBOX_TRY(parse_sha256(j, m));
    if (j.contains("post_import")) {
        if (!j["post_import"].is_array()) return invalid("'post_import' must be an array");
        for (const auto& step : j["post_import"]) {
            if (!step.is_object() || !step.contains("write"))
                return invalid("post_import: each step must be {\"write\": {...}}");
            m.post_import.push_back(LXBOX_TRY(parse_write_step(step["write"])));
        }
    }
    return m;
}

Result<Manifest> load_manifest(const std::string& path) {
    auto text = LXBOX_TRY(read_file(path));
    // Relative paths in the manifest are relative to the manifest itself, wherever lxbox runs.
    char* real = ::realpath(path.c_str(), nullptr);
    if (!real) return Error::last("manifest " + path);
    std::string abs = real;
    ::free(real);
    const size_t slash = abs.rfind('/');
    const std::string dir = slash == 0 ? abs.substr(0, 1) : abs.substr(0, slash);
    return std::move(parse_manifest(text, dir)).context("manifest " + path);
}

}  // namespace lxbox::distro
