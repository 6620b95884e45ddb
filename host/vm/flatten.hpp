// An OCI image's layers merged into one tree, as overlayfs would show them, for the image's
// VM disk (host/vm/image_disk.hpp): each layer laid over the ones beneath it, its whiteouts
// (overlayfs's: character devices 0/0) deleting what they name, its opaque directories
// (trusted.overlay.opaque or user.overlay.opaque = "y") hiding what the layers beneath held.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::vm {

// Merges the layer trees (bottom first) into dest, an empty directory. Regular files are hard
// links to the layers' own (the tree is read once by mkfs.ext4 and removed: no file data is
// copied), or copies where a link is refused (another filesystem, protected_hardlinks);
// directories, symlinks and devices are made anew with the layer's owner, mode and xattrs
// (overlayfs's own excepted). No symlink is followed on either side.
Status flatten_layers(const std::vector<std::string>& layers, const std::string& dest);

}  // namespace lxbox::vm
