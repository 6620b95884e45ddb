#include "runtime/base/unique_fd.hpp"

#include "runtime/base/files.hpp"

#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace lxbox {

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Result<UniqueFd> open_fd(const std::string& path, int flags, unsigned mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return Error::last("open " + path, errno == ENOENT ? ErrorKind::NotFound : ErrorKind::System);
    return UniqueFd(fd);
}

Result<UniqueFd> openat_fd(int dirfd, const std::string& path, int flags, unsigned mode) {
    int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return Error::last("open " + path, errno == ENOENT ? ErrorKind::NotFound : ErrorKind::System);
    return UniqueFd(fd);
}

Status write_all(int fd, const void* data, size_t len) {
    auto p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = ::write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::last("write");
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return {};
}

Status write_all(int fd, const std::string& data) { return write_all(fd, data.data(), data.size()); }

Result<std::string> read_all(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::last("read");
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<std::string> read_file(const std::string& path) {
    auto fd = LXBOX_TRY(open_fd(path, O_RDONLY));
    return std::move(read_all(fd.get())).context("read " + path);
}

Result<std::string> self_executable() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf);
    if (n < 0) return Error::last("read /proc/self/exe");
    if (static_cast<size_t>(n) == sizeof buf) return Error(ErrorKind::System, "read /proc/self/exe: path too long");
    return std::string(buf, static_cast<size_t>(n));
}

Result<TempDir> TempDir::make(const std::string& parent, const std::string& prefix) {
    std::string tmpl = parent + "/" + prefix + "XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return Error::last("create a temporary directory in " + parent);
    return TempDir(std::string(buf.data()));
}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
    if (this != &o) {
        if (!path_.empty()) (void)remove_tree(path_);
        path_ = std::exchange(o.path_, {});
    }
    return *this;
}

TempDir::~TempDir() {
    if (!path_.empty()) (void)remove_tree(path_);
}

static int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
    if (type == FTW_DP || type == FTW_DNR) return ::rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    return ::unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

// Directories may have been extracted (or made by overlayfs, like work/work) without read or
// write permission; make them removable. An unreadable one is not descended into, so this
// pass repeats until none is left.
static thread_local int unreadable_dirs = 0;
static int make_writable(const char* path, const struct stat* st, int type, struct FTW*) {
    if ((type == FTW_D || type == FTW_DNR) && (st->st_mode & 0700) != 0700) {
        ::chmod(path, st->st_mode | 0700);
        if (type == FTW_DNR) ++unreadable_dirs;
    }
    return 0;
}

Status remove_tree(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return Error::last("remove " + path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + path);
        return {};
    }
    // FTW_MOUNT: never descend into another filesystem; FTW_PHYS: never follow symlinks.
    for (int pass = 0; pass < 16; ++pass) {
        unreadable_dirs = 0;
        ::nftw(path.c_str(), make_writable, 64, FTW_PHYS | FTW_MOUNT);
        if (unreadable_dirs == 0) break;
    }
    if (::nftw(path.c_str(), remove_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
        return Error::last("remove " + path);
    return {};
}

static thread_local uint64_t counted_bytes = 0;
static int count_entry(const char*, const struct stat* st, int, struct FTW*) {
    counted_bytes += static_cast<uint64_t>(st->st_blocks) * 512;
    return 0;
}

uint64_t tree_bytes(const std::string& path) {
    counted_bytes = 0;
    ::nftw(path.c_str(), count_entry, 64, FTW_PHYS | FTW_MOUNT);
    return counted_bytes;
}

// Writes path atomically: a reader sees the old file or the new one, never a torn one; when
// Durable, a crash after rename cannot lose the data either (fsync of the file, then of its
// directory).
Status write_file_atomic(const std::string& path, const std::string& data, Durability durability,
                         unsigned mode) {
    const bool durable = durability == Durability::Durable;
    // Unnamed while written: a kill leaves no temp file behind (registry.json, config.json).
    auto tmp = LXBOX_TRY(create_unnamed_beside(path, ".tmp.", mode));
    auto written = write_all(tmp.fd.get(), data).context("write a temporary file for " + path);
    if (written && durable && ::fsync(tmp.fd.get()) != 0) written = Error::last("fsync a temporary file for " + path);
    if (written) written = publish_temp(tmp, path, ".tmp.");
    if (!written) {
        if (!tmp.path.empty()) ::unlink(tmp.path.c_str());
        return written;
    }
    if (!durable) return {};
    const auto slash = path.rfind('/');
    auto dir = LXBOX_TRY(open_fd(slash == std::string::npos ? "." : path.substr(0, slash),
                                 O_RDONLY | O_DIRECTORY));
    if (::fsync(dir.get()) != 0) return Error::last("fsync " + path.substr(0, slash));
    return {};
}

Result<Pipe> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Error::last("pipe");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace lxbox
