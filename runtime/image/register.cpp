// register_image(): manifest + config + layer blobs → unpacked layers → an image record.
#include "runtime/image/register.hpp"

#include <unistd.h>

#include "runtime/base/log.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/image/layers.hpp"
#include "runtime/image/oci.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::image {

namespace {

struct Parsed {
    Manifest manifest;
    ImageConfig config;
};

Result<Parsed> read_image(const BlobStore& blobs, const Digest& manifest_digest) {
    Parsed p;
    const std::string text = LXBOX_TRY(blobs.read(manifest_digest));
    if (LXBOX_TRY(document_kind(text)) != DocumentKind::Manifest)
        return Error(ErrorKind::Invalid, "blob " + manifest_digest.str() + " is an index, not one platform's manifest");
    p.manifest = LXBOX_TRY(parse_manifest(text));
    p.config = LXBOX_TRY(parse_config(LXBOX_TRY(blobs.read(p.manifest.config.digest))));
    if (p.config.diff_ids.size() != p.manifest.layers.size())
        return Error(ErrorKind::Invalid, "the manifest lists " + std::to_string(p.manifest.layers.size()) +
                                             " layers, its config " + std::to_string(p.config.diff_ids.size()));
    if (p.manifest.layers.empty()) return Error(ErrorKind::Invalid, "the image has no layers");
    for (const auto& layer : p.manifest.layers) {
        if (!blobs.has(layer.digest))
            return Error(ErrorKind::NotFound, "layer blob " + layer.digest.str() + " is not in the store");
    }
    return p;
}

// The record goes in under the lock; a replaced rootfs import's directory goes to the trash.
Status commit_image(store::Store& store, const store::ImageRecord& record, bool replace) {
    std::string trash;
    LXBOX_TRY(store.update(
        [&](store::Registry& reg) -> Status {
            if (reg.images.count(record.name)) {
                if (!replace)
                    return Error(ErrorKind::Exists, "an image named '" + record.name + "' exists (use --replace)");
                trash = store.root() + "/images/" + store::work_dir_name("trash", store::self_owner(), record.name);
            }
            for (const auto& id : record.layers) {
                if (!reg.layers.count(id))
                    return Error(ErrorKind::Internal, "layer " + id + " vanished before registration");
            }
            reg.images[record.name] = record;
            if (reg.default_distro.empty()) reg.default_distro = record.name;
            return {};
        },
        // The old rootfs goes once the new record is written (a kill before leaves the old
        // record over its tree; after, an unregistered dir for clean_stale()).
        [&] {
            if (!trash.empty() && ::rename(store.image_dir(record.name).c_str(), trash.c_str()) != 0) trash.clear();
        }));
    if (!trash.empty()) (void)remove_tree(trash);  // a leftover is cleaned by the next open
    return {};
}

}  // namespace

Result<store::ImageRecord> register_image(store::Store& store, const std::string& name, const Digest& manifest,
                                          const RegisterOptions& opts) {
    LXBOX_TRY(store::validate_name(name));
    if (!opts.replace) {
        auto reg = LXBOX_TRY(store.load());
        if (reg.images.count(name))
            return Error(ErrorKind::Exists, "an image named '" + name + "' exists (use --replace)");
    }
    auto blobs = LXBOX_TRY(BlobStore::open(store.root()));
    auto hold = LXBOX_TRY(blobs.hold_against_prune());
    Parsed p = LXBOX_TRY(read_image(blobs, manifest));
    std::vector<std::string> lowers;  // topmost first
    store::ImageRecord record;
    uint64_t total = 0, before = 0;  // the layers' blob bytes; those of the layers done
    for (const auto& l : p.manifest.layers) total += l.size;
    const LayerProgress progress = [&](uint64_t done) {
        if (opts.progress) opts.progress(before + done, total);
    };
    for (size_t i = 0; i < p.manifest.layers.size(); ++i) {
        const Digest& diff_id = p.config.diff_ids[i];
        if (opts.on_layer) opts.on_layer(i, p.manifest.layers.size(), diff_id);
        LXBOX_TRY(ensure_layer(store, blobs, p.manifest.layers[i], diff_id, lowers, progress));
        before += p.manifest.layers[i].size;
        progress(0);
        lowers.insert(lowers.begin(), store.layer_dir(diff_id.hex));
        record.layers.push_back(diff_id.str());
    }
    auto reg = LXBOX_TRY(store.load());
    for (const auto& id : record.layers) record.size_bytes += reg.layers[id].size_bytes;
    record.name = name;
    record.arch = arch_from_oci(p.config.architecture);
    record.created = store::now_rfc3339();
    record.source = opts.source;
    record.manifest = manifest.str();
    record.config = p.manifest.config.digest.str();
    LXBOX_TRY(commit_image(store, record, opts.replace));
    spdlog::info("registered image {}: {} layers", name, record.layers.size());
    return record;
}

}  // namespace lxbox::image
