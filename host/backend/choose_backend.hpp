// Which backend runs a container on this host, and why: a pure function of HostFacts and the
// request, so every rule below is unit-tested with injected facts (tests/unit/backend_*).
//
// The rules:
// - native needs a Linux kernel of the distro's architecture, mount/pid/uts/ipc namespaces
//   (the runtime always creates those), and overlayfs for the container's writable layer
//   (copying the image instead costs seconds per container: measured 0.3-2.5 s for Debian);
//   as non-root, a user namespace, with the other namespaces and the overlay mount inside it;
// - vm needs QEMU for the distro's architecture; accelerator hvf on macOS, whpx on Windows, kvm
//   only once a real guest booted under it here (a passing KVM probe is not enough: nested KVM
//   passed it and hung every guest), tcg otherwise;
// - auto prefers native (no VM to boot, ~2 ms per container vs seconds) and falls back to vm.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "host/detect/host_facts.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::backend {

enum class Backend { Native, Vm, None };
enum class Accelerator { None, Kvm, Hvf, Whpx, Tcg };
enum class RequestedBackend { Auto, Native, Vm };

const char* to_string(Backend b);
const char* to_string(Accelerator a);
const char* to_string(RequestedBackend r);
Backend backend_from_string(const std::string& s);          // None for anything else
Accelerator accelerator_from_string(const std::string& s);  // None for anything else

struct BackendRequest {
    RequestedBackend backend = RequestedBackend::Auto;
    std::string distro_arch;  // the image's architecture, "" = the host's
};

struct BackendChoice {
    Backend backend = Backend::None;
    Accelerator accelerator = Accelerator::None;  // None for native
    std::vector<std::string> reasons;  // why this backend (and why not the other, for auto)
    std::string error;                 // set exactly when backend is None: why, and the fix

    bool operator==(const BackendChoice&) const = default;
};

// Pure: the decision. Never throws; an impossible request is a choice with backend None.
BackendChoice choose_backend(const detect::HostFacts& facts, const BackendRequest& request);

// Pure: the command that installs QEMU for guests of `arch` on this host
// ("apt-get install qemu-system-x86", "brew install qemu", "winget install qemu", ...).
std::string qemu_install_command(const detect::HostFacts& facts, const std::string& arch);

// How the native backend mounts a container's root (ContainerSpec::fuse_overlay*), from the
// storage.overlay setting, whether the container is rootless, and the fuse-overlayfs found on
// PATH ("" for none). auto offers fuse-overlayfs to a rootless container as the fallback for a
// kernel that refuses overlayfs in a user namespace; fuse without the program is an error that
// says how to install it.
struct OverlayMount {
    std::string fuse_program;
    bool fuse_only = false;
    bool operator==(const OverlayMount&) const = default;
};
Result<OverlayMount> overlay_mount(const std::string& setting, bool rootless, const std::string& fuse_found);

void to_json(nlohmann::json& j, const BackendChoice& c);
void from_json(const nlohmann::json& j, BackendChoice& c);

}  // namespace lxbox::backend
