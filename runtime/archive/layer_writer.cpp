// TreeWriter's OCI layer semantics: whiteouts, opaque directories and hardlinks whose target
// lives in a lower layer. The rules of which entry means what are pure (layer_entry()).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <vector>

#include "runtime/archive/tree_writer.hpp"
#include "runtime/base/log.hpp"

namespace lxbox::archive {

namespace {

Status copy_data(int from, int to, const std::string& what) {
    for (;;) {
        ssize_t n = ::copy_file_range(from, nullptr, to, nullptr, 1 << 30, 0);
        if (n == 0) return {};
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return Error::last("copy " + what);
        break;  // no copy_file_range between these filesystems: plain reads and writes
    }
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(from, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::last("read " + what);
        if (n == 0) return {};
        LXBOX_TRY_CTX(write_all(to, buf.data(), static_cast<size_t>(n)), "copy " + what);
    }
}

// The xattrs of an open file (security.capability matters: ping, newuidmap).
std::vector<std::pair<std::string, std::string>> xattrs_of(int fd) {
    std::vector<std::pair<std::string, std::string>> out;
    ssize_t len = ::flistxattr(fd, nullptr, 0);
    if (len <= 0) return out;
    std::string names(static_cast<size_t>(len), '\0');
    len = ::flistxattr(fd, names.data(), names.size());
    for (size_t pos = 0; len > 0 && pos < static_cast<size_t>(len);) {
        std::string name(names.c_str() + pos);
        pos += name.size() + 1;
        ssize_t vlen = ::fgetxattr(fd, name.c_str(), nullptr, 0);
        if (vlen < 0) continue;
        std::string value(static_cast<size_t>(vlen), '\0');
        vlen = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
        if (vlen >= 0) out.emplace_back(name, value.substr(0, static_cast<size_t>(vlen)));
    }
    return out;
}

}  // namespace

Status TreeWriter::make_whiteout(const std::string& path, const EntryHeader& h) {
    auto [parent, leaf] = split_parent(path);
    int dirfd = LXBOX_TRY(parent_dir(parent));
    // overlayfs's whiteout: a character device 0/0. Since Linux 5.8 anyone may make one.
    auto make = [&] { return ::mknodat(dirfd, leaf.c_str(), S_IFCHR | 0000, ::makedev(0, 0)) == 0 ? 0 : errno; };
    int err = make();
    if (err == EEXIST) {  // the layer also lists the name it hides: the later entry wins
        EntryHeader replace = h;
        replace.type = S_IFCHR;
        replace.path = path;
        bool keep = false;
        LXBOX_TRY(remove_existing(dirfd, leaf, replace, keep));
        dirfd = LXBOX_TRY(parent_dir(parent));
        err = make();
    }
    if (err == EPERM) return Error::sys(err, "whiteout '" + h.path + "' (overlayfs whiteouts need Linux 5.8 or root)");
    if (err != 0) return Error::sys(err, "whiteout '" + h.path + "'");
    return {};
}

Status TreeWriter::make_opaque(const std::string& dir, const EntryHeader& h) {
    if (!dir.empty()) LXBOX_TRY(make_parents(dir));
    auto fd = open_beneath(root_.get(), dir, O_RDONLY | O_DIRECTORY);
    if (!fd) return resolve_error(fd.error().errno_value, h.path, dir);
    if (::fsetxattr(fd->get(), opts_.opaque_xattr.c_str(), "y", 1, 0) != 0)
        return Error::last("entry '" + h.path + "': set " + opts_.opaque_xattr + " on '" + dir + "'");
    return {};
}

Status TreeWriter::copy_up(const std::string& target, const EntryHeader& h) {
    for (const auto& lower : opts_.lower_dirs) {
        auto root = LXBOX_TRY(open_fd(lower, O_PATH | O_DIRECTORY));
        auto src = open_beneath(root.get(), target, O_RDONLY | O_NOFOLLOW);
        if (!src) {
            if (src.error().errno_value == ENOENT) continue;
            return resolve_error(src.error().errno_value, h.path, target);
        }
        struct stat st;
        if (::fstat(src->get(), &st) != 0) return Error::last("stat '" + target + "' of a lower layer");
        if (S_ISCHR(st.st_mode) && st.st_rdev == 0) break;  // whited out below: nothing to link to
        if (!S_ISREG(st.st_mode))
            return Error(ErrorKind::Invalid, "entry '" + h.path + "' links to '" + target +
                                                 "' of a lower layer, which is not a regular file");
        auto [parent, leaf] = split_parent(target);
        int dirfd = LXBOX_TRY(parent_dir(parent));
        int fd = ::openat(dirfd, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777);
        if (fd < 0) return Error::last("copy '" + target + "' up from a lower layer");
        UniqueFd out(fd);
        LXBOX_TRY(copy_data(src->get(), out.get(), "'" + target + "' from a lower layer"));
        EntryHeader copied;
        copied.path = target;
        copied.type = S_IFREG;
        copied.perm = st.st_mode & 07777;
        copied.uid = st.st_uid;
        copied.gid = st.st_gid;
        copied.mtime = st.st_mtim;
        copied.xattrs = xattrs_of(src->get());
        spdlog::debug("layer: copied {} up from {} for the hardlink {}", target, lower, h.path);
        return apply_attributes(out.get(), copied);
    }
    return Error(ErrorKind::Invalid, "entry '" + h.path + "': hardlink target '" + target +
                                         "' is in neither this layer nor a lower one");
}

}  // namespace lxbox::archive
