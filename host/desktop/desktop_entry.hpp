// A distro app's menu entry on the host (`lxbox shim --desktop APP`, issue 20), as
// distrobox-export --app makes one: the app's .desktop file from the distro with its Exec lines
// run through lxbox into the distro, integrated; its Name suffixed with the distro; TryExec
// (a program the host lacks) and DBusActivatable (a service the host's bus cannot start)
// dropped; its icon copied under a name of the export's own. Pure here: the rewrite, the
// Exec quoting, the icon choice and the names; host/desktop/export.hpp reads and writes.
//
// Every exported file and directory made is named in the entry itself (X-Lxbox-* keys), so
// `--remove` deletes exactly those and nothing a user or another program put there.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::desktop {

// Pure: argv as an Exec value (Desktop Entry Specification, "The Exec key"): an argument with a
// reserved character double-quoted with ", `, $ and \ escaped, '%' doubled, then the string
// type's escape of every backslash.
std::string exec_quote(const std::vector<std::string>& argv);

// Pure: the value of key in group ("Desktop Entry"), nullopt when absent.
std::optional<std::string> entry_value(const std::string& text, const std::string& key,
                                       const std::string& group = "Desktop Entry");

struct Rewrite {
    std::vector<std::string> launcher;  // put before every Exec: lxbox ... launch --integrate DISTRO --
    std::string label;                  // appended to the entry's Name (" (on debian)")
    std::string icon;                   // the new Icon (the exported icon's name); "" keeps it
    std::vector<std::string> marks;     // "X-Key=value" lines added first in [Desktop Entry]
};

// Pure: the exported entry. Refused in one line when text is no application entry (no
// [Desktop Entry] group, a Type other than Application, no Exec to run).
Result<std::string> rewrite_entry(const std::string& text, const Rewrite& r);

// An icon file found in the distro and where its copy goes, relative to the data home.
struct IconChoice {
    std::string source;  // in the distro
    std::string dest;    // "icons/hicolor/48x48/apps/NAME.png", ".../scalable/apps/NAME.svg"
};

// Pure: the best of the icon files found for icon (a name, or an absolute path): a scalable SVG,
// else the largest PNG, else the largest XPM, by the theme directory's size (48x48) or a
// pixmap's suffix (NAME_48x48.xpm); nullopt when none matches. Its copy is named `name`, in
// hicolor at its size, or directly under icons/ (the spec's unthemed fallback) when it has none.
std::optional<IconChoice> choose_icon(const std::vector<std::string>& found, const std::string& icon,
                                      const std::string& name);

// Pure: whether icon can be looked up by name in find(1)'s -name patterns (no glob characters,
// no '/'), or is an absolute path.
bool icon_name_usable(const std::string& icon);

// Pure: APP (or APP.desktop) as the desktop file's name in the distro; refused unless a plain
// file name.
Result<std::string> desktop_file_name(const std::string& app);

// Pure: the exported files' names: "lxbox-DISTRO-" before the app's (without .desktop) or the
// icon's.
std::string exported_name(const std::string& distro, const std::string& base);

// The files an export made and the directories it had to make (deepest first), relative to the
// data home, as its entry records them (X-Lxbox-Files, X-Lxbox-Dirs).
struct Manifest {
    std::string distro;
    std::vector<std::string> files, dirs;
};

// Pure: the marks that record m in the exported entry.
std::vector<std::string> manifest_marks(const Manifest& m);

// Pure: the manifest an exported entry records; refused unless it names distro and only the
// paths an export of distro makes (icons/.../lxbox-DISTRO-*, directories under applications/
// or icons/, no ".."), so a hand-edited entry cannot make --remove delete anything else.
Result<Manifest> read_manifest(const std::string& text, const std::string& distro);

}  // namespace lxbox::desktop
