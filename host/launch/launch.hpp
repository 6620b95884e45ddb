// The launch use case (`lxbox launch`, the argv[0] shim, the scripts `lxbox shim` writes): a
// plain request in, the command's exit code out, so a test drives it without argv. It resolves
// the distro or container, picks the backend, makes the spec, and runs it natively or in the VM.
// host/cli/launch_command.cpp only fills the request from the command line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/backend/choose_backend.hpp"
#include "host/config/distro_settings.hpp"
#include "host/launch/containers.hpp"
#include "runtime/base/error.hpp"
#include "runtime/spec/spec.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::launch {

struct LaunchRequest {
    std::string target;  // distro or container; "" = the default distro
    std::string name, hostname, network = "host", backend = "auto", memory;
    std::vector<std::string> volumes, publish;
    std::optional<double> cpus;
    std::optional<uint64_t> pids;
    bool share_cwd = false, rm = false, no_init = false;
    // --integrate / --isolated for a new container; unset: the distro's integration setting.
    std::optional<bool> integrate;
    ProcessOptions process;
};

// What launch resolved the request to.
struct Target {
    std::string container, image, dir;
    bool ephemeral = false;
    std::string backend = "native";  // native or vm
    backend::BackendChoice choice;   // why (--log-level debug, the first vm notice)
    store::ImageRecord image_record;  // its layers and config
    config::DistroSettings settings;  // the distro's (lxbox config --distro)
    bool integrated = false;          // runs as the invoking user (host/launch/integrate.hpp)
};

// The distro or container the request names and the backend it would run on, changing nothing
// (what `lxbox shim` checks before it writes a script).
Result<Target> choose_target(const store::Store& store, const store::Registry& reg, const LaunchRequest& req);

// choose_target, and where the container lives (registered on first use, unless --rm).
Result<Target> resolve_target(store::Store& store, const LaunchRequest& req);

// The container spec the native runtime (or the guest agent) runs.
Result<runtime::ContainerSpec> make_spec(const store::Store& store, const LaunchRequest& req, const Target& t);

// Runs the request's container in store and returns the command's exit code (lxbox's own
// failures are errors). The default distro must be registered already (cli does it).
Result<int> launch(store::Store& store, const LaunchRequest& req);

}  // namespace lxbox::launch
