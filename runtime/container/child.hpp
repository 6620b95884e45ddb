// The child side of a container (internal to runtime/container): what runs between clone3 and
// execve. Errors travel to the parent over the error pipe as JSON and the child _exits.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/security.hpp"

namespace lxbox::runtime::detail {

struct ChildChannel {
    int error_fd = -1;  // write end of the error pipe (O_CLOEXEC: EOF at the command's exec)
    int sync_fd = -1;   // read end: one byte once the parent has put us in the cgroup
    int pty_sock = -1;  // unix socket to pass the pty master back (tty only)
    int ready_fd = -1;  // bundle, or a held command: one byte once the container is set up
    int exec_stub = -1; // the sealed exec stub the command is exec'd through (linux_fx::exec_stub_fd)
    // The parent's (write) end of the sync pipe, which the child inherits with the fd table and
    // closes first: then a parent killed before the child set PR_SET_PDEATHSIG reads as EOF
    // in wait_for_parent, instead of a child blocked for ever holding the container's lock.
    int sync_write = -1;
};

// The command as resolved inside the container (its passwd, its group, its hostname).
struct Prepared {
    ResolvedUser user;
    std::vector<std::string> env;
    ExecPlan exec;
    SecurityPlan security;
    // An OCI process's extras, applied just before the user switch.
    std::vector<std::pair<int, std::pair<uint64_t, uint64_t>>> rlimits;  // resource, soft, hard
    std::string oom_score_adj;  // "" = leave it
    std::optional<unsigned> umask;
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
// tty_slave: the pty already opened (a bundle opens it before `create` returns), else nullptr.
[[noreturn]] void run_process(const Prepared& prepared, const ProcessSpec& process, const ChildChannel& ch,
                              bool with_init, bool die_with_parent, const std::string* tty_slave = nullptr);
// Opens the container's pty and passes its master to lxbox; returns the slave's path.
std::string open_tty(const ChildChannel& ch);

// A bundle's container (spec.bundle): joins and unshares what the bundle says, mounts its root
// and mounts, pivots. fifo_dir: an O_PATH fd of the exec fifo's directory, opened before
// pivot_root (-1 when there is no fifo).
// state: the state JSON for the bundle's startContainer hooks (set when it has hooks).
Result<Prepared> setup_bundle(const ContainerSpec& spec, const SecurityPlan& security, int& fifo_dir,
                              std::string& state);

// The steps of a mount plan after pivot_root; early[i] holds the tree of a step made before it.
Status apply_mount_ops(const std::vector<MountOp>& ops, std::vector<UniqueFd>& early);
Result<std::vector<UniqueFd>> prepare_early_mounts(const std::vector<MountOp>& ops);
// The process's rlimits and oom_score_adj (a bundle's are set before `create` returns: a
// failure, such as a lower oom_score_adj without CAP_SYS_RESOURCE, fails the create).
Status apply_process_limits(const Prepared& p);
// Closes every fd above 2 but those in keep (-1 entries are ignored).
void close_all_but(std::vector<int> keep);
// Reports an error to the parent and exits with code.
[[noreturn]] void fail(const ChildChannel& ch, const Error& error, int code);

}  // namespace lxbox::runtime::detail
