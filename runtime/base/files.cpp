#include "runtime/base/files.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace lxbox {

Result<TempFile> create_temp_beside(const std::string& path, const std::string& tag, unsigned mode) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; ++attempt) {
        unsigned char random[6];
        if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
            return Error::last("create a temporary file beside " + path);
        std::string name = path + tag;
        for (unsigned char r : random) name += kChars[r % (sizeof kChars - 1)];
        const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) return TempFile{UniqueFd(fd), std::move(name)};
        if (errno != EEXIST) return Error::last("create " + name);
    }
    return Error(ErrorKind::Exists, "create a temporary file beside " + path + ": every name tried exists");
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
