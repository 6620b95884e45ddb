// Pure rules over archive entry names (unit-tested in tests/unit/archive_policy_test.cpp).
#include <limits.h>

#include <string>

#include "runtime/archive/archive.hpp"

namespace lxbox::archive {

std::string normalize_entry_path(std::string_view path) {
    while (path.size() >= 2 && path.substr(0, 2) == "./") {
        path.remove_prefix(2);
        while (!path.empty() && path.front() == '/' ) path.remove_prefix(1);
    }
    if (path == ".") return "";
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    return std::string(path);
}

Status check_entry_path(std::string_view path) {
    auto refuse = [&](const std::string& why) {
        std::string shown(path.substr(0, 120));
        if (path.size() > 120) shown += "...";
        return Error(ErrorKind::Refused, "entry '" + shown + "' " + why + ": refused");
    };
    if (path.size() >= PATH_MAX) return refuse("is longer than PATH_MAX");
    if (!path.empty() && path.front() == '/') return refuse("is an absolute path");
    if (path.find('\0') != std::string_view::npos) return refuse("holds a NUL byte");
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        std::string_view part = path.substr(start, end - start);
        if (part == "..") return refuse("escapes the root");
        if (part.size() > NAME_MAX) return refuse("has a component longer than NAME_MAX");
        start = end + 1;
    }
    return {};
}

Result<LayerEntry> layer_entry(const std::string& path) {
    constexpr std::string_view kPrefix = ".wh.";
    constexpr std::string_view kOpaque = ".wh..wh..opq";
    auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash);
    const std::string_view leaf = std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
    if (!leaf.starts_with(kPrefix)) return LayerEntry{LayerEntry::Kind::Plain, path};
    if (leaf == kOpaque) return LayerEntry{LayerEntry::Kind::Opaque, dir};
    if (leaf.starts_with(".wh..wh.")) return LayerEntry{LayerEntry::Kind::Skip, path};
    const std::string_view name = leaf.substr(kPrefix.size());
    if (name.empty() || name == "." || name == "..")
        return Error(ErrorKind::Refused, "whiteout '" + path + "' names a path outside its directory: refused");
    return LayerEntry{LayerEntry::Kind::Whiteout, (dir.empty() ? "" : dir + "/") + std::string(name)};
}

Result<Compression> compression_for_filename(const std::string& name) {
    auto ends = [&](std::string_view suffix) {
        return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".tar")) return Compression::None;
    if (ends(".tar.gz") || ends(".tgz")) return Compression::Gzip;
    if (ends(".tar.xz") || ends(".txz")) return Compression::Xz;
    if (ends(".tar.zst") || ends(".tzst")) return Compression::Zstd;
    if (ends(".tar.bz2") || ends(".tbz2")) return Compression::Bzip2;
    return Error(ErrorKind::Invalid, "cannot tell the format from '" + name +
                                         "': use .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2");
}

}  // namespace lxbox::archive
