// Layers: each OCI layer extracted once under the store, by its diff_id (the digest of its
// uncompressed tar), and shared by every image that lists it.
//
//   layers/sha256/<hex>/             the layer's tree (whiteouts as overlayfs ones)
//   layers/sha256/.unpack-<pid>-<start>-<hex>   an unpack in progress (removed when its owner died)
//   layers/l/<16 hex>                a short symlink to ../sha256/<hex>, for mounts of many layers
//                                    on kernels without lowerdir+ (before 6.8)
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/image/oci.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::image {

// Pure: the short link name of a layer (layers/l/<name>).
std::string layer_short_name(const Digest& diff_id);

// Makes sure layer `diff_id` is in the store: unpacks the blob `blob` (compressed as its media
// type says) through the import pipeline (its containment rules, whiteouts, hard links into
// `lower_dirs`, the layers beneath it, topmost first), checks the uncompressed stream against
// diff_id, and renames it into place with its registry record under the store's lock. Takes
// the layer's lock, so two imports of one layer unpack it once. A mismatch or a hostile entry
// leaves nothing.
// progress: the blob's bytes unpacked so far, now and then (not called for a layer present).
using LayerProgress = std::function<void(uint64_t done)>;
Status ensure_layer(store::Store& store, const BlobStore& blobs, const Descriptor& blob, const Digest& diff_id,
                    const std::vector<std::string>& lower_dirs, const LayerProgress& progress = {});

// The overlay lower directories of an image, topmost first: its layers, or images/<name>/rootfs
// for a rootfs import (a one-layer image).
std::vector<std::string> image_lower_dirs(const store::Store& store, const store::ImageRecord& image);

// The image's config (OCI images only; a rootfs import has none: an empty config).
Result<ImageConfig> image_config(const store::Store& store, const store::ImageRecord& image);

}  // namespace lxbox::image
