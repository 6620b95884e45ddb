#include "runtime/archive/tree_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::archive {

namespace {

// The umask, read without changing it (umask(2) would, process-wide, racing other threads);
// unknown reads as 0777, which makes every file get its explicit chmod.
mode_t current_umask() {
    auto status = read_file("/proc/self/status");
    auto umask = status ? linux_fx::parse_status_number(*status, "Umask", 8) : std::nullopt;
    return umask ? static_cast<mode_t>(*umask) : 0777;
}

}  // namespace

std::pair<std::string, std::string> split_parent(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return {"", path};
    return {path.substr(0, slash), path.substr(slash + 1)};
}

Error refused(const std::string& path, const std::string& why) {
    return Error(ErrorKind::Refused, "entry '" + path + "' " + why + ": refused");
}

Error resolve_error(int err, const std::string& entry, const std::string& dir) {
    if (err == ELOOP || err == EXDEV)
        return refused(entry, "goes through a symlink or out of the root ('" + dir + "')");
    if (err == ENOTDIR) return Error(ErrorKind::Invalid, "entry '" + entry + "': '" + dir + "' is not a directory");
    return Error::sys(err, "entry '" + entry + "': open '" + dir + "'");
}

TreeWriter::TreeWriter(UniqueFd root, const ExtractOptions& opts)
    : root_(std::move(root)), opts_(opts), self_uid_(::geteuid()), self_gid_(::getegid()) {
    struct stat st;
    root_setgid_ = ::fstat(root_.get(), &st) != 0 || (st.st_mode & S_ISGID) != 0;
    umask_ = current_umask();
}

Result<UniqueFd> TreeWriter::open_beneath(int dirfd, const std::string& path, int flags) {
    // RESOLVE_BENEATH: no "..", no absolute path, no escape; RESOLVE_NO_SYMLINKS: no symlink
    // in any component, so an entry can never be written through a link an earlier entry made.
    int fd = sys::openat2(dirfd, path.empty() ? "." : path.c_str(), static_cast<uint64_t>(flags),
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    if (fd < 0) return Error::sys(errno, path);
    return UniqueFd(fd);
}

Status TreeWriter::make_parents(const std::string& parent) {
    // An archive may omit directory entries ("a/b/c" with no "a/"): create them, one
    // component at a time, each opened beneath the previous one.
    UniqueFd dir = LXBOX_TRY(open_beneath(root_.get(), "", O_PATH | O_DIRECTORY));
    size_t start = 0;
    while (start < parent.size()) {
        size_t end = parent.find('/', start);
        if (end == std::string::npos) end = parent.size();
        const std::string part = parent.substr(start, end - start);
        start = end + 1;
        if (part.empty() || part == ".") continue;
        if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
            return Error::last("create directory '" + parent.substr(0, end) + "'");
        auto next = open_beneath(dir.get(), part, O_PATH | O_DIRECTORY);
        if (!next) return resolve_error(next.error().errno_value, parent, parent.substr(0, end));
        dir = std::move(*next);
    }
    return {};
}

Result<int> TreeWriter::parent_dir(const std::string& parent) {
    if (has_cached_parent_ && parent == cached_parent_) return cached_parent_fd_.get();
    auto fd = open_beneath(root_.get(), parent, O_PATH | O_DIRECTORY);
    if (!fd && fd.error().errno_value == ENOENT) {
        LXBOX_TRY(make_parents(parent));
        fd = open_beneath(root_.get(), parent, O_PATH | O_DIRECTORY);
    }
    if (!fd) return resolve_error(fd.error().errno_value, parent + "/", parent);
    cached_parent_fd_ = std::move(*fd);
    cached_parent_ = parent;
    has_cached_parent_ = true;
    return cached_parent_fd_.get();
}

// Tar semantics: a later entry replaces an earlier one of the same name; a directory over a
// directory merges.
Status TreeWriter::remove_existing(int dirfd, const std::string& leaf, const EntryHeader& h, bool& keep_dir) {
    keep_dir = false;
    struct stat st;
    if (::fstatat(dirfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
    // The cached parent may be (under) the path about to be replaced: forget it.
    if (!(S_ISDIR(st.st_mode) && h.type == S_IFDIR)) has_cached_parent_ = false;
    if (S_ISDIR(st.st_mode)) {
        if (h.type == S_IFDIR) {
            keep_dir = true;
            return {};
        }
        if (::unlinkat(dirfd, leaf.c_str(), AT_REMOVEDIR) != 0)
            return Error::last("entry '" + h.path + "' replaces a directory");
        return {};
    }
    if (::unlinkat(dirfd, leaf.c_str(), 0) != 0) return Error::last("entry '" + h.path + "' replaces a file");
    return {};
}

Status TreeWriter::create_node(int dirfd, const std::string& leaf, const EntryHeader& h) {
    switch (h.type) {
        case S_IFDIR:
            if (::mkdirat(dirfd, leaf.c_str(), 0700) != 0) return Error::last("create directory '" + h.path + "'");
            return {};
        case S_IFLNK:
            if (::symlinkat(h.symlink.c_str(), dirfd, leaf.c_str()) != 0) return Error::last("create symlink '" + h.path + "'");
            return {};
        case S_IFIFO:
            if (::mkfifoat(dirfd, leaf.c_str(), 0600) != 0) return Error::last("create fifo '" + h.path + "'");
            return {};
        case S_IFCHR:
        case S_IFBLK:
            if (::mknodat(dirfd, leaf.c_str(), h.type | 0600, h.rdev) != 0)
                return Error::last("create device node '" + h.path + "'");
            return {};
        default:
            return Error(ErrorKind::Invalid, "entry '" + h.path + "' has an unsupported type");
    }
}

bool TreeWriter::needs_chown(const EntryHeader& h) const {
    // A new inode already belongs to us (unless a setgid root hands its group down): skipping
    // the no-op chown saves a syscall per file, most of a rootfs being root's.
    return opts_.same_owner && (h.uid != self_uid_ || h.gid != self_gid_ || root_setgid_);
}

bool TreeWriter::needs_chmod(const EntryHeader& h) const {
    // A regular file was created with its mode, which the umask alone could have changed; a
    // chown (clears setuid/setgid) or special bits need the explicit chmod. Directories always
    // need it: they were made 0700 to stay writable until finish().
    if (h.type != S_IFREG) return true;
    return (h.perm & 07000) != 0 || (h.perm & umask_) != 0 || needs_chown(h);
}

Status TreeWriter::xattr_failure(const std::string& name, const EntryHeader& h) {
    const int err = errno;
    // Without root (same_owner off) security.* and trusted.* cannot be set; tar warns and goes
    // on, and so do we. As root every xattr must land: a lost security.capability breaks ping.
    if (!opts_.same_owner && (err == EPERM || err == ENOTSUP)) {
        spdlog::debug("cannot set xattr {} on '{}': {}", name, h.path, std::strerror(err));
        return {};
    }
    return Error::sys(err, "set xattr " + name + " on '" + h.path + "'");
}

Status TreeWriter::set_owner_mode_time(int dirfd, const std::string& leaf, const EntryHeader& h) {
    if (needs_chown(h) && ::fchownat(dirfd, leaf.c_str(), h.uid, h.gid, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::last("chown '" + h.path + "'");
    // A symlink has no mode of its own; the node was just made by us, so no link to follow.
    if (h.type != S_IFLNK && ::fchmodat(dirfd, leaf.c_str(), h.perm, 0) != 0)
        return Error::last("chmod '" + h.path + "'");
    if (!h.xattrs.empty()) {
        // No fd of a symlink, fifo or device takes fsetxattr (O_PATH fds refuse it) and glibc
        // has no setxattrat: go through the parent's fd in /proc, leaf not followed (lsetxattr).
        const std::string at = "/proc/self/fd/" + std::to_string(dirfd) + "/" + leaf;
        for (const auto& [name, value] : h.xattrs) {
            if (::lsetxattr(at.c_str(), name.c_str(), value.data(), value.size(), 0) != 0)
                LXBOX_TRY(xattr_failure(name, h));
        }
    }
    struct timespec times[2] = {h.mtime, h.mtime};
    if (::utimensat(dirfd, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::last("set mtime of '" + h.path + "'");
    return {};
}

Status TreeWriter::begin_entry(const EntryHeader& h) {
    ++stats_.entries;
    if (h.path.empty()) {  // "./": the root's own attributes, applied at the end
        dirs_.push_back({"", h});
        return {};
    }
    if ((h.type == S_IFCHR || h.type == S_IFBLK) && !opts_.allow_devices) {
        spdlog::debug("skipping device node {} (not root)", h.path);
        return {};
    }
    if (opts_.oci_layer) {
        LayerEntry e = LXBOX_TRY(layer_entry(h.path));
        if (e.kind == LayerEntry::Kind::Whiteout) return make_whiteout(e.path, h);
        if (e.kind == LayerEntry::Kind::Opaque) return make_opaque(e.path, h);
        if (e.kind == LayerEntry::Kind::Skip) return {};
    }
    auto [parent, leaf] = split_parent(h.path);
    if (!h.hardlink.empty()) return begin_hardlink(parent, leaf, h);
    if (h.type == S_IFREG) return begin_file(parent, leaf, h);
    return begin_node(parent, leaf, h);
}

Status TreeWriter::begin_hardlink(const std::string& parent, const std::string& leaf, const EntryHeader& h) {
    auto [tparent, tleaf] = split_parent(h.hardlink);
    if (!opts_.lower_dirs.empty()) {
        struct stat st;
        auto probe = open_beneath(root_.get(), tparent, O_PATH | O_DIRECTORY);
        if (!probe || ::fstatat(probe->get(), tleaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            LXBOX_TRY(copy_up(h.hardlink, h));
    }
    auto tdir = open_beneath(root_.get(), tparent, O_PATH | O_DIRECTORY);
    if (!tdir) return resolve_error(tdir.error().errno_value, h.path, tparent);
    int dirfd = LXBOX_TRY(parent_dir(parent));
    bool keep = false;
    LXBOX_TRY(remove_existing(dirfd, leaf, h, keep));
    dirfd = LXBOX_TRY(parent_dir(parent));
    // No AT_SYMLINK_FOLLOW: a hardlink to a symlink links the symlink, never its target.
    if (::linkat(tdir->get(), tleaf.c_str(), dirfd, leaf.c_str(), 0) != 0)
        return Error::last("entry '" + h.path + "': hardlink to '" + h.hardlink + "'");
    return {};
}

Status TreeWriter::begin_file(const std::string& parent, const std::string& leaf, const EntryHeader& h) {
    int dirfd = LXBOX_TRY(parent_dir(parent));
    // O_EXCL | O_NOFOLLOW: never open what an earlier entry left there (a symlink to outside, a
    // hardlink to another file); a later entry replaces it instead, as tar does.
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    const mode_t create_mode = h.perm & 0777;
    int fd = ::openat(dirfd, leaf.c_str(), flags, create_mode);
    if (fd < 0 && errno == EEXIST) {
        bool keep = false;
        LXBOX_TRY(remove_existing(dirfd, leaf, h, keep));
        dirfd = LXBOX_TRY(parent_dir(parent));
        fd = ::openat(dirfd, leaf.c_str(), flags, create_mode);
    }
    if (fd < 0) return Error::last("create '" + h.path + "'");
    file_.reset(fd);
    current_ = h;
    written_end_ = 0;
    stats_.bytes += static_cast<uint64_t>(h.size);
    if (h.size == 0) return finish_file();
    return {};
}

Status TreeWriter::begin_node(const std::string& parent, const std::string& leaf, const EntryHeader& h) {
    int dirfd = LXBOX_TRY(parent_dir(parent));
    // Create first and look only on a clash: in a fresh root nothing is ever there, and a
    // stat per entry would be wasted.
    Status made = create_node(dirfd, leaf, h);
    if (!made && made.error().errno_value == EEXIST) {
        bool keep_dir = false;
        LXBOX_TRY(remove_existing(dirfd, leaf, h, keep_dir));
        dirfd = LXBOX_TRY(parent_dir(parent));
        made = keep_dir ? Status{} : create_node(dirfd, leaf, h);
    }
    if (!made) return std::move(made).error();
    if (h.type == S_IFDIR) {
        dirs_.push_back({h.path, h});
        return {};
    }
    return set_owner_mode_time(dirfd, leaf, h);
}

Status TreeWriter::write_data(int64_t offset, const char* data, size_t size) {
    if (!file_) return {};
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pwrite(file_.get(), data + done, size - done, offset + static_cast<int64_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::last("write '" + current_.path + "'");
        }
        done += static_cast<size_t>(n);
    }
    written_end_ = std::max(written_end_, offset + static_cast<int64_t>(size));
    return {};
}

Status TreeWriter::finish_file() {
    const EntryHeader& h = current_;
    // A trailing hole of a sparse file has no data block: ftruncate makes it a hole, not zeros.
    if (written_end_ < h.size && ::ftruncate(file_.get(), h.size) != 0) return Error::last("truncate '" + h.path + "'");
    LXBOX_TRY(apply_attributes(file_.get(), h));
    file_.reset();
    return {};
}

Status TreeWriter::apply_attributes(int fd, const EntryHeader& h) {
    // Order matters: chown clears setuid/setgid and security.capability, so mode and xattrs
    // come after it; the mtime comes last, as every other change would bump it.
    if (needs_chown(h) && ::fchown(fd, h.uid, h.gid) != 0) return Error::last("chown '" + h.path + "'");
    if (needs_chmod(h) && ::fchmod(fd, h.perm) != 0) return Error::last("chmod '" + h.path + "'");
    for (const auto& [name, value] : h.xattrs) {
        if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0)
            LXBOX_TRY(xattr_failure(name, h));
    }
    struct timespec times[2] = {h.mtime, h.mtime};
    if (::futimens(fd, times) != 0) return Error::last("set mtime of '" + h.path + "'");
    return {};
}

Status TreeWriter::end_entry() { return file_ ? finish_file() : Status{}; }

Status TreeWriter::finish() {
    // Deepest first: a child's path sorts after its parent's. Stable, so when a directory is
    // listed twice the later entry's attributes win, as with tar.
    std::stable_sort(dirs_.begin(), dirs_.end(), [](const DirFixup& a, const DirFixup& b) { return a.path > b.path; });
    for (const auto& d : dirs_) {
        auto fd = open_beneath(root_.get(), d.path, O_RDONLY | O_DIRECTORY);
        if (!fd) {
            const int err = fd.error().errno_value;
            // A later entry replaced the directory (or a parent) by something else: nothing to fix.
            if (err == ENOENT || err == ENOTDIR || err == ELOOP) continue;
            return resolve_error(err, d.path, d.path);
        }
        const EntryHeader& h = d.header;
        LXBOX_TRY(apply_attributes(fd->get(), h));
    }
    return {};
}

}  // namespace lxbox::archive
