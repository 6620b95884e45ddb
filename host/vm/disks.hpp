// The VM's disks, built on the host with mkfs.ext4: a distro's read-only image (its rootfs,
// built once per imported distro: research measured a disk 4-20x faster than 9p) and the
// containers disk that keeps every vm container's changes across VM restarts (sparse, so it
// costs what the containers wrote).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::vm {

struct DistroDisk {
    std::string path;    // vm_dir/disks/<image>.ext4
    std::string serial;  // the virtio-blk serial it gets: names this build of the distro
};

// The distro's disk image holding rootfs/, (re)built when the image's rootfs is not the one
// it was built from. The serial changes with each rebuild, so a VM that booted with an older
// build is told apart.
Result<DistroDisk> ensure_distro_disk(const std::string& vm_dir, const std::string& image,
                                      const std::string& rootfs);

// Deletes the distro's disk (its stamp first: a disk without one is never attached), for
// `unregister`. A VM that has it attached keeps reading its open file until it stops; the
// next boot goes without it. Absent files are fine.
Status remove_distro_disk(const std::string& vm_dir, const std::string& image);

// The distro disks built so far (each with its stamp): what a VM boots with, so the first
// launch after a boot finds its distro attached.
std::vector<proto::AttachDisk> built_distro_disks(const std::string& vm_dir);

struct DiskOnFile {
    std::string name;    // NAME of vm_dir/disks/NAME.ext4: a distro's name or an image's manifest digest
    uint64_t bytes = 0;  // what the file takes: its allocated blocks (the disks are sparse)
};

// The distro and image disks in vm_dir/disks, stamped or not (not the build directories).
std::vector<DiskOnFile> disks_on_file(const std::string& vm_dir);

// A read-only ext4 filesystem at path (an existing file, overwritten) holding source's tree,
// sized to it; labelled after name. `what` starts its error.
Status build_readonly_disk(const std::string& source, const std::string& path, const std::string& name,
                           const std::string& what);

// Pure: the serial of a distro disk from its name and build stamp (at most 20 bytes).
std::string distro_disk_serial(const std::string& image, const std::string& stamp);

// An empty ext4 filesystem of `bytes` (sparse) at path, made once; an existing one is kept.
// Inode tables and journal are left unwritten (they read as zeros in a sparse file), so a
// 64 GiB disk costs a few MiB until containers write to it; the guest mounts it with
// noinit_itable so it does not zero them either.
Status ensure_empty_disk(const std::string& path, uint64_t bytes, const std::string& label);

}  // namespace lxbox::vm
