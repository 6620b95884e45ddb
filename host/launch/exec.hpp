// The exec use case: a process started in a running container (its namespaces and cgroup
// natively, through the agent for a vm container). A plain request in, the exit code out.
#pragma once

#include <string>

#include "host/launch/containers.hpp"
#include "runtime/base/error.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::launch {

struct ExecRequest {
    std::string container;
    ProcessOptions process;
};

// Runs req's process in its running container and returns the process's exit code.
Result<int> exec(store::Store& store, const ExecRequest& req);

}  // namespace lxbox::launch
