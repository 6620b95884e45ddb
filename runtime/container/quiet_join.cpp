#include "runtime/container/quiet_join.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "runtime/base/files.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::runtime {

Result<Container> join_quietly(const JoinSpec& j, int out_fd) {
    UniqueFd null = LXBOX_TRY(open_fd("/dev/null", O_RDWR));
    UniqueFd saved[3];
    for (int fd = 0; fd < 3; ++fd) {
        saved[fd] = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
        ::dup2(fd == 1 && out_fd >= 0 ? out_fd : null.get(), fd);
    }
    auto joined = Container::join(j);
    for (int fd = 0; fd < 3; ++fd)
        if (saved[fd].get() >= 0) ::dup2(saved[fd].get(), fd);
    return joined;
}

Status run_boot_command(JoinSpec j, const std::string& command) {
    j.process.args = {"/bin/sh", "-c", command};
    j.process.user = "0";
    j.process.tty = false;
    auto joined = LXBOX_TRY(join_quietly(j));
    auto outcome = LXBOX_TRY(joined.wait());
    if (outcome.exec_error) return *outcome.exec_error;
    if (outcome.exit_code != 0)
        return Error(ErrorKind::Internal, "'" + command + "' exited " + std::to_string(outcome.exit_code));
    return {};
}

}  // namespace lxbox::runtime
