#include "host/vm/image_disk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "host/vm/flatten.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/image/layers.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::vm {

namespace {

constexpr const char* kImageDiskPrefix = "sha256:";
constexpr const char* kBuildKind = "build";

Status make_dir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + dir);
    return {};
}

// The names in the disks directory.
std::vector<std::string> disk_dir_names(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) out.emplace_back(e->d_name);
    ::closedir(d);
    return out;
}

// The build directories whose lxbox died (killed midway): removed. A live build's stays.
void remove_dead_builds(const std::string& dir) {
    for (const auto& name : disk_dir_names(dir)) {
        const auto owner = store::parse_work_dir_name(name);
        if (!owner || !name.starts_with(std::string(".") + kBuildKind + "-") || store::owner_alive(*owner)) continue;
        if (auto st = remove_tree(dir + "/" + name); !st)
            spdlog::warn("remove a killed disk build: {}", st.error().message);
    }
}

bool disk_on_file(const std::string& path, const std::string& stamp) {
    auto have = read_file(path + ".stamp");
    return have && *have == stamp && ::access(path.c_str(), R_OK) == 0;
}

// Merges the image's layers into build/tree/rootfs and makes build/disk.ext4 of build/tree.
Result<std::string> build_disk(const store::Store& store, const store::ImageRecord& image, const std::string& build) {
    auto layers = image::image_lower_dirs(store, image);
    std::reverse(layers.begin(), layers.end());  // bottom first
    const std::string tree = build + "/tree";
    for (const auto& d : {tree, tree + "/rootfs"})
        if (::mkdir(d.c_str(), 0755) != 0) return Error::last("create " + d);
    LXBOX_TRY(flatten_layers(layers, tree + "/rootfs"));
    const std::string disk = build + "/disk.ext4";
    UniqueFd made(::open(disk.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!made) return Error::last("create " + disk);
    LXBOX_TRY(build_readonly_disk(tree, disk, "image", "build the VM disk of image " + image.name));
    return disk;
}

}  // namespace

std::string image_disk_name(const std::string& manifest) { return manifest; }

std::string image_disk_stamp(const std::string& manifest) { return "layout 2, manifest " + manifest + "\n"; }

std::vector<std::string> unused_image_disks(const std::vector<std::string>& disk_names, const store::Registry& reg) {
    std::vector<std::string> out;
    for (const auto& name : disk_names) {
        if (!name.starts_with(kImageDiskPrefix)) continue;
        const bool named = std::any_of(reg.images.begin(), reg.images.end(), [&](const auto& entry) {
            return image_disk_name(entry.second.manifest) == name;
        });
        if (!named) out.push_back(name);
    }
    return out;
}

VmDiskUsage vm_disk_usage(const store::Registry& reg, const std::vector<DiskOnFile>& disks) {
    VmDiskUsage u;
    for (const auto& [name, img] : reg.images) u.image_bytes[name] = 0;
    for (const auto& disk : disks) {
        u.total_bytes += disk.bytes;
        for (const auto& [name, img] : reg.images) {
            const bool its = img.manifest.empty() ? disk.name == name : disk.name == image_disk_name(img.manifest);
            if (its) u.image_bytes[name] += disk.bytes;
        }
    }
    return u;
}

Result<DistroDisk> ensure_image_disk(store::Store& store, const store::ImageRecord& image, const std::string& vm_dir) {
    if (!image.manifest.starts_with(kImageDiskPrefix) || image.manifest.find('/') != std::string::npos)
        return Error(ErrorKind::Invalid, "image '" + image.name + "' has no manifest digest the VM disk can be named by");
    const std::string dir = vm_dir + "/disks";
    const std::string name = image_disk_name(image.manifest);
    const std::string stamp = image_disk_stamp(image.manifest);
    DistroDisk disk{dir + "/" + name + ".ext4", distro_disk_serial(name, stamp)};
    if (disk_on_file(disk.path, stamp)) return disk;
    // vm_dir is the store's vm/, or vm/ARCH for another arch's guest (vm_dir_for).
    for (const std::string& d : {store.root() + "/vm", vm_dir, dir}) LXBOX_TRY(make_dir(d));
    // One build at a time: two first launches of one image build it once.
    auto lock = LXBOX_TRY(open_fd(dir + "/.build.lock", O_RDWR | O_CREAT, 0600));
    if (::flock(lock.get(), LOCK_EX) != 0) return Error::last("lock " + dir + "/.build.lock");
    if (disk_on_file(disk.path, stamp)) return disk;
    remove_dead_builds(dir);
    const std::string build = dir + "/" + store::work_dir_name(kBuildKind, store::self_owner(), name.substr(7, 12));
    if (::mkdir(build.c_str(), 0700) != 0) return Error::last("create " + build);
    TempDir guard = TempDir::adopt(build);  // removed on every way out
    const auto start = std::chrono::steady_clock::now();
    const std::string made = LXBOX_TRY(build_disk(store, image, build));
    LXBOX_TRY(store.with_lock([&](const store::Registry& reg) -> Status {
        const bool named = std::any_of(reg.images.begin(), reg.images.end(),
                                       [&](const auto& entry) { return entry.second.manifest == image.manifest; });
        if (!named) return Error(ErrorKind::NotFound, "image '" + image.name + "' was removed meanwhile");
        // The disk first, then its stamp: a disk without one is never attached, and rebuilt.
        if (::rename(made.c_str(), disk.path.c_str()) != 0) return Error::last("rename " + made);
        return write_file_atomic(disk.path + ".stamp", stamp, Durability::RenameOnly);
    }));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    spdlog::info("built the VM disk of image {} ({} layers) in {} ms", image.name, image.layers.size(), took.count());
    return disk;
}

Result<size_t> remove_unused_image_disks(store::Store& store, const std::string& vm_dir) {
    const std::string dir = vm_dir + "/disks";
    size_t removed = 0;
    LXBOX_TRY(store.with_lock([&](const store::Registry& reg) -> Status {
        std::vector<std::string> disks;
        for (const auto& name : disk_dir_names(dir))
            if (name.ends_with(".ext4")) disks.push_back(name.substr(0, name.size() - 5));
        for (const auto& name : unused_image_disks(disks, reg)) {
            const std::string path = dir + "/" + name + ".ext4";
            // The stamp first: a disk without one is never attached.
            for (const std::string& p : {path + ".stamp", path})
                if (::unlink(p.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + p);
            ++removed;
        }
        return {};
    }));
    remove_dead_builds(dir);
    return removed;
}

}  // namespace lxbox::vm
