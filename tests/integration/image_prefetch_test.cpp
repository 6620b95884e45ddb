// A pull's layers unpacked as their blobs arrive (runtime/image/prefetch.hpp), on a real store
// as root: a layer is unpacked once its blob and those beneath it are in, not before, and stop()
// begins no other; register_image then finds what was unpacked and does the rest.
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "runtime/image/blobs.hpp"
#include "runtime/image/prefetch.hpp"
#include "runtime/image/register.hpp"
#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool is_dir(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class ImagePrefetch : public ::testing::Test {
protected:
    ScratchDir dir;
    store::Store store = store::Store::open(dir / "store").value();
    image::BlobStore blobs = image::BlobStore::open(dir / "store").value();
    BuiltImage built;

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (layers keep their owners)");
        OciImage img;
        img.layers.push_back({{dir_entry("a"), file_entry("a/one", "1")}});
        img.layers.push_back({{file_entry("a/two", "2")}, TarFilter::Zstd});
        const std::string layout = dir / "layout";
        built = write_oci_blobs(layout, img);
        // The blobs the helper would store: the manifest, config and layers.
        for (const auto& d : {built.manifest, built.config, built.layer_blobs[0], built.layer_blobs[1]}) {
            ASSERT_TRUE(blobs.put(slurp(layout + "/blobs/sha256/" + d.substr(7)))) << d;
        }
    }
    std::string layer_dir(size_t i) { return store.layer_dir(built.diff_ids[i].substr(7)); }
    // Polls (bounded) until the layer is in the store.
    bool wait_layer(size_t i) {
        for (int n = 0; n < 500 && !is_dir(layer_dir(i)); ++n) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return is_dir(layer_dir(i));
    }
};

TEST_F(ImagePrefetch, ALayerIsUnpackedOnceItsBlobAndThoseBeneathAreIn) {
    image::LayerPrefetch prefetch(store);
    prefetch.start(built.manifest_text);
    prefetch.arrived(built.layer_blobs[1]);  // the upper layer first: it must wait for the lower
    prefetch.arrived(built.config);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(is_dir(layer_dir(1)));
    prefetch.arrived(built.layer_blobs[0]);
    EXPECT_TRUE(wait_layer(0));
    EXPECT_TRUE(wait_layer(1));
    prefetch.stop();
    EXPECT_EQ(prefetch.unpacked(), 2u);
    EXPECT_EQ(slurp(layer_dir(1) + "/a/two"), "2");
}

TEST_F(ImagePrefetch, StopBeginsNoOtherLayerAndRegistrationDoesTheRest) {
    image::LayerPrefetch prefetch(store);
    prefetch.start(built.manifest_text);
    prefetch.arrived(built.config);
    prefetch.arrived(built.layer_blobs[0]);
    ASSERT_TRUE(wait_layer(0));
    prefetch.stop();
    prefetch.arrived(built.layer_blobs[1]);  // after stop: nothing begins
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(prefetch.unpacked(), 1u);
    EXPECT_FALSE(is_dir(layer_dir(1)));
    auto rec = image::register_image(store, "img", image::parse_digest(built.manifest).value(), {});
    ASSERT_TRUE(rec) << rec.error().message;
    EXPECT_EQ(slurp(layer_dir(1) + "/a/two"), "2");
}

}  // namespace
}  // namespace lxbox::test
