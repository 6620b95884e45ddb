// create(): libarchive's disk reader walks the tree (xattrs, sparse maps, device numbers) and
// its pax writer records it; we only rename paths to "./rel" and pair up hardlinks.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>
#include <memory>

#include "runtime/archive/archive.hpp"
#include "runtime/archive/libarchive.hpp"
#include "runtime/base/log.hpp"

namespace lxbox::archive {

namespace {

namespace la = lxbox::libarchive;

Error write_error(struct archive* a, const std::string& what) {
    const char* msg = la::archive_error_string(a);
    return Error(ErrorKind::System, what + ": " + (msg ? msg : "unknown libarchive error"));
}

Status set_filter(struct archive* w, Compression c) {
    int r = ARCHIVE_OK;
    switch (c) {
        case Compression::None: break;
        case Compression::Gzip: r = la::archive_write_add_filter_gzip(w); break;
        case Compression::Bzip2: r = la::archive_write_add_filter_bzip2(w); break;
        case Compression::Xz:
            r = la::archive_write_add_filter_xz(w);
            // xz is the slowest filter by far; its encoder scales with threads.
            if (r == ARCHIVE_OK) la::archive_write_set_filter_option(w, "xz", "threads", "0");
            break;
        case Compression::Zstd:
            r = la::archive_write_add_filter_zstd(w);
            if (r == ARCHIVE_OK) la::archive_write_set_filter_option(w, "zstd", "threads", "0");
            break;
    }
    if (r != ARCHIVE_OK) return write_error(w, "set up compression");
    return {};
}

// The pax writer knows the file's holes from the sparse map read_disk put in the entry, and
// drops the bytes that fall in a hole; but it takes data only in sequence (it has no
// archive_write_data_block), so a hole is fed as zeros, as bsdtar does. Costs memory bandwidth
// only: nothing of a hole reaches the output.
Status feed_hole(struct archive* w, int64_t len, const std::string& path) {
    static const std::vector<char> zeros(1 << 20);
    while (len > 0) {
        const size_t n = static_cast<size_t>(std::min<int64_t>(len, static_cast<int64_t>(zeros.size())));
        if (la::archive_write_data(w, zeros.data(), n) < 0) return write_error(w, "write " + path);
        len -= static_cast<int64_t>(n);
    }
    return {};
}

Status copy_data(struct archive* disk, struct archive* w, const std::string& path, int64_t size) {
    int64_t at = 0;
    for (;;) {
        const void* buf;
        size_t len;
        la_int64_t offset;
        int r = la::archive_read_data_block(disk, &buf, &len, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return write_error(disk, "read " + path);
        if (offset > at) LXBOX_TRY(feed_hole(w, offset - at, path));
        if (len > 0 && la::archive_write_data(w, buf, len) < 0) return write_error(w, "write " + path);
        at = offset + static_cast<int64_t>(len);
    }
    // A trailing hole: the header promised `size` bytes.
    if (size > at) LXBOX_TRY(feed_hole(w, size - at, path));
    return {};
}

// "src/a/b" → "./a/b"; the root itself → ".".
std::string relative_name(const std::string& full, const std::string& src) {
    if (full.size() <= src.size()) return ".";
    return "." + full.substr(src.size());
}

Result<la::ReadPtr> open_tree(const std::string& src) {
    la::ReadPtr disk(la::archive_read_disk_new());
    la::archive_read_disk_set_symlink_physical(disk.get());
    // Never cross into another filesystem mounted inside the tree (/proc of a live rootfs).
    la::archive_read_disk_set_behavior(disk.get(), ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_ACL |
                                                   ARCHIVE_READDISK_NO_FFLAGS);
    if (la::archive_read_disk_open(disk.get(), src.c_str()) != ARCHIVE_OK) return write_error(disk.get(), "open " + src);
    return disk;
}

Result<la::WritePtr> open_output(int output_fd, Compression compression) {
    la::WritePtr w(la::archive_write_new());
    // pax_restricted: plain ustar headers where they suffice (any tar reads them), pax records
    // only for what ustar cannot hold (long names, xattrs, sub-second mtimes, sparse maps).
    la::archive_write_set_format_pax_restricted(w.get());
    la::archive_write_set_bytes_in_last_block(w.get(), 1);
    LXBOX_TRY(set_filter(w.get(), compression));
    if (la::archive_write_open_fd(w.get(), output_fd) != ARCHIVE_OK) return write_error(w.get(), "open output");
    return w;
}

// One entry read from disk as ./relative, with numeric owners, its data and holes after it.
Status write_entry(struct archive* disk, struct archive* w, struct archive_entry_linkresolver* links,
                   struct archive_entry* ae, const std::string& src, Stats& stats) {
    const std::string full = la::archive_entry_sourcepath(ae);
    la::archive_entry_set_pathname(ae, relative_name(full, src).c_str());
    // Owners are numeric only: host user names mean nothing for a rootfs.
    la::archive_entry_set_uname(ae, nullptr);
    la::archive_entry_set_gname(ae, nullptr);
    // The tar strategy edits `ae` in place (a second name of an inode becomes a hardlink entry of
    // size 0) and never hands back a deferred entry, unlike cpio's.
    struct archive_entry* spare = nullptr;
    la::archive_entry_linkify(links, &ae, &spare);
    if (la::archive_write_header(w, ae) < ARCHIVE_WARN) return write_error(w, "write " + full);
    ++stats.entries;
    if (la::archive_entry_filetype(ae) == AE_IFREG && la::archive_entry_size(ae) > 0) {
        stats.bytes += static_cast<uint64_t>(la::archive_entry_size(ae));
        LXBOX_TRY(copy_data(disk, w, full, la::archive_entry_size(ae)));
    }
    return {};
}

}  // namespace

Result<Stats> create(const std::string& src_dir, int output_fd, const CreateOptions& opts) {
    LXBOX_TRY(la::load());
    std::string src = src_dir;
    while (src.size() > 1 && src.back() == '/') src.pop_back();
    la::ReadPtr disk = LXBOX_TRY(open_tree(src));
    la::WritePtr w = LXBOX_TRY(open_output(output_fd, opts.compression));
    la::LinkResolverPtr links(la::archive_entry_linkresolver_new());
    la::archive_entry_linkresolver_set_strategy(links.get(), ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    Stats stats;
    auto last = std::chrono::steady_clock::now();
    for (;;) {
        la::EntryPtr ae(la::archive_entry_new());
        int r = la::archive_read_next_header2(disk.get(), ae.get());
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return write_error(disk.get(), "walk " + src);
        la::archive_read_disk_descend(disk.get());
        LXBOX_TRY(write_entry(disk.get(), w.get(), links.get(), ae.get(), src, stats));
        if (opts.progress && std::chrono::steady_clock::now() - last > std::chrono::milliseconds(50)) {
            last = std::chrono::steady_clock::now();
            opts.progress(static_cast<uint64_t>(la::archive_filter_bytes(w.get(), -1)), 0);
        }
    }
    if (la::archive_write_close(w.get()) != ARCHIVE_OK) return write_error(w.get(), "finish the archive");
    if (opts.progress) opts.progress(static_cast<uint64_t>(la::archive_filter_bytes(w.get(), -1)), 0);
    return stats;
}

}  // namespace lxbox::archive
