// `lxbox shim --desktop APP [--distro NAME] [--remove]`: a distro app on the host's menu, as
// distrobox-export --app puts one there. The app's entry and icon are read through lxbox itself
// (`launch --integrate NAME -- cat ...`), so they are what the app's own launch will see (a
// kept container's installs included, natively or in the VM), and the entry's Exec runs that
// same launch. Written under the data home ($XDG_DATA_HOME, else ~/.local/share):
// applications/lxbox-NAME-APP.desktop and icons/hicolor/SIZE/apps/lxbox-NAME-ICON.EXT.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::desktop {

struct ExportRequest {
    std::string app;        // APP or APP.desktop, in /usr/share/applications of the distro
    std::string target;     // the distro (or container) it runs in, resolved by the caller
    std::string lxbox;      // the lxbox binary the entry runs
    std::string root;       // the store root, named in the entry (--root)
    std::string data_home;  // where applications/ and icons/ are
};

// The data home: $XDG_DATA_HOME when it is an absolute path, else $HOME/.local/share.
Result<std::string> data_home();

// Writes the entry and its icon; returns the paths written, the entry first. Nothing is
// written when the app's files cannot be read or the names are taken by files lxbox did not
// write; a re-export replaces the previous one. A distro without the icon gets the entry alone
// and one warning line.
Result<std::vector<std::string>> export_app(const ExportRequest& req);

// Deletes what the export of req.app from req.target made, as its entry records it; returns
// the paths deleted. Refused when there is no such export or the entry is not lxbox's.
Result<std::vector<std::string>> remove_app(const ExportRequest& req);

}  // namespace lxbox::desktop
