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

// After an image left the registry (unregister, image rm, image prune): the VM disks nothing
// names any more are deleted (a rootfs distro's own, `distro`, when given; OCI images' disks
// of manifests no image names) and a running VM lets go of them unless a session still uses
// one. The image is gone by now: a file that cannot be removed is said on stderr (what starts
// the line), not a failure.
void drop_vm_disks(store::Store& store, const std::string& what, const std::string& distro);

// Where the busybox rootfs tarball built with lxbox lives ($LXBOX_BUSYBOX_TARBALL overrides).
std::string embedded_busybox_tarball();

}  // namespace lxbox::cli
