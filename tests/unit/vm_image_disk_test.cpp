// The pure decisions about OCI images' VM disks (host/vm/image_disk.hpp) and the guest spec of
// an image of layers (host/vm/vm_run.hpp).
#include <gtest/gtest.h>

#include "host/vm/image_disk.hpp"
#include "host/vm/supervisor.hpp"
#include "host/vm/vm_run.hpp"

namespace lxbox::vm {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');

store::Registry registry_of(const std::vector<std::pair<std::string, std::string>>& images) {
    store::Registry reg;
    for (const auto& [name, manifest] : images) {
        reg.images[name].name = name;
        reg.images[name].manifest = manifest;
    }
    return reg;
}

TEST(VmImageDisk, ADiskIsNamedByItsManifestSoNoDistroNameCanCollide) {
    EXPECT_EQ(image_disk_name(kA), kA);
    EXPECT_FALSE(store::validate_name(image_disk_name(kA)));
    // The same manifest, the same disk and serial; another, another.
    EXPECT_EQ(distro_disk_serial(kA, image_disk_stamp(kA)), distro_disk_serial(kA, image_disk_stamp(kA)));
    EXPECT_NE(distro_disk_serial(kA, image_disk_stamp(kA)), distro_disk_serial(kB, image_disk_stamp(kB)));
}

TEST(VmImageDisk, OnlyDisksOfManifestsNoImageNamesAreUnused) {
    // Two names of one manifest share its disk; a distro's disk is not an image disk.
    const auto reg = registry_of({{"x", kA}, {"y", kA}, {"debian", ""}});
    EXPECT_EQ(unused_image_disks({kA, kB, "debian", "gone-distro"}, reg), std::vector<std::string>{kB});
    EXPECT_EQ(unused_image_disks({kA, kB}, registry_of({})), (std::vector<std::string>{kA, kB}));
}

TEST(VmImageDisk, EachImageCountsItsVmDisksOfEveryArchAndTheTotalEachDiskOnce) {
    // x and y name one manifest (one disk, in both arches' VM dirs); debian's disk is by its name.
    const auto reg = registry_of({{"x", kA}, {"y", kA}, {"debian", ""}, {"never-run", kB}});
    const auto u = vm_disk_usage(reg, {{kA, 100}, {"debian", 20}, {kA, 5}, {"gone-distro", 7}});
    EXPECT_EQ(u.image_bytes.at("x"), 105u);
    EXPECT_EQ(u.image_bytes.at("y"), 105u);
    EXPECT_EQ(u.image_bytes.at("debian"), 20u);
    EXPECT_EQ(u.image_bytes.at("never-run"), 0u);
    EXPECT_EQ(u.total_bytes, 132u);  // what is on file, a leftover too, each disk once
    // A distro named like nothing on file, and no disks: all zero.
    EXPECT_EQ(vm_disk_usage(reg, {}).total_bytes, 0u);
    EXPECT_EQ(vm_disk_usage(reg, {}).image_bytes.size(), 4u);
}

TEST(VmImageDisk, TheGuestRunsAnImageOfLayersOverItsOneDisk) {
    runtime::ContainerSpec spec;
    spec.name = "c";
    spec.image_rootfs = "/store/layers/sha256/top";
    spec.image_layers = {"/store/layers/sha256/top", "/store/layers/sha256/base"};
    spec.layers_dir = "/store/layers";
    auto run = guest_run(spec, DistroDisk{"/store/vm/disks/" + kA + ".ext4", "d-0123456789abcdef"}, "1");
    ASSERT_TRUE(run) << run.error().message;
    EXPECT_EQ(run->spec.at("image_rootfs"), guest_image_dir("d-0123456789abcdef") + "/rootfs");
    EXPECT_FALSE(run->spec.contains("image_layers"));  // one lower layer: the disk's
    ASSERT_EQ(run->mounts.size(), 2u);  // the image's disk and the containers disk
    EXPECT_EQ(run->mounts[0].serial, "d-0123456789abcdef");
}

}  // namespace
}  // namespace lxbox::vm
