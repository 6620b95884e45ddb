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
#include <vector>

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
    // An OCI image layer (layer_entry() below): ".wh.NAME" becomes an overlayfs whiteout (a 0/0
    // character device; unprivileged since Linux 5.8), ".wh..wh..opq" the opaque xattr on its
    // directory, and a hardlink to a file of a lower layer a copy of that file in this one.
    bool oci_layer = false;
    // "trusted.overlay.opaque"; a rootless store's layers use "user.overlay.opaque", which
    // overlayfs reads when mounted with userxattr (trusted.* needs CAP_SYS_ADMIN).
    std::string opaque_xattr = "trusted.overlay.opaque";
    std::vector<std::string> lower_dirs;  // the layers below this one, topmost first
    // Sees every byte of the uncompressed tar stream, in order, trailing padding included (an
    // OCI layer's diff_id is its sha256). Called on the reader thread.
    std::function<void(const void* data, size_t size)> tar_stream;
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

// What a normalized entry of an OCI layer means (the image spec's "Whiteouts").
struct LayerEntry {
    enum class Kind { Plain, Whiteout, Opaque, Skip } kind = Kind::Plain;
    std::string path;  // Whiteout: the path it hides; Opaque: its directory ("" = the root)
};
// Pure: ".wh.NAME" hides NAME beside it, ".wh..wh..opq" makes its directory opaque, other
// ".wh..wh." names are AUFS bookkeeping (skipped). A whiteout naming "", "." or ".." would
// reach outside its directory: Refused.
Result<LayerEntry> layer_entry(const std::string& path);

struct CreateOptions {
    Compression compression = Compression::None;
    ProgressFn progress;
};

// Writes src_dir's tree to output_fd as a pax tar: numeric owners, all mode bits, xattrs
// (security.capability included), symlinks, hardlinks, devices, fifos, sparse files, mtimes.
Result<Stats> create(const std::string& src_dir, int output_fd, const CreateOptions& opts);

}  // namespace lxbox::archive
