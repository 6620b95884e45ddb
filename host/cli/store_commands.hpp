// The distro verbs: import, list, export, unregister, set-default.
#pragma once

#include "host/cli/app.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

// Opens the store at --root / $LXBOX_ROOT / $XDG_DATA_HOME/lxbox.
Result<store::Store> open_store(const GlobalOptions& global);

// Registers the embedded busybox distro on first use (once per store), so a new user has
// something to launch before importing anything.
Status ensure_default_distro(store::Store& store, const GlobalOptions& global);

// Where the busybox rootfs tarball built with lxbox lives ($LXBOX_BUSYBOX_TARBALL overrides).
std::string embedded_busybox_tarball();

}  // namespace lxbox::cli
