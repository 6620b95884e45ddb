#include "tests/common/tarball.hpp"

#include "runtime/archive/libarchive.hpp"
#include <sys/stat.h>

#include <stdexcept>

namespace lxbox::test {

namespace la = lxbox::libarchive;

void write_tarball(const std::string& path, const std::vector<TarEntry>& entries, TarFilter filter) {
    struct archive* a = la::archive_write_new();
    la::archive_write_set_format_pax_restricted(a);
    switch (filter) {
        case TarFilter::None: break;
        case TarFilter::Gzip: la::archive_write_add_filter_gzip(a); break;
        case TarFilter::Xz: la::archive_write_add_filter_xz(a); break;
        case TarFilter::Zstd: la::archive_write_add_filter_zstd(a); break;
        case TarFilter::Bzip2: la::archive_write_add_filter_bzip2(a); break;
    }
    if (la::archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK)
        throw std::runtime_error(std::string("open tarball: ") + la::archive_error_string(a));
    for (const auto& e : entries) {
        struct archive_entry* ae = la::archive_entry_new();
        la::archive_entry_set_pathname(ae, e.path.c_str());
        la::archive_entry_set_uid(ae, e.uid);
        la::archive_entry_set_gid(ae, e.gid);
        la::archive_entry_set_mtime(ae, e.mtime, 0);
        unsigned type = AE_IFREG;
        switch (e.type) {
            case TarEntry::Type::File: type = AE_IFREG; break;
            case TarEntry::Type::Dir: type = AE_IFDIR; break;
            case TarEntry::Type::Symlink: type = AE_IFLNK; break;
            case TarEntry::Type::Hardlink: type = AE_IFREG; break;
            case TarEntry::Type::Fifo: type = AE_IFIFO; break;
            case TarEntry::Type::CharDev: type = AE_IFCHR; break;
            case TarEntry::Type::BlockDev: type = AE_IFBLK; break;
        }
        la::archive_entry_set_filetype(ae, type);
        la::archive_entry_set_perm(ae, e.mode);
        if (e.type == TarEntry::Type::Symlink) la::archive_entry_set_symlink(ae, e.target.c_str());
        if (e.type == TarEntry::Type::Hardlink) {
            la::archive_entry_set_hardlink(ae, e.target.c_str());
            la::archive_entry_set_size(ae, 0);
        }
        if (e.type == TarEntry::Type::CharDev || e.type == TarEntry::Type::BlockDev) {
            la::archive_entry_set_rdevmajor(ae, e.rdev_major);
            la::archive_entry_set_rdevminor(ae, e.rdev_minor);
        }
        if (e.type == TarEntry::Type::File) la::archive_entry_set_size(ae, static_cast<la_int64_t>(e.content.size()));
        for (const auto& [k, v] : e.xattrs)
            la::archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
        if (la::archive_write_header(a, ae) != ARCHIVE_OK)
            throw std::runtime_error(std::string("write header: ") + la::archive_error_string(a));
        if (e.type == TarEntry::Type::File && !e.content.empty())
            la::archive_write_data(a, e.content.data(), e.content.size());
        la::archive_entry_free(ae);
    }
    la::archive_write_close(a);
    la::archive_write_free(a);
}

TarEntry file_entry(const std::string& path, const std::string& content, unsigned mode) {
    TarEntry e;
    e.type = TarEntry::Type::File;
    e.path = path;
    e.content = content;
    e.mode = mode;
    return e;
}

TarEntry dir_entry(const std::string& path, unsigned mode) {
    TarEntry e;
    e.type = TarEntry::Type::Dir;
    e.path = path;
    e.mode = mode;
    return e;
}

TarEntry symlink_entry(const std::string& path, const std::string& target) {
    TarEntry e;
    e.type = TarEntry::Type::Symlink;
    e.path = path;
    e.target = target;
    e.mode = 0777;
    return e;
}

TarEntry hardlink_entry(const std::string& path, const std::string& target) {
    TarEntry e;
    e.type = TarEntry::Type::Hardlink;
    e.path = path;
    e.target = target;
    return e;
}

}  // namespace lxbox::test
