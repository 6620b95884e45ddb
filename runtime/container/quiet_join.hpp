// Processes of lxbox's own in a running container: the distro's boot.command (WSL's [boot]
// command), the question to systemd how it runs. Their output is not the user's: they are
// joined with their stdio on /dev/null (natively by launch, in the VM by the guest agent's
// runner).
#pragma once

#include <string>

#include "runtime/base/error.hpp"
#include "runtime/container/container.hpp"

namespace lxbox::runtime {

// Joins a running container with j's process, its stdin and stderr on /dev/null and its
// stdout on out_fd (-1: /dev/null too). The joining process takes this process's fds 0-2 at
// its clone, so they are swapped for that moment (a single-threaded caller's, or one whose
// other threads do not use them).
Result<Container> join_quietly(const JoinSpec& j, int out_fd = -1);

// The distro's boot.command in the container j names (j.process.security: the container's
// own settings), as WSL runs [boot] command: /bin/sh -c command as root, to its end (`service
// x start`, or `x &` for a daemon, which its stdio on /dev/null lets outlive it). Its failure
// (not run, or a non-zero exit) is the error for the one warning line launch prints.
Status run_boot_command(JoinSpec j, const std::string& command);

}  // namespace lxbox::runtime
