#include "runtime/image/prefetch.hpp"

#include "runtime/base/log.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/image/layers.hpp"

namespace lxbox::image {

LayerPrefetch::~LayerPrefetch() { stop(); }

void LayerPrefetch::start(const std::string& manifest_text) {
    auto manifest = parse_manifest(manifest_text);
    if (!manifest || worker_.joinable()) return;
    worker_ = std::thread([this, m = std::move(*manifest)]() mutable { run(std::move(m)); });
}

void LayerPrefetch::arrived(const std::string& digest) {
    {
        std::lock_guard lock(mutex_);
        arrived_.insert(digest);
    }
    changed_.notify_all();
}

void LayerPrefetch::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable()) worker_.join();
}

bool LayerPrefetch::wait_for(const std::string& digest) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stopping_ || arrived_.count(digest); });
    return !stopping_;
}

void LayerPrefetch::run(Manifest manifest) {
    auto blobs = BlobStore::open(store_.root());
    if (!blobs || !wait_for(manifest.config.digest.str())) return;
    auto text = blobs->read(manifest.config.digest);
    auto config = text ? parse_config(*text) : Result<ImageConfig>(std::move(text).error());
    if (!config || config->diff_ids.size() != manifest.layers.size()) return;  // register_image says why
    std::vector<std::string> lowers;  // topmost first
    for (size_t i = 0; i < manifest.layers.size(); ++i) {
        if (!wait_for(manifest.layers[i].digest.str())) return;
        const Digest& diff_id = config->diff_ids[i];
        if (auto st = ensure_layer(store_, *blobs, manifest.layers[i], diff_id, lowers); !st) {
            spdlog::debug("unpack while pulling: {} (left to the registration)", st.error().message);
            return;
        }
        ++unpacked_;
        lowers.insert(lowers.begin(), store_.layer_dir(diff_id.hex));
    }
}

}  // namespace lxbox::image
