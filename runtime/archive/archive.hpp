// Import and export of root filesystem archives, with libarchive.
//
// extract() is the security boundary of `lxbox import`: it refuses hostile archives and never
// writes outside its target. libarchive only parses; extract() writes every entry itself (not
// with archive_write_disk), relative to a directory fd opened with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), and creates the last component with O_EXCL/O_NOFOLLOW-style calls, so
// neither "../", an absolute name, a symlink planted by an earlier entry nor a hardlink can
// reach outside the root. check_entry_path() is the first, pure layer (what archive_write_disk's
// SECURE_NODOTDOT and SECURE_NOABSOLUTEPATHS check); RESOLVE_NO_SYMLINKS is a stricter
// SECURE_SYMLINKS enforced by the kernel.
// Decompression and parsing run in one thread and the writes in another (GNU tar's speed
// comes from running gzip as a separate process; this is the same overlap).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "runtime/base/error.hpp"

namespace lxbox::archive {

enum class Compression { None, Gzip, Xz, Zstd, Bzip2 };

// From an output file name: .tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.zst/.tzst, .tar.bz2/.tbz2.
Result<Compression> compression_for_filename(const std::string& name);

// Progress: bytes of input consumed (extract; called on its reader thread) or of output written
// (create), and the total when known (extract from a regular file). At most every 50 ms.
using ProgressFn = std::function<void(uint64_t done_bytes, uint64_t total_bytes /*0 = unknown*/)>;

struct ExtractOptions {
    bool same_owner = true;     // restore numeric owners (root only)
    bool allow_devices = true;  // create device nodes (root only); otherwise they are skipped
    ProgressFn progress;
};

struct Stats {
    uint64_t entries = 0;
    uint64_t bytes = 0;  // sum of regular files' sizes
};

// Extracts the tar archive read from input_fd (compression detected by content: none, gzip,
// xz, zstd, bzip2) into dest_dir, which must exist and be empty. Hostile entries fail with
// ErrorKind::Refused naming the entry; a corrupt, truncated or empty input with Invalid.
Result<Stats> extract(int input_fd, const std::string& dest_dir, const ExtractOptions& opts);

// Pure: an entry name must be relative, free of "..", shorter than PATH_MAX, with components
// shorter than NAME_MAX. The error names the entry.
Status check_entry_path(std::string_view path);

// Pure: the entry's path without a leading "./" and trailing '/', or "" for the root itself.
std::string normalize_entry_path(std::string_view path);

struct CreateOptions {
    Compression compression = Compression::None;
    ProgressFn progress;
};

// Writes src_dir's tree to output_fd as a pax tar: numeric owners, all mode bits, xattrs
// (security.capability included), symlinks, hardlinks, devices, fifos, sparse files, mtimes.
Result<Stats> create(const std::string& src_dir, int output_fd, const CreateOptions& opts);

}  // namespace lxbox::archive
