#include "runtime/base/files.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace lxbox {

static std::string random_suffix_name(const std::string& path, const std::string& tag) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char random[6] = {};
    if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) return {};
    std::string name = path + tag;
    for (unsigned char r : random) name += kChars[r % (sizeof kChars - 1)];
    return name;
}

Result<TempFile> create_temp_beside(const std::string& path, const std::string& tag, unsigned mode) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string name = random_suffix_name(path, tag);
        if (name.empty()) return Error::last("create a temporary file beside " + path);
        const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) return TempFile{UniqueFd(fd), std::move(name)};
        if (errno != EEXIST) return Error::last("create " + name);
    }
    return Error(ErrorKind::Exists, "create a temporary file beside " + path + ": every name tried exists");
}

Result<TempFile> create_unnamed_beside(const std::string& path, const std::string& tag, unsigned mode) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    if (fd >= 0) return TempFile{UniqueFd(fd), {}};
    // EOPNOTSUPP (9p, some FUSE), EISDIR (kernels before 3.11): a named temp does the job.
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return create_temp_beside(path, tag, mode);
    return Error::last("create a temporary file in " + dir);
}

// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (root: no /proc needed); otherwise the fd's /proc
// link, followed, which any user may link.
static int link_unnamed(int fd, const std::string& name) {
    if (::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
    if (errno != EPERM && errno != ENOENT) return -1;
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    return ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW);
}

Status publish_temp(TempFile& tmp, const std::string& path, const std::string& tag,
                    const std::function<Status(const std::string&)>& before_naming) {
    std::string named = tmp.path;
    if (named.empty()) {
        if (link_unnamed(tmp.fd.get(), path) == 0) {
            tmp.fd.reset();
            return {};
        }
        if (errno != EEXIST) return Error::last("link " + path);
    }
    for (int attempt = 0; named.empty() && attempt < 100; ++attempt) {
        std::string candidate = random_suffix_name(path, tag);
        if (candidate.empty()) return Error::last("name a temporary file beside " + path);
        if (before_naming) LXBOX_TRY(before_naming(candidate));
        if (link_unnamed(tmp.fd.get(), candidate) == 0) named = candidate;
        else if (errno != EEXIST) return Error::last("link " + candidate);
    }
    tmp.fd.reset();
    if (named.empty()) return Error(ErrorKind::Exists, "name a temporary file beside " + path + ": every name tried exists");
    if (::rename(named.c_str(), path.c_str()) != 0) {
        Error e = Error::last("rename " + named + " to " + path);
        ::unlink(named.c_str());
        return e;
    }
    return {};
}

Result<std::string> read_regular_file(const std::string& path, size_t max_bytes) {
    auto fd = LXBOX_TRY(open_fd(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error::last("stat " + path);
    if (!S_ISREG(st.st_mode)) return Error(ErrorKind::Invalid, "not a regular file");
    const auto too_large = [&] {
        return Error(ErrorKind::Invalid, "larger than " + std::to_string(max_bytes >> 20) + " MiB");
    };
    if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
    // The size is checked as it is read too: a file may grow meanwhile (or, under /proc, say
    // it is empty).
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::last("read " + path);
        if (n == 0) return out;
        if (out.size() + static_cast<size_t>(n) > max_bytes) return too_large();
        out.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace lxbox
