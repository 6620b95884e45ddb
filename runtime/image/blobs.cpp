#include "runtime/image/blobs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "runtime/base/log.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::image {

namespace {

Status fsync_dir(const std::string& path) {
    auto fd = LXBOX_TRY(open_fd(path, O_RDONLY | O_DIRECTORY));
    if (::fsync(fd.get()) != 0) return Error::last("fsync " + path);
    return {};
}

// Hashes what fd holds from its current offset to EOF; returns the byte count.
Result<uint64_t> hash_rest(int fd, Sha256& hash, const std::string& what) {
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::last("read " + what);
        if (n == 0) return total;
        hash.update(buf.data(), static_cast<size_t>(n));
        total += static_cast<uint64_t>(n);
    }
}

// What a finished blob must be: its size (when stated) and digest (when expected).
Status check_blob(const Digest& got, uint64_t bytes, const std::optional<Digest>& expected,
                  std::optional<uint64_t> size) {
    if (size && bytes != *size)
        return Error(ErrorKind::Invalid, "blob " + (expected ? expected->str() : got.str()) + " is truncated: " +
                                             std::to_string(bytes) + " of " + std::to_string(*size) + " bytes");
    if (expected && got != *expected)
        return Error(ErrorKind::Invalid, "blob digest mismatch: expected " + expected->str() + ", got " + got.str());
    return {};
}

// Temp names must differ between the threads of one process too (parallel layer downloads).
std::atomic<unsigned> g_temp_counter{0};

}  // namespace

BlobWriter::BlobWriter(std::string root, std::string temp, UniqueFd fd, std::optional<Digest> expected,
                       std::optional<uint64_t> size, bool keep_on_abort)
    : root_(std::move(root)), temp_(std::move(temp)), fd_(std::move(fd)), expected_(std::move(expected)),
      size_(size), keep_on_abort_(keep_on_abort) {}

BlobWriter::BlobWriter(BlobWriter&& o) noexcept
    : root_(std::move(o.root_)), temp_(std::exchange(o.temp_, {})), fd_(std::move(o.fd_)),
      expected_(std::move(o.expected_)), size_(o.size_), keep_on_abort_(o.keep_on_abort_), offset_(o.offset_),
      hash_(o.hash_) {}

BlobWriter& BlobWriter::operator=(BlobWriter&& o) noexcept {
    if (this != &o) {
        abort();
        root_ = std::move(o.root_);
        temp_ = std::exchange(o.temp_, {});
        fd_ = std::move(o.fd_);
        expected_ = std::move(o.expected_);
        size_ = o.size_;
        keep_on_abort_ = o.keep_on_abort_;
        offset_ = o.offset_;
        hash_ = o.hash_;
    }
    return *this;
}

BlobWriter::~BlobWriter() { abort(); }

void BlobWriter::abort() {
    fd_.reset();
    if (!temp_.empty() && !keep_on_abort_) ::unlink(temp_.c_str());
    temp_.clear();
}

Status BlobWriter::write(const void* data, size_t size) {
    if (!fd_) return Error(ErrorKind::Internal, "write to a blob writer that is closed");
    if (size_ && offset_ + size > *size_)
        return Error(ErrorKind::Invalid, "blob " + (expected_ ? expected_->str() : std::string("being written")) +
                                             " is longer than its stated " + std::to_string(*size_) + " bytes");
    LXBOX_TRY_CTX(write_all(fd_.get(), data, size), "write " + temp_);
    hash_.update(data, size);
    offset_ += size;
    return {};
}

Status BlobWriter::restart() {
    if (!fd_) return Error(ErrorKind::Internal, "restart a blob writer that is closed");
    if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0) return Error::last("truncate " + temp_);
    hash_ = Sha256();
    offset_ = 0;
    return {};
}

Result<Digest> BlobWriter::commit() {
    if (!fd_) return Error(ErrorKind::Internal, "commit a blob writer that is closed");
    Digest got = hash_.finish();
    if (Status ok = check_blob(got, offset_, expected_, size_); !ok) {
        keep_on_abort_ = false;  // a wrong partial must not be resumed either
        abort();
        return std::move(ok).error();
    }
    const std::string dir = root_ + "/blobs/sha256";
    const std::string target = dir + "/" + got.hex;
    struct stat st;
    if (::stat(target.c_str(), &st) == 0) {
        // Another writer got there first with the same bytes (same digest).
        keep_on_abort_ = false;
        abort();
        return got;
    }
    if (::fchmod(fd_.get(), 0444) != 0) return Error::last("chmod " + temp_);
    if (::fsync(fd_.get()) != 0) return Error::last("fsync " + temp_);
    if (::rename(temp_.c_str(), target.c_str()) != 0) return Error::last("rename " + temp_ + " to " + target);
    temp_.clear();
    fd_.reset();
    LXBOX_TRY(fsync_dir(dir));
    spdlog::debug("blob {} in place ({} bytes)", got.str(), offset_);
    return got;
}

Result<BlobStore> BlobStore::open(const std::string& root) {
    for (const char* sub : {"/blobs/sha256", "/tmp", "/locks"})
        LXBOX_TRY_CTX(linux_fx::make_dirs(root + sub, 0700), "open the blob store");
    return BlobStore(root);
}

bool BlobStore::has(const Digest& d) const {
    struct stat st;
    return ::stat(path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<uint64_t> BlobStore::size(const Digest& d) const {
    struct stat st;
    if (::stat(path(d).c_str(), &st) != 0) {
        if (errno == ENOENT) return Error(ErrorKind::NotFound, "blob " + d.str() + " is not in the store");
        return Error::last("stat " + path(d));
    }
    return static_cast<uint64_t>(st.st_size);
}

Result<UniqueFd> BlobStore::open_blob(const Digest& d) const {
    auto fd = open_fd(path(d), O_RDONLY);
    if (!fd && fd.error().errno_value == ENOENT)
        return Error(ErrorKind::NotFound, "blob " + d.str() + " is not in the store");
    return fd;
}

Result<std::string> BlobStore::read(const Digest& d, size_t max_bytes) const {
    auto fd = LXBOX_TRY(open_blob(d));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Error::last("stat " + path(d));
    if (static_cast<uint64_t>(st.st_size) > max_bytes)
        return Error(ErrorKind::Invalid, "blob " + d.str() + " is " + std::to_string(st.st_size) +
                                             " bytes, more than a manifest or config may be");
    std::string data = LXBOX_TRY_CTX(read_all(fd.get()), "read blob " + d.str());
    if (Digest got = sha256_of(data); got != d)
        return Error(ErrorKind::Invalid, "blob " + d.str() + " in the store was changed: its content is " + got.str());
    return data;
}

Result<BlobWriter> BlobStore::writer(const std::optional<Digest>& expected, std::optional<uint64_t> size) const {
    const std::string name = store::work_dir_name("blob", store::self_owner(),
                                                  (expected ? expected->hex : std::string("new")) + "." +
                                                      std::to_string(g_temp_counter.fetch_add(1)));
    const std::string temp = root_ + "/tmp/" + name;
    auto fd = LXBOX_TRY(open_fd(temp, O_WRONLY | O_CREAT | O_EXCL, 0600));
    return BlobWriter(root_, temp, std::move(fd), expected, size, false);
}

Result<BlobWriter> BlobStore::resume(const Digest& expected, std::optional<uint64_t> size) const {
    const std::string temp = root_ + "/tmp/partial-" + expected.hex;
    auto fd = LXBOX_TRY(open_fd(temp, O_RDWR | O_CREAT, 0600));
    BlobWriter w(root_, temp, std::move(fd), expected, size, true);
    // Hash what is there: a digest's state cannot be saved across processes, its input can.
    w.offset_ = LXBOX_TRY(hash_rest(w.fd_.get(), w.hash_, temp));
    if (size && w.offset_ > *size) LXBOX_TRY(w.restart());
    return w;
}

Result<Digest> BlobStore::put(std::string_view data, const std::optional<Digest>& expected) const {
    auto w = LXBOX_TRY(writer(expected, data.size()));
    LXBOX_TRY(w.write(data));
    return w.commit();
}

Result<Digest> BlobStore::put_from_fd(int fd, const std::optional<Digest>& expected,
                                      std::optional<uint64_t> size) const {
    auto w = LXBOX_TRY(writer(expected, size));
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::last("read blob " + (expected ? expected->str() : std::string()));
        if (n == 0) break;
        LXBOX_TRY(w.write(buf.data(), static_cast<size_t>(n)));
    }
    return w.commit();
}

Result<Digest> BlobStore::adopt(int fd, const std::string& path, const std::optional<Digest>& expected,
                                std::optional<uint64_t> size) const {
    Sha256 hash;
    const uint64_t total = LXBOX_TRY(hash_rest(fd, hash, path));
    const Digest got = hash.finish();
    LXBOX_TRY(check_blob(got, total, expected, size));
    if (has(got)) return got;
    const std::string dir = root_ + "/blobs/sha256";
    if (::fchmod(fd, 0444) != 0 || ::fsync(fd) != 0) return Error::last("prepare " + path);
    if (::rename(path.c_str(), this->path(got).c_str()) != 0) {
        if (errno != EXDEV) return Error::last("rename " + path + " to " + this->path(got));
        if (::lseek(fd, 0, SEEK_SET) != 0) return Error::last("seek " + path);
        return put_from_fd(fd, got, total);
    }
    LXBOX_TRY(fsync_dir(dir));
    return got;
}

Result<FileLock> BlobStore::take_lock(const std::string& path, int operation) const {
    auto fd = LXBOX_TRY(open_fd(path, O_RDWR | O_CREAT, 0600));
    while (::flock(fd.get(), operation) != 0) {
        if (errno != EINTR) return Error::last("lock " + path);
    }
    return FileLock(std::move(fd));
}

Result<FileLock> BlobStore::lock(const Digest& d) const { return take_lock(root_ + "/locks/blob-" + d.hex, LOCK_EX); }

Result<FileLock> BlobStore::lock_layer(const Digest& diff_id) const {
    return take_lock(root_ + "/locks/layer-" + diff_id.hex, LOCK_EX);
}

Result<FileLock> BlobStore::hold_against_prune() const { return take_lock(root_ + "/locks/gc", LOCK_SH); }

Result<FileLock> BlobStore::lock_for_prune() const {
    const std::string path = root_ + "/locks/gc";
    auto fd = LXBOX_TRY(open_fd(path, O_RDWR | O_CREAT, 0600));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return FileLock(std::move(fd));
    spdlog::info("waiting for the imports and pulls in progress to finish");
    return take_lock(path, LOCK_EX);
}

Result<std::vector<Digest>> BlobStore::list() const {
    const std::string dir = root_ + "/blobs/sha256";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Error::last("open " + dir);
    std::vector<Digest> out;
    while (auto* e = ::readdir(d)) {
        if (auto digest = parse_digest(std::string("sha256:") + e->d_name)) out.push_back(std::move(*digest));
    }
    ::closedir(d);
    return out;
}

Status BlobStore::remove(const Digest& d) const {
    if (::unlink(path(d).c_str()) != 0 && errno != ENOENT) return Error::last("remove " + path(d));
    return {};
}

}  // namespace lxbox::image
