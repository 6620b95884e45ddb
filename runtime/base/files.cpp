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

}  // namespace lxbox
