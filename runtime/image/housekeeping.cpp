#include "runtime/image/housekeeping.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/image/layers.hpp"
#include "runtime/image/oci.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::image {

DiskUsage disk_usage(const store::Registry& reg) {
    DiskUsage u;
    std::set<std::string> counted;
    for (const auto& [name, img] : reg.images) {
        if (img.layers.empty()) {  // a rootfs import: its own tree
            u.image_bytes[name] = img.size_bytes;
            u.total_bytes += img.size_bytes;
            continue;
        }
        uint64_t bytes = 0;
        for (const auto& id : img.layers) {
            auto it = reg.layers.find(id);
            const uint64_t size = it == reg.layers.end() ? 0 : it->second.size_bytes;
            bytes += size;
            if (counted.insert(id).second) u.total_bytes += size;
        }
        u.image_bytes[name] = bytes;
    }
    return u;
}

PrunePlan plan_prune(const store::Registry& reg, const std::set<std::string>& image_blobs,
                     const std::set<std::string>& live_lower_dirs, const std::set<std::string>& all_blobs,
                     const std::function<std::string(const std::string&)>& layer_dir) {
    std::set<std::string> used;
    for (const auto& [name, img] : reg.images) used.insert(img.layers.begin(), img.layers.end());
    PrunePlan plan;
    for (const auto& [id, layer] : reg.layers) {
        if (used.count(id)) continue;
        auto d = parse_digest(id);
        if (d && live_lower_dirs.count(layer_dir(d->hex))) continue;
        plan.layers.push_back(id);
    }
    for (const auto& b : all_blobs)
        if (!image_blobs.count(b)) plan.blobs.push_back(b);
    return plan;
}

namespace {

// Every blob the registered images need: manifest, config and layer blobs.
Result<std::set<std::string>> blobs_of_images(const BlobStore& blobs, const store::Registry& reg) {
    std::set<std::string> out;
    for (const auto& [name, img] : reg.images) {
        if (img.manifest.empty()) continue;
        out.insert(img.manifest);
        out.insert(img.config);
        auto digest = LXBOX_TRY_CTX(parse_digest(img.manifest), "image " + name);
        auto m = LXBOX_TRY_CTX(parse_manifest(LXBOX_TRY(blobs.read(digest))), "image " + name);
        for (const auto& l : m.layers) out.insert(l.digest.str());
    }
    return out;
}

}  // namespace

Result<PruneResult> prune(store::Store& store, const std::set<std::string>& live_lower_dirs) {
    auto blobs = LXBOX_TRY(BlobStore::open(store.root()));
    auto gc = LXBOX_TRY(blobs.lock_for_prune());
    PruneResult result;
    std::vector<std::string> trash, links;
    std::vector<std::pair<std::string, std::string>> moves;
    LXBOX_TRY(store.update([&](store::Registry& reg) -> Status {
        std::set<std::string> all;
        for (const auto& d : LXBOX_TRY(blobs.list())) all.insert(d.str());
        const auto plan = plan_prune(reg, LXBOX_TRY(blobs_of_images(blobs, reg)), live_lower_dirs, all,
                                     [&](const std::string& hex) { return store.layer_dir(hex); });
        for (const auto& id : plan.layers) {
            const Digest d = LXBOX_TRY(parse_digest(id));
            // Out of sight under the lock; deleted after it (a kill leaves a trash dir that the
            // next open removes).
            trash.push_back(store.root() + "/layers/sha256/" +
                            store::work_dir_name("trash", store::self_owner(), d.hex));
            moves.emplace_back(store.layer_dir(d.hex), trash.back());
            links.push_back(store.root() + "/layers/l/" + layer_short_name(d));
            result.bytes += reg.layers[id].size_bytes;
            reg.layers.erase(id);
            ++result.layers;
        }
        for (const auto& b : plan.blobs) {
            const Digest d = LXBOX_TRY(parse_digest(b));
            if (auto size = blobs.size(d)) result.bytes += *size;
            LXBOX_TRY(blobs.remove(d));
            ++result.blobs;
        }
        return {};
    },
    // Once the records are gone (a kill before leaves the layers registered and whole; after,
    // unregistered dirs that the next open removes).
    [&] {
        for (const auto& [from, to] : moves) (void)::rename(from.c_str(), to.c_str());
        for (const auto& l : links) ::unlink(l.c_str());
    }));
    for (const auto& t : trash) LXBOX_TRY(remove_tree(t));
    spdlog::debug("pruned {} layers, {} blobs", result.layers, result.blobs);
    return result;
}

}  // namespace lxbox::image
