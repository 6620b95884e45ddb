// `lxbox shim --desktop`: reads the app's entry and icon through a launch of the distro and
// writes the host's copies (the pure rewrite is desktop_entry.cpp).
#include "host/desktop/export.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <cstdio>
#include <iterator>

#include "host/desktop/desktop_entry.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/mounts.hpp"

namespace bp = boost::process;

namespace lxbox::desktop {

namespace {

// What a command in the distro printed, and how it ended.
struct Captured {
    int exit_code = 0;
    std::string out, err;
};

// The launch an exported entry runs, before its command.
std::vector<std::string> launcher(const ExportRequest& req) {
    return {req.lxbox, "--root", req.root, "launch", "--integrate", req.target, "--"};
}

// Runs command in the distro as the entry will (integrated, as the user), without a terminal.
// lxbox's own failure (125: the distro cannot be launched) is an error with its message.
Result<Captured> run_in_distro(const ExportRequest& req, const std::vector<std::string>& command) {
    std::vector<std::string> args = launcher(req);
    args.insert(args.end() - 1, "-T");
    args.insert(args.end(), command.begin(), command.end());
    bp::ipstream out, err;
    Captured c;
    try {
        bp::child child(req.lxbox, bp::args(std::vector<std::string>(args.begin() + 1, args.end())), bp::std_out > out,
                        bp::std_err > err, bp::std_in < bp::null);
        c.out.assign(std::istreambuf_iterator<char>(out), {});
        c.err.assign(std::istreambuf_iterator<char>(err), {});
        child.wait();
        c.exit_code = child.exit_code();
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "run " + req.lxbox + ": " + e.what());
    }
    if (c.exit_code == 125) {
        std::string line = c.err.substr(0, c.err.find('\n'));
        if (line.rfind("lxbox: ", 0) == 0) line.erase(0, 7);
        return Error(ErrorKind::Internal, line.empty() ? "launch " + req.target + " failed" : line);
    }
    return c;
}

// The entry: /usr/local/share/applications first, as the menu of the distro would have it.
Result<std::string> read_entry(const ExportRequest& req, const std::string& file) {
    const auto c = LXBOX_TRY(run_in_distro(
        req, {"/bin/sh", "-c",
              "for d in /usr/local/share/applications /usr/share/applications; do "
              "[ -f \"$d/$1\" ] && exec cat \"$d/$1\"; done; exit 3",
              "sh", file}));
    if (c.exit_code == 3)
        return Error(ErrorKind::NotFound, "no " + file + " in /usr/share/applications of " + req.target);
    if (c.exit_code != 0) return Error(ErrorKind::System, "read " + file + " in " + req.target + ": " + c.err);
    return c.out;
}

// The icon files the distro has for icon: its themes' and /usr/share/pixmaps's.
Result<std::vector<std::string>> find_icons(const ExportRequest& req, const std::string& icon) {
    if (icon[0] == '/') return std::vector<std::string>{icon};
    std::vector<std::string> cmd = {"find", "/usr/share/icons", "/usr/share/pixmaps", "("};
    for (const std::string ext : {"png", "svg", "svgz", "xpm"}) {
        cmd.insert(cmd.end(), {"-name", icon + "." + ext, "-o"});
        if (ext == "png" || ext == "xpm") cmd.insert(cmd.end(), {"-name", icon + "_*." + ext, "-o"});
    }
    cmd.back() = ")";
    // find exits 1 for a directory the distro lacks; what it printed is still the answer.
    const auto c = LXBOX_TRY(run_in_distro(req, cmd));
    std::vector<std::string> found;
    for (size_t at = 0; at < c.out.size();) {
        const auto nl = c.out.find('\n', at);
        found.push_back(c.out.substr(at, nl - at));
        at = nl == std::string::npos ? c.out.size() : nl + 1;
    }
    return found;
}

// The directories leading to rel (relative to home) that do not exist yet, outermost first.
std::vector<std::string> missing_parents(const std::string& home, const std::string& rel) {
    std::vector<std::string> missing;
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1))
        if (::access((home + "/" + rel.substr(0, slash)).c_str(), F_OK) != 0) missing.push_back(rel.substr(0, slash));
    return missing;
}

void sort_deepest_first(std::vector<std::string>& dirs) {
    std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
        const auto depth = [](const std::string& s) { return std::count(s.begin(), s.end(), '/'); };
        return depth(a) != depth(b) ? depth(a) > depth(b) : a < b;
    });
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
}

// Empty directories of dirs removed (one a user filled since stays).
void remove_empty(const std::string& home, const std::vector<std::string>& dirs) {
    for (const auto& d : dirs) (void)::rmdir((home + "/" + d).c_str());
}

std::string entry_rel(const ExportRequest& req, const std::string& file) {
    return "applications/" + exported_name(req.target, file);
}

// The manifest of the export already at entry (an empty one when there is none); refused when
// the file there is not lxbox's.
Result<Manifest> previous_export(const ExportRequest& req, const std::string& entry) {
    if (::access(entry.c_str(), F_OK) != 0) return Manifest{req.target, {}, {}};
    const std::string text = LXBOX_TRY(read_file(entry));
    return read_manifest(text, req.target)
        .context(entry + " exists and lxbox did not write it for " + req.target + ": move it away first");
}

}  // namespace

Result<std::string> data_home() {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/') return std::string(xdg);
    const char* home = std::getenv("HOME");
    if (!home || home[0] != '/') return Error(ErrorKind::Invalid, "neither $XDG_DATA_HOME nor $HOME is set");
    return std::string(home) + "/.local/share";
}

namespace {

// The app's icon as the export copies it.
struct Icon {
    IconChoice choice;
    std::string name, data;  // its exported name (the entry's Icon), its bytes
};

// The best icon file for the entry's Icon, read from the distro; nullopt (and a warning) when
// the distro has none.
Result<std::optional<Icon>> read_icon(const ExportRequest& req, const std::string& value) {
    if (value.empty()) return std::optional<Icon>{};
    if (icon_name_usable(value)) {
        std::string base = value.substr(value.rfind('/') + 1);
        if (value[0] == '/') base = base.substr(0, base.rfind('.'));
        Icon icon;
        icon.name = exported_name(req.target, base);
        if (auto choice = choose_icon(LXBOX_TRY(find_icons(req, value)), value, icon.name)) {
            icon.choice = *choice;
            const auto c = LXBOX_TRY(run_in_distro(req, {"cat", choice->source}));
            if (c.exit_code != 0) return Error(ErrorKind::System, "read " + choice->source + " in " + req.target + ": " + c.err);
            icon.data = c.out;
            return std::optional<Icon>(std::move(icon));
        }
    }
    std::fprintf(stderr, "lxbox: warning: no icon '%s' in %s: the entry keeps its Icon line\n", value.c_str(),
                 req.target.c_str());
    return std::optional<Icon>{};
}

// Writes the icon, then the entry (what the menu reads last); on a failure removes what it made.
Status write_export(const std::string& home, const std::string& entry, const std::string& text,
                    const std::optional<Icon>& icon, const std::vector<std::string>& new_dirs, bool icon_was_ours) {
    auto written = [&]() -> Status {
        for (const auto& d : new_dirs)
            if (::mkdir((home + "/" + d).c_str(), 0755) != 0 && errno != EEXIST) return Error::last("create " + home + "/" + d);
        if (icon) LXBOX_TRY(write_file_atomic(home + "/" + icon->choice.dest, icon->data));
        return write_file_atomic(entry, text);
    }();
    if (!written) {
        if (icon && !icon_was_ours) (void)::unlink((home + "/" + icon->choice.dest).c_str());
        std::vector<std::string> made = new_dirs;
        sort_deepest_first(made);
        remove_empty(home, made);
    }
    return written;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

Result<std::vector<std::string>> export_app(const ExportRequest& req) {
    const std::string file = LXBOX_TRY(desktop_file_name(req.app));
    const std::string home = req.data_home;
    const std::string rel = entry_rel(req, file);
    const std::string entry = home + "/" + rel;
    // Everything that can fail in the distro first: nothing is written until it is read.
    const std::string text = LXBOX_TRY(read_entry(req, file));
    const auto icon = LXBOX_TRY(read_icon(req, entry_value(text, "Icon").value_or("")));
    const Manifest before = LXBOX_TRY(previous_export(req, entry));
    Manifest m{req.target, {}, before.dirs};
    std::vector<std::string> new_dirs = missing_parents(home, rel);
    if (icon) {
        m.files.push_back(icon->choice.dest);
        if (!contains(before.files, icon->choice.dest) && ::access((home + "/" + icon->choice.dest).c_str(), F_OK) == 0)
            return Error(ErrorKind::Exists, home + "/" + icon->choice.dest + " exists and lxbox did not write it: move it away first");
        for (auto& d : missing_parents(home, icon->choice.dest))
            if (!contains(new_dirs, d)) new_dirs.push_back(d);
    }
    m.dirs.insert(m.dirs.end(), new_dirs.begin(), new_dirs.end());
    sort_deepest_first(m.dirs);
    const Rewrite r{launcher(req), " (on " + req.target + ")", icon ? icon->name : "", manifest_marks(m)};
    const std::string exported = LXBOX_TRY(rewrite_entry(text, r).context(file + " of " + req.target));
    LXBOX_TRY(linux_fx::make_dirs(home, 0755).context("create " + home));
    LXBOX_TRY(write_export(home, entry, exported, icon, new_dirs, icon && contains(before.files, icon->choice.dest)));
    // A re-export whose icon changed leaves no stale copy of the old one.
    for (const auto& f : before.files)
        if (!contains(m.files, f)) (void)::unlink((home + "/" + f).c_str());
    std::vector<std::string> paths = {entry};
    for (const auto& f : m.files) paths.push_back(home + "/" + f);
    return paths;
}

Result<std::vector<std::string>> remove_app(const ExportRequest& req) {
    const std::string file = LXBOX_TRY(desktop_file_name(req.app));
    const std::string entry = req.data_home + "/" + entry_rel(req, file);
    if (::access(entry.c_str(), F_OK) != 0)
        return Error(ErrorKind::NotFound, "no " + entry + ": " + file + " was not exported from " + req.target);
    const Manifest m = LXBOX_TRY(previous_export(req, entry));
    std::vector<std::string> removed;
    for (const auto& f : m.files) {
        const std::string path = req.data_home + "/" + f;
        if (::unlink(path.c_str()) == 0) removed.push_back(path);
        else if (errno != ENOENT) return Error::last("remove " + path);
    }
    if (::unlink(entry.c_str()) != 0) return Error::last("remove " + entry);
    removed.push_back(entry);
    remove_empty(req.data_home, m.dirs);
    return removed;
}

}  // namespace lxbox::desktop
