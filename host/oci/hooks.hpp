// OCI hooks: programs the bundle names, run by lxbox on the host with the container's state
// JSON on their stdin (runtime-spec "POSIX-platform Hooks").
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/oci/config.hpp"

namespace lxbox::oci {

// Runs each hook in order and waits for it (killing it after its timeout); the first that
// fails or times out is an error naming it and the stage.
Status run_hooks(const std::vector<runtime::oci::Hook>& hooks, const std::string& stage, const std::string& state_json);

}  // namespace lxbox::oci
