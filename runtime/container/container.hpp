// Running containers: start one from a spec (new namespaces, overlay root, pivot_root, init),
// or join a running one (setns through a pidfd), then wait for it while forwarding signals and
// relaying the pty. The parent does as little as possible: one clone3, a cgroup, a sync byte;
// all the mounting happens in the child (the start-up budget is a few milliseconds).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// How a container's command ended.
struct Outcome {
    int exit_code = 0;                 // the command's status, 128+N when killed by signal N
    std::optional<Error> exec_error;   // set when the command could not be exec'd (126/127)
    bool oom_killed = false;           // the kernel's OOM killer killed a process of the
                                       // container's cgroup (its memory limit; started ones only)
};

// What `exec` needs to enter a running container.
struct JoinSpec {
    pid_t pid = 0;              // the container's init, as the host sees it
    uint64_t start_time = 0;    // its start time (/proc/PID/stat field 22); 0 = do not check
    std::string cgroup;         // the container's cgroup to join; "" = none
    ProcessSpec process;
    std::string cache_dir;      // as ContainerSpec::cache_dir
    // The CLONE_NEW* namespaces the container has of its own (Container::namespaces()), which
    // setns enters; 0 = every kind but user (a container started by an older lxbox). A
    // namespace it shares with the host (a rootless container's network) cannot be entered
    // again from inside its user namespace, and need not be.
    int namespaces = 0;
    // Instead of cgroup: its directories, as Container::cgroup_paths() gave them (`oci exec`:
    // the cgroup was made by another lxbox, perhaps from another cgroup of its own).
    std::vector<std::string> cgroup_paths;
    // The process outlives this lxbox (`oci exec --detach`): no PDEATHSIG.
    bool detached = false;
    // Enter a user namespace through pid itself, not through a child of it: an OCI container's
    // process is its command, dumpable again since its exec (launch's init never is).
    bool through_pid = false;
};

class Container {
public:
    // Clones the container's init; returns as soon as the child runs (it sets itself up).
    static Result<Container> start(const ContainerSpec& spec);
    // Starts process inside the running container described by join.
    static Result<Container> join(const JoinSpec& join);
    // Compiles the seccomp filter of security into cache_dir (as start and join would, once)
    // and makes the sealed exec stub: the guest agent does it while the VM boots, so the first
    // container does not wait for either.
    static Status warm_cache(const SecuritySpec& security, const std::string& cache_dir);

    Container(Container&&) noexcept;
    Container& operator=(Container&&) = delete;
    // Kills and reaps a child that is still running (an error path of the caller).
    ~Container();

    pid_t pid() const { return pid_; }
    // The CLONE_NEW* flags of the namespaces the container has of its own.
    int namespaces() const { return namespaces_; }
    // Whether the container got a cgroup (a rootless one may run without: see warnings()).
    bool has_cgroup() const;
    // The container's cgroup directories, one per hierarchy (empty without a cgroup).
    std::vector<std::string> cgroup_paths() const;
    // What went less well than asked but did not stop the container, one sentence each.
    const std::vector<std::string>& warnings() const;
    int pidfd() const { return pidfd_.get(); }

    // Waits until the command ends; forwards TERM/INT/HUP/QUIT/USR1/USR2 to it (the container
    // has no controlling terminal: what the host's terminal sends comes through here), stops
    // it and then lxbox on TSTP and continues it on CONT, relays the pty (host terminal raw
    // meanwhile), and propagates window size changes. A failure to set the
    // container up is an Error; a command that cannot be exec'd is an Outcome with exec_error.
    Result<Outcome> wait();

    // A bundle's container (spec.bundle): waits until it is created (mounted, pivoted, its
    // pty open) and blocked on its exec fifo; the error that stopped it otherwise. With a tty
    // the pty master is then ours (take_pty_master, or wait() relays it).
    Status wait_created();
    // A joined process: waits until its command was exec'd (with a tty, its pty master is ours
    // first); the error that kept it from running otherwise.
    Status wait_started();
    // A held container (spec.hold_command): waits until it is set up and waiting for
    // release(); the error that stopped it otherwise. Its pty, if any, comes after release().
    Status wait_held();
    // Lets a held container's command run.
    Status release();
    UniqueFd take_pty_master();
    // With a tty, before wait(), for a caller that relays the terminal itself (the guest
    // agent): receives the command's pty master, sizes it rows x cols (unless 0) and lets the
    // command go on; wait() then relays nothing. An error when the command never got its pty
    // (the container failed first: wait() says why).
    Result<UniqueFd> receive_pty_master(uint16_t rows, uint16_t cols);
    // Lets the container outlive this object: its cgroup stays and nothing kills it (`oci
    // create`; its reaper is whoever reaps lxbox's orphans).
    void detach();

    struct Impl;  // the cgroup and the signal mask, kept out of this header

private:
    Container();
    Status take_pty();  // receives the pty master (tty only) and lets the child go on
    Result<UniqueFd> receive_pty();  // the master the child sends, once
    void release_pty_command();      // the child waits for this after sending its master
    Status adopt_command();          // a detached exec: the command's pid becomes ours
    Status wait_ready();             // the child's ready byte, or the error it died of
    pid_t pid_ = -1;
    UniqueFd pidfd_, error_pipe_, pty_sock_, ready_, pty_master_;
    UniqueFd hold_;  // a held container's go: the parent's end of its sync pipe
    bool tty_ = false;
    bool pty_received_ = false;  // the master came over pty_sock_ (it comes once)
    bool reaped_ = false;
    int namespaces_ = 0;
    std::unique_ptr<Impl> impl_;
};

}  // namespace lxbox::runtime
