// Turning blobs into a launchable image: the last step of every import and pull.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/image/digest.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::image {

struct RegisterOptions {
    bool replace = false;  // --replace: an image of that name is replaced (its containers stay)
    std::string source;    // what to record as the source ("docker.io/library/debian:bookworm", a path)
    // Called before each layer that has to be unpacked (0-based, of `count`); not for layers
    // already in the store.
    std::function<void(size_t layer, size_t count, const Digest& diff_id)> on_layer;
    // The unpacking's progress: compressed bytes of the layer blobs done, of all of them (a
    // layer already in the store counts as done at once). For a progress bar.
    std::function<void(uint64_t done, uint64_t total)> progress;
};

// Registers `name` as the image whose manifest (one platform's, not an index) is the blob
// `manifest`. The manifest, its config and every layer blob must be in the blob store already
// (the caller fetched and verified them). Each layer not yet in layers/ is unpacked once,
// checked against the config's diff_id, and shared by every image that lists it; then the
// image record is written under the store's lock. A failure or a kill at any point registers
// nothing and leaves no half-unpacked layer (stale work is removed on the next open).
// The caller should hold BlobStore::hold_against_prune() from its first blob to this call's
// return, so that prune cannot delete blobs that no image references yet.
Result<store::ImageRecord> register_image(store::Store& store, const std::string& name, const Digest& manifest,
                                          const RegisterOptions& opts);

}  // namespace lxbox::image
