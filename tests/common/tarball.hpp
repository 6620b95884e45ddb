// Builds test archives with libarchive's writer, inside the test: hostile and faithful alike.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lxbox::test {

struct TarEntry {
    enum class Type { File, Dir, Symlink, Hardlink, Fifo, CharDev, BlockDev } type = Type::File;
    std::string path;  // stored verbatim: may be absolute or contain ".." on purpose
    std::string content;  // file content
    std::string target;   // symlink / hardlink target
    unsigned mode = 0644;
    unsigned uid = 0, gid = 0;
    unsigned rdev_major = 0, rdev_minor = 0;
    long mtime = 1700000000;
    std::vector<std::pair<std::string, std::string>> xattrs;
};

enum class TarFilter { None, Gzip, Xz, Zstd, Bzip2 };

// Writes a pax tar with these entries to `path`, compressed with `filter`.
void write_tarball(const std::string& path, const std::vector<TarEntry>& entries,
                   TarFilter filter = TarFilter::None);

TarEntry file_entry(const std::string& path, const std::string& content, unsigned mode = 0644);
TarEntry dir_entry(const std::string& path, unsigned mode = 0755);
TarEntry symlink_entry(const std::string& path, const std::string& target);
TarEntry hardlink_entry(const std::string& path, const std::string& target);

}  // namespace lxbox::test
