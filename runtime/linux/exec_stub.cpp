#include "runtime/linux/exec_stub.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


#include "runtime/base/unique_fd.hpp"

// The stub's bytes, built by runtime/CMakeLists.txt and placed in .rodata (exec_stub_blob.cpp).
extern "C" const char lxbox_exec_stub_start[];
extern "C" const char lxbox_exec_stub_end[];

namespace lxbox::linux_fx {

namespace {

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

Result<int> make_stub_fd() {
    // MFD_EXEC: where vm.memfd_noexec makes memfds non-executable by default (Linux 6.3+);
    // older kernels refuse the flag (EINVAL) and every memfd is executable there.
    int fd = ::memfd_create("lxbox-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) fd = ::memfd_create("lxbox-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return Error::last("create the exec stub's memfd");
    UniqueFd owned(fd);
    const size_t size = static_cast<size_t>(lxbox_exec_stub_end - lxbox_exec_stub_start);
    LXBOX_TRY(write_all(fd, lxbox_exec_stub_start, size).context("write the exec stub"));
    if (::fchmod(fd, 0555) != 0) return Error::last("make the exec stub read-only");
    int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    if (::fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) != 0 && ::fcntl(fd, F_ADD_SEALS, seals) != 0)
        return Error::last("seal the exec stub");
    return owned.release();
}

// Whether fd is still the memfd made as (dev, ino): a caller may have closed every fd since
// (the guest agent's runner does), and the number may now be another file's.
bool still_ours(int fd, dev_t dev, ino_t ino) {
    struct stat st {};
    return fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

// No lock: a process forked while another thread held one (the guest agent forks its runners
// while its warm-up thread may be here) would wait for it forever. Each process calls this
// from one thread at a time; a fork taken midway sees a stale or no fd and makes its own.
Result<int> exec_stub_fd() {
    static int fd = -1;
    static dev_t dev = 0;
    static ino_t ino = 0;
    if (still_ours(fd, dev, ino)) return fd;
    fd = LXBOX_TRY(make_stub_fd());
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Error::last("stat the exec stub");
    dev = st.st_dev;
    ino = st.st_ino;
    return fd;
}

std::vector<std::string> exec_stub_argv(int report_fd, const std::string& file, const std::vector<std::string>& argv) {
    std::vector<std::string> out{"lxbox-exec", "--lxbox-exec-stub", std::to_string(report_fd), file};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

}  // namespace lxbox::linux_fx
