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
// fails or times out is an error naming it and the stage.
Status run_hooks(const std::vector<Hook>& hooks, const std::string& stage, const std::string& state_json);

}  // namespace lxbox::runtime::oci
