// The exec stub (exec_stub.c): every command lxbox starts inside a container is exec'd through
// a sealed in-memory copy of it, so that no process in a container ever runs, or can reach, the
// host's lxbox binary (CVE-2019-5736 class: a container's `#!/proc/self/exe` script, exec'd by
// lxbox, would otherwise run the host binary inside the container, where it can be opened and
// overwritten once it is no longer busy). lxbox's own processes inside a container (the init,
// a bundle's process before its exec) are not dumpable, so /proc/PID/exe of theirs is refused.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::linux_fx {

// A sealed memfd holding the exec stub (write, grow, shrink and further seals refused),
// O_CLOEXEC. Made on the first call, then the same fd for the life of the process (the guest
// agent makes it once), or made again if that fd was closed since.
Result<int> exec_stub_fd();

// The stub's argv for execvp(file, argv) whose failure is reported to report_fd (-1: on
// stderr, as a created container's process reports). Pure.
std::vector<std::string> exec_stub_argv(int report_fd, const std::string& file, const std::vector<std::string>& argv);

}  // namespace lxbox::linux_fx
