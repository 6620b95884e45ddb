// An OCI image's disk for the VM backend: its layers merged into one read-only ext4 image,
// built on its first vm launch and cached by manifest digest (vm/disks/sha256:<hex>.ext4, with
// a stamp like a distro's disk, so the supervisor boots with it and hot-plugs it the same
// way). Every container of the image mounts it as the one lower layer of its overlay in the
// guest; a container's changes live in its own upper dir (the containers disk, or the guest's
// memory for --rm), so they never reach the image or another container.
//
// Why one flattened disk per image, not one disk per layer stacked by overlayfs in the guest
// (docs/vm-images.md, tools/bench/vm-images.sh): a launch plugs and mounts one disk instead of
// one per layer (127 layers is a real image: 127 SCSI hot-plugs and 127 ext4 mounts under
// TCG at each VM boot), and mkfs.ext4's fixed cost is paid once per image instead of once per
// layer. The price is disk space: two images sharing a base each hold a copy of it in their
// disks (sparse files: what the merged tree takes, once per image).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host/vm/disks.hpp"
#include "runtime/base/error.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::vm {

// Pure: the name of an image's disk (its file is vm/disks/<name>.ext4): the manifest digest,
// which no distro's name can be (':' is not allowed in one).
std::string image_disk_name(const std::string& manifest);

// Pure: the stamp an image's disk is built with; the same manifest is the same tree, so a disk
// with it is never rebuilt.
std::string image_disk_stamp(const std::string& manifest);

// Pure: which of the image disks on file (their names) no image of reg names by its manifest.
std::vector<std::string> unused_image_disks(const std::vector<std::string>& disk_names, const store::Registry& reg);

struct VmDiskUsage {
    std::map<std::string, uint64_t> image_bytes;  // each image: its disks in every arch's VM dir
    uint64_t total_bytes = 0;                     // every disk on file, once
};

// Pure: what the VM disks on file (of every arch's VM dir) take for each image of reg: a rootfs
// distro's disk is named by the distro, an OCI image's by its manifest (image_disk_name), so
// two names of one image both count its disk, and the total counts it once.
VmDiskUsage vm_disk_usage(const store::Registry& reg, const std::vector<DiskOnFile>& disks);

// The image's disk, built when it is not on file: its layers merged (flatten.hpp) into a
// build directory of this process, mkfs.ext4 -d, and renamed into place under the store's
// lock only while an image still names the manifest (an `image rm` meanwhile wins). Builds
// are serialized by VM_DIR/disks/.build.lock; a killed build's directory is removed by the next.
// vm_dir is the VM of the arch the image runs in (vm_dir_for).
Result<DistroDisk> ensure_image_disk(store::Store& store, const store::ImageRecord& image, const std::string& vm_dir);

// Deletes the disks of manifests no image names any more (after `image rm`, `image prune`,
// `unregister`), under the store's lock, and the build directories of dead builds; returns how
// many disks went. In one VM's disks (vm_dir).
Result<size_t> remove_unused_image_disks(store::Store& store, const std::string& vm_dir);

}  // namespace lxbox::vm
