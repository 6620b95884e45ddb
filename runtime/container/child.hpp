// The child side of a container (internal to runtime/container): what runs between clone3 and
// execve. Errors travel to the parent over the error pipe as JSON and the child _exits.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/container/container.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/security.hpp"

namespace lxbox::runtime::detail {

struct ChildChannel {
    int error_fd = -1;  // write end of the error pipe (O_CLOEXEC: EOF at the command's exec)
    int sync_fd = -1;   // read end: one byte once the parent has put us in the cgroup
    int pty_sock = -1;  // unix socket to pass the pty master back (tty only)
};

// The command as resolved inside the container (its passwd, its group, its hostname).
struct Prepared {
    ResolvedUser user;
    std::vector<std::string> env;
    ExecPlan exec;
    SecurityPlan security;
};

// security: the process's plan with its filter compiled, made by the parent (which may use
// its cache there) and inherited through the fork.
[[noreturn]] void container_child_main(const ContainerSpec& spec, const ChildChannel& ch,
                                       const SecurityPlan& security);
// namespaces: the CLONE_NEW* flags to setns into (those the container does not share with us);
// ids: what the container's user namespace maps, when it has one.
[[noreturn]] void join_child_main(const JoinSpec& join, int target_pidfd, int namespaces, const IdMapsView& ids,
                                  const ChildChannel& ch, const SecurityPlan& security);

// Reads the container's /etc/passwd and /etc/group and plans the command; ids: what its user
// namespace maps (rootless), so an unmapped user is a clear error.
Result<Prepared> prepare_process(const ProcessSpec& process, const std::string& hostname,
                                 const SecurityPlan& security, const IdMapsView& ids);
// Opens the pty if asked, then either execs the command (no init) or forks it and becomes its
// init. Never returns.
[[noreturn]] void run_process(const Prepared& prepared, const ProcessSpec& process, const ChildChannel& ch,
                              bool with_init, bool die_with_parent);
// Reports an error to the parent and exits with code.
[[noreturn]] void fail(const ChildChannel& ch, const Error& error, int code);

}  // namespace lxbox::runtime::detail
