#include "host/vm/disks.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <algorithm>
#include <functional>

#include "runtime/base/files.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::vm {

namespace bp = boost::process;

namespace {

// mkfs.ext4 with args; its last complaint in the error.
Status run_mkfs(const std::vector<std::string>& args, const std::string& what) {
    auto exe = bp::search_path("mkfs.ext4", {"/usr/sbin", "/sbin", "/usr/bin", "/bin"});
    if (exe.empty()) return Error(ErrorKind::Unsupported, "mkfs.ext4 not found (install e2fsprogs)");
    try {
        bp::ipstream err;
        bp::child child(exe, bp::args(args), bp::std_out > bp::null, bp::std_err > err, bp::std_in < bp::null);
        std::string line, last;
        while (std::getline(err, line)) last = line;
        child.wait();
        if (child.exit_code() != 0)
            return Error(ErrorKind::System, what + ": mkfs.ext4 failed" + (last.empty() ? "" : ": " + last));
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, std::string("run mkfs.ext4: ") + e.what());
    }
    return {};
}

Status make_dir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + dir);
    return {};
}

}  // namespace

Status build_readonly_disk(const std::string& source, const std::string& path, const std::string& name,
                           const std::string& what) {
    const uint64_t used = tree_bytes(source);
    // Room for ext4's own metadata (inode tables, directories); read-only after this.
    const uint64_t kib = (used + used / 4) / 1024 + 16 * 1024;
    return run_mkfs({"-q", "-F", "-L", "lxbox-" + name.substr(0, 9), "-O", "^has_journal", "-E", "root_owner=0:0",
                     "-d", source, path, std::to_string(kib) + "k"},
                    what);
}

std::string distro_disk_serial(const std::string& image, const std::string& stamp) {
    // "d-" and 18 hex digits: unique enough per host, inside virtio-blk's 20-byte serial.
    const uint64_t h = std::hash<std::string>{}(image + '\0' + stamp);
    char buf[24];
    std::snprintf(buf, sizeof buf, "d-%016llx", static_cast<unsigned long long>(h));
    return buf;
}

Result<DistroDisk> ensure_distro_disk(const std::string& vm_dir, const std::string& image,
                                      const std::string& rootfs) {
    struct stat st {};
    if (::stat(rootfs.c_str(), &st) != 0) return Error::last("read distro " + image + " (" + rootfs + ")");
    // An import (or --replace) renames a new rootfs into place: a new inode or mtime means a
    // new distro.
    const std::string stamp = "layout 2, rootfs " + std::to_string(st.st_ino) + " " + std::to_string(st.st_mtim.tv_sec) +
                              "." + std::to_string(st.st_mtim.tv_nsec) + "\n";
    const std::string dir = vm_dir + "/disks";
    DistroDisk disk{dir + "/" + image + ".ext4", distro_disk_serial(image, stamp)};
    auto have = read_file(disk.path + ".stamp");
    if (have && *have == stamp && ::access(disk.path.c_str(), R_OK) == 0) return disk;
    LXBOX_TRY(make_dir(vm_dir));
    LXBOX_TRY(make_dir(dir));
    // The image's directory goes in, rootfs/ under the disk's root: the guest mounts the disk
    // at the image's place and ext4's lost+found stays out of the container's root.
    const std::string source = rootfs.substr(0, rootfs.rfind('/'));
    // mkfs fills a file made here under a name of our own (mkfs would open a planted link).
    const std::string tmp = LXBOX_TRY(create_temp_beside(disk.path, ".tmp.", 0644)).path;
    auto made = build_readonly_disk(source, tmp, image, "build the disk of distro " + image);
    if (!made) {
        ::unlink(tmp.c_str());
        return std::move(made).error();
    }
    if (::rename(tmp.c_str(), disk.path.c_str()) != 0) return Error::last("rename " + tmp);
    LXBOX_TRY(write_file_atomic(disk.path + ".stamp", stamp, Durability::RenameOnly));
    return disk;
}

Status remove_distro_disk(const std::string& vm_dir, const std::string& image) {
    const std::string path = vm_dir + "/disks/" + image + ".ext4";
    for (const std::string& p : {path + ".stamp", path})
        if (::unlink(p.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + p);
    return {};
}

namespace {

// The disks' names in vm_dir/disks (NAME of NAME.ext4), sorted; not the build directories (".build-*").
std::vector<std::string> disk_names(const std::string& vm_dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir((vm_dir + "/disks").c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.ends_with(".ext4") && !name.starts_with(".")) out.push_back(name.substr(0, name.size() - 5));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

std::vector<proto::AttachDisk> built_distro_disks(const std::string& vm_dir) {
    std::vector<proto::AttachDisk> out;
    for (const auto& name : disk_names(vm_dir)) {
        const std::string path = vm_dir + "/disks/" + name + ".ext4";
        auto stamp = read_file(path + ".stamp");
        if (!stamp) continue;
        out.push_back({distro_disk_serial(name, *stamp), path, true});
    }
    return out;
}

std::vector<DiskOnFile> disks_on_file(const std::string& vm_dir) {
    std::vector<DiskOnFile> out;
    for (const auto& name : disk_names(vm_dir)) {
        struct stat st {};
        if (::stat((vm_dir + "/disks/" + name + ".ext4").c_str(), &st) != 0) continue;  // removed meanwhile
        out.push_back({name, static_cast<uint64_t>(st.st_blocks) * 512});
    }
    return out;
}

Status ensure_empty_disk(const std::string& path, uint64_t bytes, const std::string& label) {
    if (::access(path.c_str(), F_OK) == 0) return {};
    LXBOX_TRY(make_dir(path.substr(0, path.rfind('/'))));
    const std::string tmp = LXBOX_TRY(create_temp_beside(path, ".tmp.", 0644)).path;
    // A journal: these are the user's files, written while the VM runs.
    auto made = run_mkfs({"-q", "-F", "-L", label, "-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1", tmp,
                          std::to_string(bytes / 1024) + "k"},
                         "make the disk " + path);
    if (!made) {
        ::unlink(tmp.c_str());
        return made;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::last("rename " + tmp);
    return {};
}

}  // namespace lxbox::vm
