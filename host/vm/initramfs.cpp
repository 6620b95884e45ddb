#include "host/vm/initramfs.hpp"

#include "runtime/archive/libarchive.hpp"
#include "runtime/base/files.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <set>

namespace lxbox::vm {

namespace la = lxbox::libarchive;

namespace {


Status add_entry(archive* a, const std::string& path, unsigned type, unsigned mode,
                 const std::string& content = {}, dev_t rdev = 0) {
    la::EntryPtr entry(la::archive_entry_new());
    la::archive_entry_set_pathname(entry.get(), path.c_str());
    la::archive_entry_set_filetype(entry.get(), type);
    la::archive_entry_set_perm(entry.get(), mode);
    la::archive_entry_set_uid(entry.get(), 0);
    la::archive_entry_set_gid(entry.get(), 0);
    la::archive_entry_set_mtime(entry.get(), 0, 0);
    la::archive_entry_set_nlink(entry.get(), type == AE_IFDIR ? 2 : 1);
    if (type == AE_IFCHR) la::archive_entry_set_rdev(entry.get(), rdev);
    la::archive_entry_set_size(entry.get(), type == AE_IFREG ? la_int64_t(content.size()) : 0);
    if (la::archive_write_header(a, entry.get()) != ARCHIVE_OK)
        return Error(ErrorKind::System, "cpio entry " + path + ": " + la::archive_error_string(a));
    if (type == AE_IFREG && !content.empty() &&
        la::archive_write_data(a, content.data(), content.size()) != la_ssize_t(content.size()))
        return Error(ErrorKind::System, "cpio data " + path + ": " + la::archive_error_string(a));
    return {};
}

Status add_parents(archive* a, const std::string& path, std::set<std::string>& dirs) {
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
        std::string dir = path.substr(0, slash);
        if (dirs.insert(dir).second) LXBOX_TRY(add_entry(a, dir, AE_IFDIR, 0755));
    }
    return {};
}

Status write_entries(archive* a, const std::vector<InitramfsFile>& files) {
    std::set<std::string> dirs;
    for (const char* dir : {"dev", "proc", "sys", "tmp", "run", "mnt", "lib", "lib/modules"}) {
        dirs.insert(dir);
        LXBOX_TRY(add_entry(a, dir, AE_IFDIR, std::string_view(dir) == "tmp" ? 01777 : 0755));
    }
    LXBOX_TRY(add_entry(a, "dev/console", AE_IFCHR, 0600, {}, makedev(5, 1)));
    for (const auto& file : files) {
        LXBOX_TRY(add_parents(a, file.path, dirs));
        LXBOX_TRY(add_entry(a, file.path, AE_IFREG, file.mode, file.content));
    }
    return {};
}

}  // namespace

Status write_initramfs(const std::string& out_path, const std::vector<InitramfsFile>& files) {
    LXBOX_TRY(la::load());
    auto tmp_file = LXBOX_TRY(create_temp_beside(out_path, ".tmp.", 0644));
    const std::string tmp = tmp_file.path;
    la::WritePtr a(la::archive_write_new());
    la::archive_write_set_format_cpio_newc(a.get());
    la::archive_write_add_filter_none(a.get());
    // Kernel initramfs wants plain blocks; no padding to 10 KiB records needed.
    la::archive_write_set_bytes_in_last_block(a.get(), 1);
    if (la::archive_write_open_fd(a.get(), tmp_file.fd.get()) != ARCHIVE_OK) {
        ::unlink(tmp.c_str());
        return Error(ErrorKind::System, "create " + tmp + ": " + la::archive_error_string(a.get()));
    }
    Status written = write_entries(a.get(), files);
    bool closed = la::archive_write_close(a.get()) == ARCHIVE_OK;
    if (!written || !closed) {
        ::unlink(tmp.c_str());
        if (!written) return std::move(written).context("write " + out_path);
        return Error(ErrorKind::System, "write " + out_path + ": " + la::archive_error_string(a.get()));
    }
    if (::rename(tmp.c_str(), out_path.c_str()) != 0) {
        Error e = Error::last("rename " + tmp + " to " + out_path);
        ::unlink(tmp.c_str());
        return e;
    }
    return {};
}

Result<std::vector<std::string>> list_initramfs(const std::string& path) {
    LXBOX_TRY(la::load());
    la::ReadPtr a(la::archive_read_new());
    la::archive_read_support_format_cpio(a.get());
    la::archive_read_support_filter_all(a.get());
    if (la::archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
        return Error(ErrorKind::Invalid, "open " + path + ": " + la::archive_error_string(a.get()));
    std::vector<std::string> paths;
    archive_entry* entry = nullptr;
    int rc;
    while ((rc = la::archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK)
        paths.emplace_back(la::archive_entry_pathname(entry));
    if (rc != ARCHIVE_EOF)
        return Error(ErrorKind::Invalid, "read " + path + ": " + la::archive_error_string(a.get()));
    return paths;
}

}  // namespace lxbox::vm
