// OCI images on the VM backend through the CLI: a multi-layer image (a whiteout, an opaque
// directory) imported and launched with `--backend vm` shows its merged view and runs its Cmd
// with its Env, WorkingDir and User; a container's writes reach neither another container of
// the image nor the image; `image rm` deletes the image's VM disk. One store and one VM for
// the suite (a TCG boot is seconds); the suite ends with `lxbox vm stop`: no QEMU is left.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"
#include "tests/vm/vm_cli_suite.hpp"
#include "tests/vm/vm_registry.hpp"

namespace lxbox::test {
namespace {

namespace fs = std::filesystem;

class VmImage : public VmCliSuite {
protected:
    static CommandResult lx(const std::vector<std::string>& args) {
        auto r = run_lxbox(root(), args);
        r.err = without_kvm_notice(r.err);
        return r;
    }
    // The image disks on file (vm/disks/sha256:<hex>.ext4).
    static std::vector<std::string> image_disks() {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(root() + "/vm/disks", ec))
            if (e.path().filename().string().starts_with("sha256:") && e.path().extension() == ".ext4")
                out.push_back(e.path().filename());
        return out;
    }
    // busybox, a layer of a/{x,y}, b/z and srv/, and a layer that whites out a/x, makes b
    // opaque (b/new only) and adds srv/a; its config runs `cmd` with FOO in /srv as 1000.
    static OciImage layered_image(const std::string& cmd) {
        OciImage img;
        img.layers.push_back({{}, TarFilter::None, busybox_tarball()});
        img.layers.push_back({{dir_entry("a"), file_entry("a/x", "x"), file_entry("a/y", "y"), dir_entry("b"),
                               file_entry("b/z", "z"), dir_entry("srv", 0777)}});
        img.layers.push_back({{file_entry("a/.wh.x", ""), dir_entry("b"), file_entry("b/.wh..wh..opq", ""),
                               file_entry("b/new", "new"), file_entry("srv/a", "A\n")},
                              TarFilter::Zstd});
        img.config = {{"Env", {"FOO=bar", "PATH=/bin:/usr/bin"}},
                      {"Entrypoint", {"/bin/sh", "-c"}},
                      {"Cmd", {cmd}},
                      {"WorkingDir", "/srv"},
                      {"User", "1000"}};
        return img;
    }
    // The Cmd that reports all of the above, and what it prints.
    static constexpr const char* kReport = "echo $FOO in $(pwd) as $(id -u); ls /a /b; cat a";
    static constexpr const char* kReported = "bar in /srv as 1000\n/a:\ny\n\n/b:\nnew\nA\n";
    // Imports `name`: the layered image running the report.
    static void import_image(const std::string& name) {
        const std::string layout = *dir / ("layout-" + name);
        write_oci_layout(layout, layered_image(kReport));
        auto r = lx({"import", name, layout});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
};

TEST_F(VmImage, AMultiLayerImageRunsItsCmdWithItsConfigOverItsMergedLayers) {
    import_image("img");
    auto r = lx({"launch", "--rm", "--backend", "vm", "img"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    // The whiteout hid a/x, the opaque b shows only what its own layer holds.
    EXPECT_EQ(r.out, kReported);
    // -- CMD replaces Cmd and keeps the entrypoint; the root is an overlay over the one disk.
    r = lx({"launch", "--rm", "--backend", "vm", "img", "--", "mount | grep ' / '"});
    EXPECT_TRUE(std::regex_search(r.out, std::regex("^overlay on / type overlay \\(rw,relatime,lowerdir=/run/lxbox/"
                                                    "images/d-[0-9a-f]+/rootfs,")))
        << r.out << r.err;
    EXPECT_EQ(image_disks().size(), 1u);
    EXPECT_EQ(lx({"image", "rm", "img"}).exit_code, 0);
}

// Issue 18's "the VM backend launching a pulled image": the same layers pulled from a local
// registry (TLS with the test's CA, htpasswd login), by `launch REF`'s pull on first use.
TEST_F(VmImage, AnImagePulledFromARegistryRunsItsCmdInTheVmWithItsConfigAndExitCode) {
    if (auto why = VmRegistry::unavailable_reason(); !why.empty()) LXBOX_SKIP(why);
    const std::string layout = *dir / "layout-pulled";
    const auto built = write_oci_layout(layout, layered_image(std::string(kReport) + "; exit 3"), "v1");
    std::string ref;
    {
        VmRegistry reg(root());
        ref = reg.push(layout, "v1", "vm/layered");
        auto r = reg.lxbox({"launch", "--rm", "--backend", "vm", "--ca-file", reg.ca_file(), ref});
        EXPECT_EQ(r.exit_code, 3) << r.err;
        EXPECT_EQ(without_kvm_notice(r.err), "");
        EXPECT_EQ(r.out, kReported);
    }
    // Pulled once, as what the registry served: later launches of REF need no registry.
    auto inspect = nlohmann::json::parse(lx({"inspect", "--json", "layered-v1"}).out, nullptr, false);
    ASSERT_TRUE(inspect.is_object());
    EXPECT_EQ(inspect.value("manifest", ""), built.manifest);
    EXPECT_EQ(inspect.value("source", ""), ref);
    EXPECT_EQ(inspect["layers"].size(), 3u);
    auto r = lx({"launch", "--rm", "--backend", "vm", ref, "--", "cat /srv/a; exit 4"});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_EQ(r.out, "A\n");
    const auto disks = image_disks();
    ASSERT_EQ(disks.size(), 1u);
    // `images` counts the image's VM disk (what the sparse file takes) in its size and the total.
    struct stat st {};
    ASSERT_EQ(::stat((root() + "/vm/disks/" + disks[0]).c_str(), &st), 0);
    const uint64_t disk_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    uint64_t layer_bytes = 0;
    for (const auto& l : inspect["layers"]) layer_bytes += l.value("size_bytes", uint64_t{0});
    auto images = nlohmann::json::parse(lx({"images", "--json"}).out, nullptr, false);
    ASSERT_TRUE(images.is_object());
    EXPECT_EQ(images.value("vm_disk_bytes", uint64_t{0}), disk_bytes) << images.dump();
    for (const auto& img : images["images"])
        if (img.value("name", "") == "layered-v1") {
            EXPECT_EQ(img.value("vm_disk_bytes", uint64_t{0}), disk_bytes) << img.dump();
            EXPECT_EQ(img.value("size_bytes", uint64_t{0}), layer_bytes + disk_bytes) << img.dump();
        }
    EXPECT_GT(disk_bytes, layer_bytes / 2);  // the disk holds the merged layers' files
    EXPECT_NE(lx({"images"}).out.find(" of it VM disks)"), std::string::npos);
    EXPECT_EQ(lx({"image", "rm", "layered-v1"}).exit_code, 0);
    EXPECT_TRUE(image_disks().empty());
    images = nlohmann::json::parse(lx({"images", "--json"}).out, nullptr, false);
    EXPECT_EQ(images.value("vm_disk_bytes", uint64_t{1}), 0u) << images.dump();
}

TEST_F(VmImage, AContainersWritesReachNeitherAnotherContainerNorTheImage) {
    import_image("shared");
    auto r = lx({"launch", "--backend", "vm", "--name", "one", "-u", "0", "shared", "--",
                 "echo mine > /srv/mine; echo changed-by-one > /srv/a; rm /a/y; cat /srv/mine"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "mine\n");
    // Another container of the image, kept or not, sees the image as it was.
    for (const std::vector<std::string>& how : {std::vector<std::string>{"--rm"}, {"--name", "two"}}) {
        std::vector<std::string> args{"launch", "--backend", "vm"};
        args.insert(args.end(), how.begin(), how.end());
        args.insert(args.end(), {"shared", "--", "cat /srv/a /a/y; ls /srv"});
        r = lx(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, "A\nya\n") << how[0];
    }
    // The first keeps its changes; the image's layers on the host never saw them.
    r = lx({"launch", "one", "--", "cat /srv/mine /srv/a; ls /a"});
    EXPECT_EQ(r.out, "mine\nchanged-by-one\n") << r.err;
    EXPECT_EQ(run({"sh", "-c", "grep -rlx changed-by-one " + root() + "/layers; find " + root() + "/layers -name mine"}).out,
              "");
    // image rm: its containers first, then the image and its VM disk.
    const auto disks = image_disks();
    ASSERT_EQ(disks.size(), 1u);
    EXPECT_NE(lx({"image", "rm", "shared"}).exit_code, 0);  // its containers still exist
    for (const char* c : {"one", "two"}) EXPECT_EQ(lx({"rm", c}).exit_code, 0) << c;
    // A disk build killed midway left its directory (its owner is dead): cleaned up too.
    const std::string killed = root() + "/vm/disks/.build-4194302-1-abc";
    ASSERT_EQ(run({"mkdir", "-p", killed + "/tree/rootfs"}).exit_code, 0);
    r = lx({"image", "rm", "shared"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_TRUE(image_disks().empty());
    EXPECT_FALSE(fs::exists(root() + "/vm/disks/" + disks[0] + ".stamp"));
    EXPECT_FALSE(fs::exists(killed));
}

}  // namespace
}  // namespace lxbox::test
