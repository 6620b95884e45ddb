// OCI hooks: programs the bundle names, run with the container's state JSON on their stdin
// (runtime-spec "POSIX-platform Hooks"): by lxbox on the host, or by the container's process
// (createContainer, startContainer).
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/oci/config.hpp"

namespace lxbox::runtime::oci {

// Runs each hook in order and waits for it (killing it after its timeout); the first that
// fails or times out is an error naming it and the stage. exec_stub: the sealed exec stub each
// hook is exec'd through (linux_fx::exec_stub_fd), for hooks whose file is the container's
// (startContainer); -1 execs them directly.
Status run_hooks(const std::vector<Hook>& hooks, const std::string& stage, const std::string& state_json,
                 int exec_stub = -1);

}  // namespace lxbox::runtime::oci
