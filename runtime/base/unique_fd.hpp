// RAII owners of kernel resources that every part of lxbox uses: file descriptors and
// temporary directories. Every fd lxbox opens is O_CLOEXEC (CVE-2024-21626 class: a leaked
// host fd must never reach a container).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "runtime/base/error.hpp"

namespace lxbox {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// open(2)/openat(2) with O_CLOEXEC added; the error names the path.
Result<UniqueFd> open_fd(const std::string& path, int flags, unsigned mode = 0);
Result<UniqueFd> openat_fd(int dirfd, const std::string& path, int flags, unsigned mode = 0);

// Writes all of data, retrying on EINTR and short writes.
// Both ends of a pipe, O_CLOEXEC.
struct Pipe {
    UniqueFd read, write;
};
Result<Pipe> make_pipe();

Status write_all(int fd, const void* data, size_t len);
Status write_all(int fd, const std::string& data);
// Reads until EOF.
Result<std::string> read_all(int fd);
Result<std::string> read_file(const std::string& path);
// The absolute path of the running binary (/proc/self/exe): lxbox finds what it ships beside
// itself (the busybox rootfs, the guest agent) and names itself in the shims it writes.
Result<std::string> self_executable();

// How hard write_file_atomic works for the data to survive a crash.
enum class Durability {
    Durable,     // fsync the file and its directory: the registry, files a user keeps
    RenameOnly,  // atomic for readers, not crash-proof: state that a crash makes stale anyway
};

// Writes path atomically (temp file + rename; see Durability), created with mode.
Status write_file_atomic(const std::string& path, const std::string& data,
                         Durability durability = Durability::Durable, unsigned mode = 0644);

// A directory made with mkdtemp and removed recursively in the destructor.
class TempDir {
public:
    // Creates "<parent>/<prefix>XXXXXX".
    static Result<TempDir> make(const std::string& parent, const std::string& prefix);
    // Takes ownership of an existing directory (removed in the destructor unless released).
    static TempDir adopt(std::string path) { return TempDir(std::move(path)); }
    TempDir() = default;
    TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
    TempDir& operator=(TempDir&& o) noexcept;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();

    const std::string& path() const { return path_; }
    // Keeps the directory (after it was renamed into place, say).
    std::string release() { return std::exchange(path_, {}); }

private:
    explicit TempDir(std::string p) : path_(std::move(p)) {}
    std::string path_;
};

// rm -rf that never crosses a mount point and never follows symlinks.
Status remove_tree(const std::string& path);

// du -s in bytes (allocated blocks), with remove_tree's rules: no other mount, no symlink
// followed. Unreadable parts count as nothing.
uint64_t tree_bytes(const std::string& path);

}  // namespace lxbox
