// The pure half of `lxbox shim --desktop`: the .desktop rewrite, Exec quoting, the icon choice
// and the export's names and manifest.
#include "host/desktop/desktop_entry.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <tuple>

namespace lxbox::desktop {

namespace {

constexpr const char* kMainGroup = "Desktop Entry";

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> out;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, sep)) out.push_back(part);
    return out;
}

std::string join(const std::vector<std::string>& parts, char sep) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : std::string(1, sep)) + p;
    return out;
}

// One line of an entry: a group header, a key and its value, or anything else (comments).
struct Line {
    std::string group;      // set on a "[Group]" line
    std::string key, value;  // set on a "Key=Value" line (spaces around '=' dropped)
};

Line parse_line(const std::string& line) {
    Line l;
    if (line.size() >= 2 && line.front() == '[' && line.back() == ']') {
        l.group = line.substr(1, line.size() - 2);
        return l;
    }
    if (line.empty() || line[0] == '#') return l;
    const auto eq = line.find('=');
    if (eq == std::string::npos) return l;
    l.key = line.substr(0, eq);
    while (!l.key.empty() && l.key.back() == ' ') l.key.pop_back();
    l.value = line.substr(line.find_first_not_of(' ', eq + 1) == std::string::npos ? line.size()
                                                                                      : line.find_first_not_of(' ', eq + 1));
    return l;
}

bool is_name_key(const std::string& key) { return key == "Name" || key.rfind("Name[", 0) == 0; }

// "48x48" or "48x48@2": the pixel size it stands for (96), 0 when it is no size.
int size_of_dir(const std::string& seg) {
    const auto x = seg.find('x');
    if (x == std::string::npos || x == 0) return 0;
    const auto at = seg.find('@');
    const std::string w = seg.substr(0, x), h = seg.substr(x + 1, at == std::string::npos ? std::string::npos : at - x - 1);
    const std::string scale = at == std::string::npos ? "1" : seg.substr(at + 1);
    auto digits = [](const std::string& s) {
        return !s.empty() && s.size() < 6 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
    };
    if (!digits(w) || !digits(h) || !digits(scale) || w != h) return 0;
    return std::stoi(w) * std::stoi(scale);
}

bool safe_relative(const std::string& path) {
    if (path.empty() || path[0] == '/') return false;
    const auto parts = split(path, '/');
    return std::none_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty() || p == "." || p == ".."; });
}

}  // namespace

std::string exec_quote(const std::vector<std::string>& argv) {
    static const std::string reserved = " \t\n\"'\\><~|&;$*?#()`";
    std::string out;
    for (const auto& arg : argv) {
        std::string a;
        const bool quote = arg.empty() || arg.find_first_of(reserved) != std::string::npos;
        for (char c : arg) {
            if (quote && (c == '"' || c == '`' || c == '$' || c == '\\')) a += '\\';
            a += c == '%' ? std::string("%%") : std::string(1, c);
        }
        if (quote) a = "\"" + a + "\"";
        // The value is a string before it is a command line: its own escapes come last.
        std::string escaped;
        for (char c : a) {
            if (c == '\\') escaped += "\\\\";
            else if (c == '\n') escaped += "\\n";
            else if (c == '\t') escaped += "\\t";
            else if (c == '\r') escaped += "\\r";
            else escaped += c;
        }
        out += (out.empty() ? "" : " ") + escaped;
    }
    return out;
}

std::optional<std::string> entry_value(const std::string& text, const std::string& key, const std::string& group) {
    std::string current;
    for (const auto& raw : split(text, '\n')) {
        const Line l = parse_line(raw);
        if (!l.group.empty()) current = l.group;
        else if (current == group && l.key == key) return l.value;
    }
    return std::nullopt;
}

Result<std::string> rewrite_entry(const std::string& text, const Rewrite& r) {
    const auto type = entry_value(text, "Type");
    if (!entry_value(text, "Name") && !type)
        return Error(ErrorKind::Invalid, "not a desktop entry (no [Desktop Entry] group with Name and Type)");
    if (type && *type != "Application")
        return Error(ErrorKind::Invalid, "a desktop entry of Type " + *type + ", not an Application");
    if (!entry_value(text, "Exec"))
        return Error(ErrorKind::Invalid, "the entry has no Exec line to run (started by D-Bus activation only)");
    const auto old_icon = entry_value(text, "Icon");
    const std::string prefix = exec_quote(r.launcher);
    std::string out, group;
    for (const auto& raw : split(text, '\n')) {
        const Line l = parse_line(raw);
        std::string line = raw;
        if (!l.group.empty()) {
            group = l.group;
            out += line + "\n";
            if (group == kMainGroup)
                for (const auto& m : r.marks) out += m + "\n";
            continue;
        }
        if (l.key == "TryExec" || l.key.rfind("X-Lxbox-", 0) == 0) continue;
        if (group == kMainGroup && l.key == "DBusActivatable") continue;
        if (l.key == "Exec") line = "Exec=" + prefix + (l.value.empty() ? "" : " " + l.value);
        else if (group == kMainGroup && is_name_key(l.key)) line = l.key + "=" + l.value + r.label;
        else if (l.key == "Icon" && !r.icon.empty() && old_icon && l.value == *old_icon) line = "Icon=" + r.icon;
        out += line + "\n";
    }
    return out;
}

bool icon_name_usable(const std::string& icon) {
    if (icon.empty()) return false;
    if (icon[0] == '/') return safe_relative(icon.substr(1));
    return icon.find_first_of("/*?[]\\") == std::string::npos && icon != "." && icon != "..";
}

std::optional<IconChoice> choose_icon(const std::vector<std::string>& found, const std::string& icon,
                                      const std::string& name) {
    // (vector, pixels, PNG over XPM, in hicolor): the largest tuple wins.
    using Rank = std::tuple<bool, int, bool, bool>;
    std::optional<std::pair<Rank, IconChoice>> best;
    for (const auto& path : found) {
        const auto slash = path.rfind('/');
        const std::string file = path.substr(slash + 1);
        const auto dot = file.rfind('.');
        if (dot == std::string::npos || slash == std::string::npos) continue;
        const std::string stem = file.substr(0, dot), ext = file.substr(dot + 1);
        if (ext != "png" && ext != "svg" && ext != "svgz" && ext != "xpm") continue;
        int pixels = 0;
        std::string size_dir;
        if (icon[0] == '/') {
            if (path != icon) continue;
        } else if (stem != icon) {
            // A pixmap named for its size: NAME_48x48.xpm.
            if (stem.rfind(icon + "_", 0) != 0 || !(pixels = size_of_dir(stem.substr(icon.size() + 1)))) continue;
            size_dir = stem.substr(icon.size() + 1);
        }
        const auto dirs = split(path.substr(0, slash), '/');
        for (const auto& seg : dirs) {
            if (seg == "scalable") size_dir = seg, pixels = 1 << 20;
            else if (const int px = size_of_dir(seg)) size_dir = seg, pixels = px;
        }
        const bool vector = ext == "svg" || ext == "svgz";
        const bool hicolor = std::find(dirs.begin(), dirs.end(), "hicolor") != dirs.end();
        const Rank rank{vector, pixels, ext == "png", hicolor};
        IconChoice c{path, size_dir.empty() ? "icons/" + name + "." + ext
                                            : "icons/hicolor/" + size_dir + "/apps/" + name + "." + ext};
        if (!best || rank > best->first) best = std::make_pair(rank, c);
    }
    if (!best) return std::nullopt;
    return best->second;
}

Result<std::string> desktop_file_name(const std::string& app) {
    const std::string suffix = ".desktop";
    std::string stem = app;
    if (stem.size() >= suffix.size() && stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0)
        stem.resize(stem.size() - suffix.size());
    const bool plain = !stem.empty() && stem != "." && stem != ".." &&
                       std::all_of(stem.begin(), stem.end(), [](unsigned char c) { return c > ' ' && c != '/' && c != 0x7f; });
    if (!plain) return Error(ErrorKind::Invalid, "'" + app + "' is not a desktop file's name (xterm, org.gnome.Foo.desktop)");
    return stem + suffix;
}

std::string exported_name(const std::string& distro, const std::string& base) { return "lxbox-" + distro + "-" + base; }

std::vector<std::string> manifest_marks(const Manifest& m) {
    return {"X-Lxbox-Distro=" + m.distro, "X-Lxbox-Files=" + join(m.files, ';'), "X-Lxbox-Dirs=" + join(m.dirs, ';')};
}

Result<Manifest> read_manifest(const std::string& text, const std::string& distro) {
    Manifest m;
    m.distro = entry_value(text, "X-Lxbox-Distro").value_or("");
    if (m.distro != distro) return Error(ErrorKind::Invalid, "it was not exported from " + distro + " by lxbox shim --desktop");
    m.files = split(entry_value(text, "X-Lxbox-Files").value_or(""), ';');
    m.dirs = split(entry_value(text, "X-Lxbox-Dirs").value_or(""), ';');
    for (const auto& f : m.files) {
        const std::string base = f.substr(f.rfind('/') + 1);
        if (!safe_relative(f) || f.rfind("icons/", 0) != 0 || base.rfind(exported_name(distro, ""), 0) != 0)
            return Error(ErrorKind::Invalid, "X-Lxbox-Files names '" + f + "', which no export makes");
    }
    for (const auto& d : m.dirs) {
        const bool ours = d == "applications" || d == "icons" || d.rfind("icons/", 0) == 0;
        if (!safe_relative(d) || !ours) return Error(ErrorKind::Invalid, "X-Lxbox-Dirs names '" + d + "', which no export makes");
    }
    return m;
}

}  // namespace lxbox::desktop
