#include "host/vm/flatten.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string_view>
#include <vector>

#include "runtime/base/unique_fd.hpp"

namespace lxbox::vm {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

// overlayfs's own attributes mean something only between a layer and the ones beneath it; the
// merged tree has applied them.
bool is_overlay_xattr(std::string_view name) {
    return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

bool is_opaque(int dir_fd) {
    for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
        char value[2];
        if (::fgetxattr(dir_fd, name, value, sizeof value) == 1 && value[0] == 'y') return true;
    }
    return false;
}

// The names of an inode's xattrs (none on a filesystem without them).
Result<std::vector<std::string>> xattr_names(int fd, const std::string& path) {
    ssize_t size = ::flistxattr(fd, nullptr, 0);
    if (size <= 0) return std::vector<std::string>{};
    std::string names(static_cast<size_t>(size), '\0');
    size = ::flistxattr(fd, names.data(), names.size());
    if (size < 0) return Error::last("list the xattrs of " + path);
    std::vector<std::string> out;
    for (size_t at = 0; at < static_cast<size_t>(size); at += out.back().size() + 1)
        out.emplace_back(names.data() + at);
    return out;
}

Status copy_xattrs(int from, int to, const std::string& path) {
    for (const auto& name : LXBOX_TRY(xattr_names(from, path))) {
        if (is_overlay_xattr(name)) continue;
        ssize_t len = ::fgetxattr(from, name.c_str(), nullptr, 0);
        if (len < 0) return Error::last("read the xattr " + name + " of " + path);
        std::string value(static_cast<size_t>(len), '\0');
        len = ::fgetxattr(from, name.c_str(), value.data(), value.size());
        if (len < 0) return Error::last("read the xattr " + name + " of " + path);
        if (::fsetxattr(to, name.c_str(), value.data(), static_cast<size_t>(len), 0) != 0)
            return Error::last("set the xattr " + name + " on " + path);
    }
    return {};
}

// The xattrs of a directory a lower layer made, before an upper layer's directory gives its
// own: the overlay shows the topmost directory's alone.
Status drop_xattrs(int fd, const std::string& path) {
    for (const auto& name : LXBOX_TRY(xattr_names(fd, path)))
        if (::fremovexattr(fd, name.c_str()) != 0 && errno != ENODATA)
            return Error::last("remove the xattr " + name + " of " + path);
    return {};
}

// Owner, mode, xattrs and times of st (the layer's) on an inode of the merged tree.
Status copy_metadata(int from, int to, const struct stat& st, const std::string& path) {
    if (::fchown(to, st.st_uid, st.st_gid) != 0 && (errno != EPERM || ::geteuid() == 0))
        return Error::last("chown " + path);
    // After chown, which clears the set-id bits.
    if (::fchmod(to, st.st_mode & 07777) != 0) return Error::last("chmod " + path);
    LXBOX_TRY(copy_xattrs(from, to, path));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(to, times) != 0) return Error::last("set the times of " + path);
    return {};
}

// Deletes name in dir (a whole directory tree too); absent is fine.
Status remove_entry(int dir_fd, const std::string& name, const std::string& path) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? Status{} : Error::last("stat " + path);
    if (S_ISDIR(st.st_mode)) return remove_tree(path);
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0) return Error::last("remove " + path);
    return {};
}

// The names in a directory, but . and ..
Result<std::vector<std::string>> list_dir(int dir_fd, const std::string& path) {
    UniqueFd copy(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return Error::last("open " + path);
    DIR* d = ::fdopendir(copy.get());
    if (!d) return Error::last("read " + path);
    (void)copy.release();
    ::rewinddir(d);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        const std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    return names;
}

Status copy_file(int src_dir, int dst_dir, const std::string& name, const struct stat& st, const std::string& path) {
    UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return Error::last("open the layer's " + path);
    UniqueFd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return Error::last("create " + path);
    for (;;) {
        ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
        if (n < 0) return Error::last("copy " + path);
        if (n == 0) break;
    }
    return copy_metadata(in.get(), out.get(), st, path);
}

// A symlink, fifo, socket or device node as the layer has it.
Status make_node(int src_dir, int dst_dir, const std::string& name, const struct stat& st, const std::string& path) {
    if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
        if (n < 0) return Error::last("read the link " + path);
        target.resize(static_cast<size_t>(n));
        if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) return Error::last("create the link " + path);
    } else if (::mknodat(dst_dir, name.c_str(), st.st_mode, st.st_rdev) != 0) {
        return Error::last("create " + path);
    }
    if (::fchownat(dst_dir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 &&
        (errno != EPERM || ::geteuid() == 0))
        return Error::last("chown " + path);
    if (!S_ISLNK(st.st_mode) && ::fchmodat(dst_dir, name.c_str(), st.st_mode & 07777, 0) != 0)
        return Error::last("chmod " + path);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return Error::last("set the times of " + path);
    return {};
}

// A regular file: the layer's own inode linked in (its data, owner, mode and xattrs with it).
Status place_file(int src_dir, int dst_dir, const std::string& name, const struct stat& st, const std::string& path) {
    if (::linkat(src_dir, name.c_str(), dst_dir, name.c_str(), 0) == 0) return {};
    if (errno != EXDEV && errno != EPERM && errno != EMLINK) return Error::last("link " + path);
    return copy_file(src_dir, dst_dir, name, st, path);
}

Status apply_dir(int src, int dst, const std::string& dst_path);

// One entry of a layer's directory laid over the merged tree's.
Status apply_entry(int src, int dst, const std::string& name, const std::string& dst_path) {
    const std::string path = dst_path + "/" + name;
    struct stat st {};
    if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Error::last("stat the layer's " + path);
    if (is_whiteout(st)) return remove_entry(dst, name, path);
    struct stat have {};
    bool exists = ::fstatat(dst, name.c_str(), &have, AT_SYMLINK_NOFOLLOW) == 0;
    if (!S_ISDIR(st.st_mode) || (exists && !S_ISDIR(have.st_mode))) {
        if (exists) LXBOX_TRY(remove_entry(dst, name, path));
        exists = false;
    }
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? place_file(src, dst, name, st, path) : make_node(src, dst, name, st, path);
    UniqueFd from(::openat(src, name.c_str(), kDirFlags));
    if (!from) return Error::last("open the layer's " + path);
    if (exists && is_opaque(from.get())) {
        // An opaque directory: what the layers beneath held there is hidden.
        LXBOX_TRY(remove_tree(path));
        exists = false;
    }
    if (!exists && ::mkdirat(dst, name.c_str(), 0700) != 0) return Error::last("create " + path);
    UniqueFd to(::openat(dst, name.c_str(), kDirFlags));
    if (!to) return Error::last("open " + path);
    LXBOX_TRY(apply_dir(from.get(), to.get(), path));
    // The topmost layer's directory gives its attributes, as in the overlay; its times last,
    // after its entries changed them.
    if (exists) LXBOX_TRY(drop_xattrs(to.get(), path));
    return copy_metadata(from.get(), to.get(), st, path);
}

Status apply_dir(int src, int dst, const std::string& dst_path) {
    for (const auto& name : LXBOX_TRY(list_dir(src, dst_path))) LXBOX_TRY(apply_entry(src, dst, name, dst_path));
    return {};
}

}  // namespace

Status flatten_layers(const std::vector<std::string>& layers, const std::string& dest) {
    UniqueFd to(::open(dest.c_str(), kDirFlags));
    if (!to) return Error::last("open " + dest);
    for (const auto& layer : layers) {
        UniqueFd from(::open(layer.c_str(), kDirFlags));
        if (!from) return Error::last("open the layer " + layer);
        struct stat st {};
        if (::fstat(from.get(), &st) != 0) return Error::last("stat the layer " + layer);
        LXBOX_TRY(apply_dir(from.get(), to.get(), dest).context("merge the layer " + layer));
        LXBOX_TRY(copy_metadata(from.get(), to.get(), st, dest));
    }
    return {};
}

}  // namespace lxbox::vm
