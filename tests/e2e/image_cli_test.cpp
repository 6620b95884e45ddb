// Images as a user meets them: `lxbox import` of an OCI layout, an oci-archive and a docker save
// tar (made by skopeo from a layout the test builds), multi-platform choice, the config as
// launch defaults, a 127-layer image launched for real, images/inspect/rm/prune, and a store of
// the version before images.
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class ImageCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";

    void SetUp() override {
        if (!is_root()) {
            LXBOX_SKIP("launching containers of images needs root here");
        }
    }

    // busybox as the base layer, then the given ones.
    static OciImage on_busybox(std::vector<OciLayer> more, nlohmann::json config = nlohmann::json::object()) {
        OciImage img;
        img.layers.push_back({{}, TarFilter::None, busybox_tarball()});
        for (auto& l : more) img.layers.push_back(std::move(l));
        img.config = std::move(config);
        return img;
    }

    CommandResult lx(const std::vector<std::string>& args) { return run_lxbox(root, args); }

    // What is in flight or half-made in the store: blob temps, unpacks, import dirs ("" = none).
    std::string leftovers() {
        return run({"sh", "-c", "cd " + root + " && ls -A tmp 2>/dev/null; ls -A images | grep -v '^busybox$'; "
                                "ls -A layers/sha256 2>/dev/null | grep '^\\.'"}).out;
    }

    nlohmann::json inspect(const std::string& name) {
        auto r = lx({"inspect", name, "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
    }
};

OciLayer layer(std::vector<TarEntry> entries, TarFilter f = TarFilter::Gzip) { return {std::move(entries), f, ""}; }

TEST_F(ImageCli, OciLayoutWithWhiteoutsLaunches) {
    write_oci_layout(dir / "layout",
                     on_busybox({layer({dir_entry("srv"), file_entry("srv/a", "A\n"), file_entry("srv/gone", "x")}),
                                 layer({file_entry("srv/.wh.gone", ""), file_entry("srv/b", "B\n")}, TarFilter::Zstd)}));
    auto imp = lx({"import", "img", dir / "layout"});
    ASSERT_EQ(imp.exit_code, 0) << imp.err;
    auto r = lx({"launch", "--rm", "img", "--", "sh", "-c", "cat /srv/a /srv/b; ls /srv"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "A\nB\na\nb\n");
    EXPECT_EQ(inspect("img")["layers"].size(), 3u);
}

TEST_F(ImageCli, OciArchiveAndDockerSaveImport) {
    write_oci_layout(dir / "layout", on_busybox({layer({file_entry("hello", "hi\n")})}), "v1");
    for (const std::string transport : {"oci-archive", "docker-archive"}) {
        const std::string file = dir / (transport + ".tar");
        auto cp = run({"skopeo", "copy", "--quiet", "oci:" + dir / "layout" + ":v1", transport + ":" + file +
                                                                                    (transport == "docker-archive" ? ":img:v1" : "")});
        ASSERT_EQ(cp.exit_code, 0) << cp.err;
        auto imp = lx({"import", transport, file});
        ASSERT_EQ(imp.exit_code, 0) << transport << ": " << imp.err;
        auto r = lx({"launch", "--rm", transport, "--", "cat", "/hello"});
        EXPECT_EQ(r.out, "hi\n") << transport << ": " << r.err;
    }
    // The archives' extraction is gone: nothing in flight, nothing beside the store.
    EXPECT_EQ(leftovers(), "");
}

TEST_F(ImageCli, ConfigGivesTheLaunchDefaults) {
    nlohmann::json config = {{"Env", {"FOO=bar", "PATH=/bin:/usr/bin"}},
                             {"Entrypoint", {"/bin/sh", "-c"}},
                             {"Cmd", {"echo $FOO in $(pwd) as $(id -u)"}},
                             {"WorkingDir", "/srv"},
                             {"User", "1000"}};
    write_oci_layout(dir / "layout", on_busybox({layer({dir_entry("srv", 0777)})}, config));
    ASSERT_EQ(lx({"import", "app", dir / "layout"}).exit_code, 0);
    auto r = lx({"launch", "--rm", "app"});
    EXPECT_EQ(r.out, "bar in /srv as 1000\n") << r.err;
    // -- CMD replaces Cmd and keeps the entrypoint; -e overrides Env; flags override the rest.
    r = lx({"launch", "--rm", "-e", "FOO=baz", "-u", "0", "--cd", "/", "app", "--", "echo $FOO in $(pwd) as $(id -u)!"});
    EXPECT_EQ(r.out, "baz in / as 0!\n") << r.err;
    auto j = inspect("app");
    EXPECT_EQ(j["config"]["working_dir"], "/srv");
    EXPECT_EQ(j["config"]["entrypoint"], nlohmann::json({"/bin/sh", "-c"}));
}

TEST_F(ImageCli, ManyLayersLaunch) {
    std::vector<OciLayer> more;
    for (int i = 1; i < 127; ++i)
        more.push_back(layer({dir_entry("l"), file_entry("l/" + std::to_string(i), std::to_string(i))},
                             i % 2 ? TarFilter::Gzip : TarFilter::Zstd));
    write_oci_layout(dir / "layout", on_busybox(std::move(more)));
    auto imp = lx({"import", "big", dir / "layout"});
    ASSERT_EQ(imp.exit_code, 0) << imp.err;
    EXPECT_EQ(inspect("big")["layers"].size(), 127u);
    auto r = lx({"launch", "--rm", "big", "--", "sh", "-c", "ls /l | wc -l; cat /l/1 /l/126"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "126\n1126");
    // A kept container of it too (its upper dir on disk, not in the scratch tmpfs).
    r = lx({"launch", "--name", "keep", "big", "--", "sh", "-c", "echo x > /l/new; cat /l/new"});
    EXPECT_EQ(r.out, "x\n") << r.err;
    EXPECT_EQ(lx({"rm", "keep"}).exit_code, 0);
}

TEST_F(ImageCli, PlatformIsChosenFromAMultiPlatformIndex) {
    const std::string layout = dir / "layout";
    auto amd = write_oci_blobs(layout, on_busybox({}));
    OciImage arm = on_busybox({layer({file_entry("arm", "1")})});
    arm.architecture = "arm64";
    auto armb = write_oci_blobs(layout, arm);
    nlohmann::json index = {
        {"schemaVersion", 2},
        {"manifests",
         {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", amd.manifest},
           {"size", amd.manifest_text.size()}, {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
          {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", armb.manifest},
           {"size", armb.manifest_text.size()}, {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}}}}};
    std::ofstream(layout + "/index.json") << index.dump();
    std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    ASSERT_EQ(lx({"import", "host", layout}).exit_code, 0);
    EXPECT_EQ(inspect("host")["arch"], "x86_64");
    auto r = lx({"import", "--platform", "linux/arm64", "arm", layout});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(inspect("arm")["arch"], "aarch64");
    r = lx({"import", "--platform", "linux/s390x", "none", layout});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("no image for linux/s390x"), std::string::npos) << r.err;
}

TEST_F(ImageCli, BadImageArchiveIsOneLineAndRegistersNothing) {
    const std::string layout = dir / "layout";
    write_oci_layout(layout, on_busybox({layer({file_entry("f", "x")})}));
    std::ofstream(layout + "/index.json") << "{ this is not json";
    auto cp = run({"tar", "-C", layout, "-cf", dir / "bad.tar", "."});
    ASSERT_EQ(cp.exit_code, 0);
    auto r = lx({"import", "bad", dir / "bad.tar"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("not JSON"), std::string::npos) << r.err;
    EXPECT_EQ(lx({"inspect", "bad"}).exit_code, 125);
    EXPECT_EQ(leftovers(), "");
    EXPECT_EQ(run({"sh", "-c", "ls -A " + root + "/layers/sha256 2>/dev/null"}).out, "");
}

TEST_F(ImageCli, ImagesCountSharedLayersOnceAndPruneDeletesWhatNoneUses) {
    write_oci_layout(dir / "a", on_busybox({layer({file_entry("a", std::string(100000, 'a'))})}));
    write_oci_layout(dir / "b", on_busybox({layer({file_entry("b", std::string(100000, 'b'))})}));
    ASSERT_EQ(lx({"import", "a", dir / "a"}).exit_code, 0);
    ASSERT_EQ(lx({"import", "b", dir / "b"}).exit_code, 0);
    auto r = lx({"images", "--json"});
    auto j = nlohmann::json::parse(r.out);
    uint64_t sum = 0, a = 0;
    for (const auto& i : j["images"]) {
        sum += i["size_bytes"].get<uint64_t>();
        if (i["name"] == "a") a = i["size_bytes"];
    }
    EXPECT_LT(j["total_bytes"].get<uint64_t>(), sum);  // the busybox layer once
    EXPECT_GT(j["total_bytes"].get<uint64_t>(), a);
    ASSERT_EQ(lx({"image", "rm", "a"}).exit_code, 0);
    auto layers = [&] { return run({"sh", "-c", "ls " + root + "/layers/sha256 | wc -l"}).out; };
    EXPECT_EQ(layers(), "2\n");  // busybox's, shared with b, stays
    EXPECT_EQ(lx({"launch", "--rm", "b", "--", "test", "-f", "/b"}).exit_code, 0);
    ASSERT_EQ(lx({"unregister", "b"}).exit_code, 0);
    ASSERT_EQ(lx({"image", "prune"}).exit_code, 0);
    EXPECT_EQ(layers(), "0\n");
    EXPECT_EQ(run({"sh", "-c", "ls " + root + "/blobs/sha256 | wc -l"}).out, "0\n");
}

// registry.json as lxbox wrote it before images (version 1, no layers): every distro is read as
// a one-layer image, launches as before, and the file becomes version 2 on its next write.
TEST_F(ImageCli, StoreFromBeforeImagesStillWorks) {
    ASSERT_EQ(lx({"import", "old", busybox_tarball()}).exit_code, 0);
    auto reg = nlohmann::json::parse(registry_text(root));
    reg["version"] = 1;
    reg.erase("layers");
    std::ofstream(root + "/registry.json") << reg.dump(2);
    auto r = lx({"launch", "--rm", "old", "--", "echo", "ok"});
    EXPECT_EQ(r.out, "ok\n") << r.err;
    auto img = inspect("old");
    EXPECT_EQ(img["layers"].size(), 1u);
    EXPECT_EQ(img["layers"][0]["dir"], root + "/images/old/rootfs");
    ASSERT_EQ(lx({"launch", "--name", "c", "old", "--", "true"}).exit_code, 0);
    auto after = nlohmann::json::parse(registry_text(root));
    EXPECT_EQ(after["version"], 2);
    EXPECT_EQ(after["images"]["old"]["size_bytes"], reg["images"]["old"]["size_bytes"]);
    EXPECT_EQ(lx({"rm", "c"}).exit_code, 0);
}

}  // namespace
}  // namespace lxbox::test
