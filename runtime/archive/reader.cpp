// extract()'s reader thread: libarchive decompresses and parses; entries and data blocks go
// into the queue for the writer thread.
#include "runtime/archive/reader.hpp"

#include "runtime/archive/libarchive.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "runtime/base/log.hpp"
#include "runtime/base/printable.hpp"

namespace lxbox::archive {

namespace {

namespace la = lxbox::libarchive;

Error archive_error(struct archive* a, const std::string& what) {
    const char* msg = la::archive_error_string(a);
    return Error(ErrorKind::Invalid, what + ": " + (msg ? msg : "unknown libarchive error"));
}

Result<EntryHeader> header_of(struct archive_entry* ae) {
    EntryHeader h;
    const char* raw = la::archive_entry_pathname(ae);
    if (!raw) return Error(ErrorKind::Invalid, "an entry has no name");
    LXBOX_TRY(check_entry_path(raw));
    h.path = normalize_entry_path(raw);
    h.type = la::archive_entry_filetype(ae);
    h.perm = la::archive_entry_perm(ae) & 07777;
    h.uid = static_cast<uid_t>(la::archive_entry_uid(ae));
    h.gid = static_cast<gid_t>(la::archive_entry_gid(ae));
    h.size = la::archive_entry_size(ae);
    h.mtime.tv_sec = la::archive_entry_mtime(ae);
    h.mtime.tv_nsec = la::archive_entry_mtime_nsec(ae);
    if (const char* hl = la::archive_entry_hardlink(ae)) {
        LXBOX_TRY(check_entry_path(hl).context("hardlink " + h.path));
        h.hardlink = normalize_entry_path(hl);
        if (h.hardlink.empty()) return Error(ErrorKind::Refused, "entry '" + h.path + "' is a hardlink to the root: refused");
    }
    if (h.type == AE_IFLNK) {
        const char* target = la::archive_entry_symlink(ae);
        h.symlink = target ? target : "";
    }
    h.rdev = la::archive_entry_rdev(ae);
    la::archive_entry_xattr_reset(ae);
    const char* name;
    const void* value;
    size_t size;
    while (la::archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK)
        h.xattrs.emplace_back(name, std::string(static_cast<const char*>(value), size));
    if (h.path.empty() && h.type != AE_IFDIR)
        return Error(ErrorKind::Refused, "entry '.' is not a directory: refused");
    return h;
}

class Throttle {
public:
    bool due() {
        auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(50)) return false;
        last_ = now;
        return true;
    }

private:
    std::chrono::steady_clock::time_point last_{};
};

// Collects items into a batch and hands it to the queue once it holds enough to be worth a
// hand-off. Every add returns false when the writer cancelled.
class Batcher {
public:
    explicit Batcher(BatchQueue& queue) : queue_(queue) {}

    bool add_header(EntryHeader header) {
        Item item{Item::Kind::Header};
        item.header = std::move(header);
        batch_.items.push_back(std::move(item));
        return batch_.items.size() < kMaxItems || flush();
    }

    bool add_data(int64_t offset, const void* data, size_t size) {
        if (batch_.bytes.empty()) batch_.bytes.reserve(kFlushBytes + size);
        Item item{Item::Kind::Data};
        item.offset = offset;
        item.data_begin = batch_.bytes.size();
        item.data_size = size;
        batch_.bytes.insert(batch_.bytes.end(), static_cast<const char*>(data), static_cast<const char*>(data) + size);
        batch_.items.push_back(std::move(item));
        return batch_.bytes.size() < kFlushBytes || flush();
    }

    // The last batch: ends with End, or with Fail carrying the error.
    void finish(Error* error) {
        Item item{error ? Item::Kind::Fail : Item::Kind::End};
        if (error) {
            // Entry paths (a newline is a valid byte of one) and libarchive's own text quoting
            // them reach the message: escaped here, where every read error leaves, it stays one
            // line (archive_policy fuzz target: "read entry 'x\ny': Truncated input file").
            item.error = std::move(*error);
            item.error.message = printable(item.error.message);
        }
        batch_.items.push_back(std::move(item));
        flush();
    }

    bool flush() {
        bool ok = queue_.push(std::move(batch_));
        batch_ = Batch{};
        return ok;
    }

private:
    static constexpr size_t kFlushBytes = 1 << 20;
    static constexpr size_t kMaxItems = 512;
    BatchQueue& queue_;
    Batch batch_;
};

struct ReadState {
    struct archive* a;
    Batcher& out;
    const ProgressFn& progress;
    uint64_t total;
    Throttle throttle;
    struct archive* counted;  // the archive that reads the input (a, or the decompressing stage)

    void report() {
        if (progress && throttle.due()) progress(static_cast<uint64_t>(la::archive_filter_bytes(counted, -1)), total);
    }
};

// Passes one entry's data blocks on; returns the error that stops the read, if any. A false
// `alive` means the writer cancelled.
Status pump_data(ReadState& st, const std::string& path, bool& alive) {
    for (;;) {
        const void* buf;
        size_t size;
        la_int64_t offset;
        int r = la::archive_read_data_block(st.a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) return {};
        if (r < ARCHIVE_WARN) return archive_error(st.a, "read entry '" + path + "'");
        if (size > 0 && !st.out.add_data(offset, buf, size)) {
            alive = false;
            return {};
        }
        st.report();
    }
}

// Every entry of the archive into the batcher; the error that ends the read early, if any.
Status read_entries(ReadState& st, bool& alive) {
    uint64_t entries = 0;
    for (;;) {
        struct archive_entry* ae;
        int r = la::archive_read_next_header(st.a, &ae);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            if (entries == 0 && la::archive_filter_bytes(st.a, -1) == 0)
                return Error(ErrorKind::Invalid, "empty archive: the input holds no data");
            return archive_error(st.a, entries == 0 ? "not a tar archive" : "corrupt or truncated archive");
        }
        if (r == ARCHIVE_WARN) spdlog::debug("archive: {}", la::archive_error_string(st.a));
        EntryHeader header = LXBOX_TRY(header_of(ae));
        ++entries;
        const bool has_data = header.type == AE_IFREG && header.size > 0 && header.hardlink.empty();
        const std::string path = has_data ? header.path : std::string();
        if (!(alive = st.out.add_header(std::move(header)))) return {};
        if (has_data) {
            LXBOX_TRY(pump_data(st, path, alive));
            if (!alive) return {};
        }
        st.report();
    }
    if (entries == 0) return Error(ErrorKind::Invalid, "empty archive: no entries");
    return {};
}

// Our own read callback instead of archive_read_open_fd: it counts what it read, so an empty
// input (a zero-byte file or a pipe closed at once) gets its own message — libarchive's byte
// counters are gone once its format bidding fails.
struct FdSource {
    int fd;
    std::vector<char> buf = std::vector<char>(1 << 20);
    uint64_t consumed = 0;
    int read_errno = 0;

    static la_ssize_t read(struct archive* a, void* self, const void** out) {
        auto* src = static_cast<FdSource*>(self);
        for (;;) {
            ssize_t n = ::read(src->fd, src->buf.data(), src->buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                src->read_errno = errno;
                la::archive_set_error(a, errno, "read the input: %s", std::strerror(errno));
                return -1;
            }
            src->consumed += static_cast<uint64_t>(n);
            *out = src->buf.data();
            return n;
        }
    }
};

Error open_error(struct archive* a, const FdSource& src) {
    if (src.read_errno != 0) return Error::sys(src.read_errno, "read the archive");
    if (src.consumed == 0) return Error(ErrorKind::Invalid, "empty archive: the input holds no data");
    return archive_error(a, "not a tar archive");
}

// The decompressed input as a source for the tar reader, for callers that must see the
// uncompressed stream (an OCI layer's diff_id): libarchive's raw format over every filter.
struct RawSource {
    struct archive* raw;
    const std::function<void(const void*, size_t)>& sink;
    std::vector<char> buf = std::vector<char>(1 << 20);
    uint64_t consumed = 0;
    bool eof = false;

    static la_ssize_t read(struct archive* a, void* self, const void** out) {
        auto* src = static_cast<RawSource*>(self);
        la_ssize_t n = src->next();
        if (n < 0) la::archive_set_error(a, EIO, "%s", la::archive_error_string(src->raw));
        *out = src->buf.data();
        return n;
    }

    la_ssize_t next() {
        if (eof) return 0;
        la_ssize_t n = la::archive_read_data(raw, buf.data(), buf.size());
        if (n <= 0) {
            eof = n == 0;
            return n;
        }
        sink(buf.data(), static_cast<size_t>(n));
        consumed += static_cast<uint64_t>(n);
        return n;
    }

    // What follows the tar's end-of-archive blocks is part of the stream's digest too.
    Status drain() {
        while (!eof)
            if (next() < 0) return archive_error(raw, "corrupt or truncated archive");
        return {};
    }
};

// Opens the decompressing stage over src; the raw format has one entry, the whole stream.
Status open_raw(struct archive* raw, FdSource& src) {
    la::archive_read_support_filter_all(raw);
    la::archive_read_support_format_raw(raw);
    if (la::archive_read_open(raw, &src, nullptr, &FdSource::read, nullptr) != ARCHIVE_OK) return open_error(raw, src);
    struct archive_entry* ae;
    int r = la::archive_read_next_header(raw, &ae);
    if (r == ARCHIVE_EOF || (r == ARCHIVE_OK && src.consumed == 0))
        return Error(ErrorKind::Invalid, "empty archive: the input holds no data");
    if (r < ARCHIVE_WARN) return archive_error(raw, "not a tar archive");
    return {};
}

}  // namespace

void read_archive(int input_fd, uint64_t total, const ExtractOptions& opts, BatchQueue& queue) {
    la::ReadPtr a(la::archive_read_new());
    la::archive_read_support_format_tar(a.get());  // every tar dialect: ustar, pax, GNU, sparse
    Batcher out(queue);
    FdSource src{input_fd};
    la::ReadPtr raw;
    std::optional<RawSource> raw_src;
    int opened;
    if (opts.tar_stream) {
        raw.reset(la::archive_read_new());
        if (Status st = open_raw(raw.get(), src); !st) return out.finish(&st.error());
        raw_src.emplace(RawSource{raw.get(), opts.tar_stream});
        opened = la::archive_read_open(a.get(), &*raw_src, nullptr, &RawSource::read, nullptr);
    } else {
        la::archive_read_support_filter_all(a.get());
        opened = la::archive_read_open(a.get(), &src, nullptr, &FdSource::read, nullptr);
    }
    // libarchive bids on the format while opening: a bad input fails here, not at the header.
    if (opened != ARCHIVE_OK) {
        Error e = !raw_src ? open_error(a.get(), src)
                  : raw_src->consumed == 0 ? Error(ErrorKind::Invalid, "empty archive: the input holds no data")
                                           : archive_error(a.get(), "not a tar archive");
        return out.finish(&e);
    }
    ReadState st{a.get(), out, opts.progress, total, {}, raw ? raw.get() : a.get()};
    bool alive = true;
    Status status = read_entries(st, alive);
    if (!alive) return;
    if (status && raw_src) status = raw_src->drain();
    if (!status) return out.finish(&status.error());
    if (opts.progress) opts.progress(static_cast<uint64_t>(la::archive_filter_bytes(st.counted, -1)), total);
    out.finish(nullptr);
}

}  // namespace lxbox::archive
