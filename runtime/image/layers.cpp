#include "runtime/image/layers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/archive/archive.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::image {

std::string layer_short_name(const Digest& diff_id) { return diff_id.hex.substr(0, 16); }

namespace {

bool layer_present(const store::Store& store, const Digest& diff_id) {
    auto reg = store.load();
    struct stat st;
    return reg && reg->layers.count(diff_id.str()) && ::stat(store.layer_dir(diff_id.hex).c_str(), &st) == 0;
}

// Extracts the blob into work_dir; returns the diff_id the stream turned out to have.
Result<Digest> unpack(const BlobStore& blobs, const Descriptor& blob, const std::string& work_dir,
                      const std::vector<std::string>& lower_dirs, const LayerProgress& progress) {
    LXBOX_TRY(layer_compression(blob.media_type));  // the archive reader detects the filter by content
    auto fd = LXBOX_TRY(blobs.open_blob(blob.digest));
    Sha256 hash;
    archive::ExtractOptions xo;
    const bool root = ::geteuid() == 0;
    xo.same_owner = root;
    xo.allow_devices = root;
    xo.oci_layer = true;
    xo.opaque_xattr = root ? "trusted.overlay.opaque" : "user.overlay.opaque";
    xo.lower_dirs = lower_dirs;
    xo.tar_stream = [&](const void* data, size_t size) { hash.update(data, size); };
    if (progress) xo.progress = [&](uint64_t done, uint64_t) { progress(done); };
    LXBOX_TRY(archive::extract(fd.get(), work_dir, xo));
    return hash.finish();
}

}  // namespace

Status ensure_layer(store::Store& store, const BlobStore& blobs, const Descriptor& blob, const Digest& diff_id,
                    const std::vector<std::string>& lower_dirs, const LayerProgress& progress) {
    if (layer_present(store, diff_id)) return {};
    auto lock = LXBOX_TRY(blobs.lock_layer(diff_id));
    if (layer_present(store, diff_id)) return {};  // unpacked by whoever held the lock before us
    const std::string parent = store.root() + "/layers/sha256";
    LXBOX_TRY(linux_fx::make_dirs(parent, 0700));
    LXBOX_TRY(linux_fx::make_dirs(store.root() + "/layers/l", 0700));
    const std::string work = parent + "/" + store::work_dir_name("unpack", store::self_owner(), diff_id.hex);
    if (::mkdir(work.c_str(), 0755) != 0) return Error::last("create " + work);
    TempDir guard = TempDir::adopt(work);
    const std::string what = "layer " + blob.digest.str();
    Digest got = LXBOX_TRY_CTX(unpack(blobs, blob, work, lower_dirs, progress), what);
    if (got != diff_id)
        return Error(ErrorKind::Invalid, what + ": its uncompressed digest is " + got.str() + ", the config says " +
                                             diff_id.str());
    store::LayerRecord record{tree_bytes(work), store::now_rfc3339()};
    LXBOX_TRY(store.update([&](store::Registry& reg) -> Status {
        const std::string target = store.layer_dir(diff_id.hex);
        if (::rename(work.c_str(), target.c_str()) != 0) return Error::last("rename " + work + " to " + target);
        guard.release();
        const std::string link = store.root() + "/layers/l/" + layer_short_name(diff_id);
        ::unlink(link.c_str());
        if (::symlink(("../sha256/" + diff_id.hex).c_str(), link.c_str()) != 0) return Error::last("create " + link);
        reg.layers[diff_id.str()] = record;
        return {};
    }));
    spdlog::debug("layer {} unpacked ({} bytes)", diff_id.str(), record.size_bytes);
    return {};
}

std::vector<std::string> image_lower_dirs(const store::Store& store, const store::ImageRecord& image) {
    if (image.layers.empty()) return {store.image_rootfs(image.name)};
    std::vector<std::string> out;
    for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
        auto d = parse_digest(*it);
        out.push_back(store.layer_dir(d ? d->hex : *it));
    }
    return out;
}

Result<ImageConfig> image_config(const store::Store& store, const store::ImageRecord& image) {
    if (image.config.empty()) return ImageConfig{};
    const auto blobs = BlobStore::at(store.root());
    auto digest = LXBOX_TRY_CTX(parse_digest(image.config), "image " + image.name);
    auto text = LXBOX_TRY_CTX(blobs.read(digest), "image " + image.name);
    return LXBOX_TRY_CTX(parse_config(text), "image " + image.name);
}

}  // namespace lxbox::image
