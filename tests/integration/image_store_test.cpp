// OCI images in the store, on a real filesystem as root: layers unpacked once by diff_id with
// whiteouts, opaque directories and hard links across layers; the overlay of a layer stack
// mounted both ways (lowerdir+ and the short links of older kernels); every bad input of the
// issue that applies to import: one error, nothing registered, nothing written outside.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>

#include "runtime/image/blobs.hpp"
#include "runtime/image/import.hpp"
#include "runtime/image/layers.hpp"
#include "runtime/image/register.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/plan/plan.hpp"
#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

class ImageStore : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string layout = dir / "layout";
    store::Store store = store::Store::open(dir / "store").value();

    Result<store::ImageRecord> import(const std::string& name, const OciImage& img) {
        write_oci_layout(layout, img);
        return image::import_oci_layout(store, name, layout, {});
    }

    // What a failed import must leave: no image, no layer, nothing in flight.
    void expect_nothing_registered() {
        auto reg = store.load().value();
        EXPECT_TRUE(reg.images.empty());
        EXPECT_TRUE(reg.layers.empty());
        EXPECT_EQ(run({"sh", "-c", "ls -A " + root + "/layers/sha256 2>/dev/null; ls -A " + root + "/tmp"}).out, "");
    }

    static OciImage two_layers() {
        OciImage img;
        img.layers.push_back({{dir_entry("a"), file_entry("a/x", "x"), file_entry("a/y", "y"), dir_entry("b"),
                               file_entry("b/z", "z"), file_entry("keep", "kept", 0755)},
                              TarFilter::Gzip});
        img.layers.push_back({{file_entry("a/.wh.x", ""), dir_entry("b"), file_entry("b/.wh..wh..opq", ""),
                               file_entry("b/new", "new"), hardlink_entry("hl", "keep")},
                              TarFilter::Zstd});
        return img;
    }
};

TEST_F(ImageStore, LayersUnpackWithWhiteoutsOpaqueDirsAndCrossLayerLinks) {
    auto rec = import("two", two_layers());
    ASSERT_TRUE(rec.ok()) << rec.error().message;
    ASSERT_EQ(rec->layers.size(), 2u);
    const auto top = store.layer_dir(image::parse_digest(rec->layers[1]).value().hex);
    struct stat st;
    ASSERT_EQ(::lstat((top + "/a/x").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, ::makedev(0, 0));
    char v[8] = {};
    EXPECT_EQ(::getxattr((top + "/b").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
    EXPECT_EQ(std::string(v), "y");
    // The link's target lived in the lower layer: copied up beside it, then linked.
    EXPECT_EQ(slurp(top + "/hl"), "kept");
    ASSERT_EQ(::stat((top + "/keep").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 2u);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_FALSE(exists(top + "/.wh..wh..opq"));
    EXPECT_FALSE(exists(top + "/b/.wh..wh..opq"));
}

TEST_F(ImageStore, SharedLayersAreUnpackedOnce) {
    OciImage base;
    base.layers.push_back({{file_entry("base", "b")}, TarFilter::Gzip});
    auto a = import("a", base).value();
    OciImage child = base;
    child.layers.push_back({{file_entry("extra", "e")}, TarFilter::Gzip});
    ScratchDir other;
    write_oci_layout(other / "l", child);
    auto b = image::import_oci_layout(store, "b", other / "l", {}).value();
    EXPECT_EQ(a.layers[0], b.layers[0]);
    EXPECT_EQ(store.load().value().layers.size(), 2u);
}

// Mounts the two-layer image's overlay the way the runtime does, and checks the merged view.
void expect_merged_view(const store::Store& store, const store::ImageRecord& rec, const std::string& work, bool short_names) {
    runtime::ContainerSpec spec;
    spec.container_dir = work;
    for (auto it = rec.layers.rbegin(); it != rec.layers.rend(); ++it)
        spec.image_layers.push_back(store.layer_dir(image::parse_digest(*it).value().hex));
    spec.image_rootfs = spec.image_layers.front();
    spec.layers_dir = store.root() + "/layers";
    ::mkdir(work.c_str(), 0755);
    for (const char* d : {"/upper", "/work", "/rootfs"}) ::mkdir((work + d).c_str(), 0755);
    auto plan = runtime::plan_overlay(spec);
    if (short_names) EXPECT_NE(plan.short_options.find("lowerdir=l/"), std::string::npos) << plan.short_options;
    auto st = linux_fx::mount_overlay_layers(plan, short_names);
    ASSERT_TRUE(st.ok()) << st.error().message;
    const std::string m = plan.merged;
    EXPECT_FALSE(exists(m + "/a/x"));
    EXPECT_EQ(slurp(m + "/a/y"), "y");
    EXPECT_FALSE(exists(m + "/b/z"));
    EXPECT_EQ(slurp(m + "/b/new"), "new");
    EXPECT_EQ(slurp(m + "/hl"), "kept");
    ::umount2(m.c_str(), MNT_DETACH);
}

TEST_F(ImageStore, OverlayOfTheLayersShowsTheImage) {
    if (!is_root()) {
        LXBOX_SKIP("mounting overlayfs needs root");
    }
    auto rec = import("two", two_layers()).value();
    expect_merged_view(store, rec, dir / "c1", false);
    expect_merged_view(store, rec, dir / "c2", true);
}

TEST_F(ImageStore, OutsidePointingWhiteoutIsRefused) {
    for (const char* bad : {"a/.wh..", "a/.wh.../../x", ".wh."}) {
        OciImage img;
        img.layers.push_back({{dir_entry("a"), file_entry(bad, "")}, TarFilter::Gzip});
        auto r = import("bad", img);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().message;
        expect_nothing_registered();
    }
}

TEST_F(ImageStore, HostileLayerEntryIsRefused) {
    ::mkdir((dir / "outside").c_str(), 0755);
    OciImage img;
    img.layers.push_back({{symlink_entry("link", dir / "outside"), file_entry("link/pwned", "x")}, TarFilter::Gzip});
    auto r = import("bad", img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().message;
    EXPECT_FALSE(exists(dir / "outside/pwned"));
    expect_nothing_registered();
}

TEST_F(ImageStore, BlobDigestMismatchIsRefused) {
    auto built = write_oci_layout(layout, two_layers());
    const std::string blob = layout + "/blobs/sha256/" + image::parse_digest(built.layer_blobs[0]).value().hex;
    ::chmod(blob.c_str(), 0644);
    std::ofstream(blob, std::ios::app) << "tampered";
    auto r = image::import_oci_layout(store, "bad", layout, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("longer than its stated"), std::string::npos) << r.error().message;
    // Same size, other bytes: the digest is what catches it.
    auto built2 = write_oci_layout(layout, two_layers());
    std::string data = slurp(blob);
    data[data.size() / 2] ^= 1;
    std::ofstream(blob, std::ios::trunc | std::ios::binary) << data;
    r = image::import_oci_layout(store, "bad", layout, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("digest mismatch"), std::string::npos) << r.error().message;
    expect_nothing_registered();
}

TEST_F(ImageStore, DiffIdMismatchIsRefused) {
    OciImage img = two_layers();
    auto built = write_oci_blobs(layout, img);
    // A config whose diff_ids do not match the layers.
    nlohmann::json config = {{"architecture", "amd64"}, {"os", "linux"},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", {built.diff_ids[1], built.diff_ids[0]}}}}};
    auto manifest = nlohmann::json::parse(built.manifest_text);
    const std::string ctext = config.dump();
    manifest["config"]["digest"] = write_blob(layout, ctext);
    manifest["config"]["size"] = ctext.size();
    const std::string mtext = manifest.dump();
    nlohmann::json index = {{"schemaVersion", 2},
                            {"manifests", {{{"mediaType", image::media::kOciManifest}, {"digest", write_blob(layout, mtext)},
                                            {"size", mtext.size()}}}}};
    std::ofstream(layout + "/index.json") << index.dump();
    std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    auto r = image::import_oci_layout(store, "bad", layout, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("the config says"), std::string::npos) << r.error().message;
    expect_nothing_registered();
}

TEST_F(ImageStore, ManifestNotJsonAndUnsupportedMediaTypeAreRefused) {
    auto built = write_oci_layout(layout, two_layers());
    auto point_index_at = [&](const std::string& text, const std::string& media) {
        nlohmann::json index = {{"schemaVersion", 2},
                                {"manifests", {{{"mediaType", media}, {"digest", write_blob(layout, text)},
                                                {"size", text.size()}}}}};
        std::ofstream(layout + "/index.json") << index.dump();
    };
    point_index_at("this is { not json", image::media::kOciManifest);
    auto r = image::import_oci_layout(store, "bad", layout, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not JSON"), std::string::npos) << r.error().message;
    auto m = nlohmann::json::parse(built.manifest_text);
    m["layers"][0]["mediaType"] = "application/vnd.example.layer.v1.tar+lz4";
    point_index_at(m.dump(), image::media::kOciManifest);
    r = image::import_oci_layout(store, "bad", layout, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Unsupported) << r.error().message;
    expect_nothing_registered();
}

TEST_F(ImageStore, KilledUnpackLeavesTheStoreUsable) {
    // What a kill mid-unpack leaves: an unpack dir of a dead owner, a blob temp of one.
    auto blobs = image::BlobStore::open(root).value();
    ::mkdir((root + "/layers").c_str(), 0700);
    ::mkdir((root + "/layers/sha256").c_str(), 0700);
    const std::string dead = ".unpack-999999-1-" + std::string(64, 'a');
    ::mkdir((root + "/layers/sha256/" + dead).c_str(), 0755);
    std::ofstream(root + "/tmp/.blob-999999-1-new.0") << "half";
    auto reopened = store::Store::open(root).value();
    EXPECT_FALSE(exists(root + "/layers/sha256/" + dead));
    EXPECT_FALSE(exists(root + "/tmp/.blob-999999-1-new.0"));
    EXPECT_TRUE(import("two", two_layers()).ok());
}

}  // namespace
}  // namespace lxbox::test
