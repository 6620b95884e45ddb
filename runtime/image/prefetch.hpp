// A pull's layers unpacked while the rest still downloads: lxbox-registry says when each blob
// is in the blob store, and each layer whose blob (and every layer beneath it) is there is
// unpacked at once, bottom first (a layer's hard links may name the layers beneath it), by
// ensure_layer, as register_image would. register_image then finds them in the store. An
// unpack that fails is left to register_image, which meets the same error and reports it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "runtime/image/oci.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::image {

class LayerPrefetch {
public:
    explicit LayerPrefetch(store::Store& store) : store_(store) {}
    ~LayerPrefetch();  // stop()
    LayerPrefetch(const LayerPrefetch&) = delete;
    LayerPrefetch& operator=(const LayerPrefetch&) = delete;

    // The manifest the pull fetches (its text, as the helper's manifest event carries it):
    // starts unpacking as the blobs come. A manifest that does not parse starts nothing.
    void start(const std::string& manifest_text);
    // Blob `digest` ("sha256:<hex>") is in the blob store, verified.
    void arrived(const std::string& digest);
    // No more blobs will come (the pull ended): the layer being unpacked is finished, no other
    // one is begun; returns when the worker has stopped.
    void stop();
    // Layers this prefetch unpacked (for the log).
    size_t unpacked() const { return unpacked_; }

private:
    void run(Manifest manifest);
    // Waits until digest arrived (true) or stop() (false).
    bool wait_for(const std::string& digest);

    store::Store& store_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::string> arrived_;
    bool stopping_ = false;
    size_t unpacked_ = 0;
    std::thread worker_;
};

}  // namespace lxbox::image
