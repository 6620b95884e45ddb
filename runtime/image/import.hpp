// Import of the image formats people have, detected by content: an OCI image layout directory,
// an `oci-archive` tar (a layout in a tar) and a `docker save` tar (manifest.json, a config and
// one tar per layer). Each ends in register_image().
#pragma once

#include <optional>
#include <string>

#include "runtime/image/oci.hpp"
#include "runtime/image/register.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::image {

struct ImageImportOptions {
    bool replace = false;
    std::string source;
    std::optional<Platform> platform;  // a multi-platform index: this one (default: the host's)
    // The tree is lxbox's own extraction of an archive, on the store's filesystem: its blobs
    // are verified and renamed into the blob store instead of copied.
    bool move_blobs = false;
    std::function<void(size_t layer, size_t count, const Digest& diff_id)> on_layer;
    std::function<void(uint64_t done, uint64_t total)> progress;  // RegisterOptions::progress
};

enum class TreeKind { OciLayout, DockerSave, Rootfs };

// What a directory (a user's, or an extracted archive) holds, by content: an "oci-layout" file
// makes it an OCI layout, a "manifest.json" listing Config and Layers a docker save.
TreeKind classify_tree(const std::string& dir);

Result<store::ImageRecord> import_oci_layout(store::Store& store, const std::string& name, const std::string& dir,
                                             const ImageImportOptions& opts);
Result<store::ImageRecord> import_docker_save(store::Store& store, const std::string& name, const std::string& dir,
                                              const ImageImportOptions& opts);
// Either of the two, by classify_tree; nullopt for a plain rootfs tree.
Result<std::optional<store::ImageRecord>> import_image_tree(store::Store& store, const std::string& name,
                                                            const std::string& dir, const ImageImportOptions& opts);

}  // namespace lxbox::image
