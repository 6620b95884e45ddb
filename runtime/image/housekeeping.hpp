// Housekeeping of the image store: disk usage with shared layers counted once, and prune.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::image {

struct DiskUsage {
    std::map<std::string, uint64_t> image_bytes;  // each image alone: all of its layers
    uint64_t total_bytes = 0;                     // the store: each layer once
};

// Pure: what images take, from the registry's layer and image records.
DiskUsage disk_usage(const store::Registry& reg);

struct PrunePlan {
    std::vector<std::string> layers;  // "sha256:<hex>" diff_ids to delete
    std::vector<std::string> blobs;   // "sha256:<hex>" blobs to delete
};

// Pure: what no image references and no running container has mounted. `image_blobs`: each
// image's blobs (manifest, config, layer blobs); `live_lower_dirs`: the lower dirs of running
// containers; `layer_dir` maps a diff_id's hex to its directory; `all_blobs`: the blob store.
PrunePlan plan_prune(const store::Registry& reg, const std::set<std::string>& image_blobs,
                     const std::set<std::string>& live_lower_dirs, const std::set<std::string>& all_blobs,
                     const std::function<std::string(const std::string&)>& layer_dir);

struct PruneResult {
    size_t layers = 0, blobs = 0;
    uint64_t bytes = 0;
};

// Deletes what plan_prune finds, under the store's lock and prune's blob lock (waiting for the
// imports and pulls in progress). live_lower_dirs: those of the running containers.
Result<PruneResult> prune(store::Store& store, const std::set<std::string>& live_lower_dirs);

}  // namespace lxbox::image
