// Runs a scripted import: fetch or build the tarball a manifest names, verify it, extract it
// through the store's atomic import, apply the post-import steps, register it.
#pragma once

#include "host/distro/manifest.hpp"
#include "runtime/store/images.hpp"

namespace lxbox::distro {

Result<store::ImageRecord> scripted_import(store::Store& store, const Manifest& m, bool replace,
                                           const archive::ProgressFn& progress);

// Writes one file inside rootfs, resolving every path component inside it (RESOLVE_IN_ROOT):
// an absolute symlink in the image can never redirect the write onto the host.
Status write_in_rootfs(const std::string& rootfs, const WriteStep& step);

}  // namespace lxbox::distro
