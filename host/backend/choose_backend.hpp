// Which backend runs a container on this host, and why: one pure function of the host's facts,
// the image's facts and the request, which launch, exec, the scripts `lxbox shim` writes, the
// argv[0] shim and doctor all call, so doctor's "lxbox launch would use ..." is launch's own
// answer. Every rule below is unit-tested as a table (tests/unit/backend_choice_test.cpp).
//
// The rules:
// - native needs a Linux kernel, mount/pid/uts/ipc namespaces (the runtime always creates
//   those), and overlayfs for the container's writable layer (copying the image instead costs
//   seconds per container: measured 0.3-2.5 s for Debian); as non-root, a user namespace, with
//   the other namespaces and the overlay mount inside it, or fuse-overlayfs as the stand-in;
//   and binaries of the image's architecture: the host's own, or another one through a
//   binfmt_misc handler registered with the F flag (qemu-user-static's), whose interpreter
//   the kernel then finds from inside the container too;
// - vm needs a guest of the image's architecture that lxbox can boot here and QEMU for it;
//   accelerator hvf on macOS, whpx on Windows; on Linux kvm unless a real guest was seen to
//   hang under it (a first boot tries it and falls back to tcg by itself, remembered per
//   kernel and QEMU), tcg for a guest of another architecture;
// - auto prefers native (no VM to boot: ~11 ms per container against seconds for a cold VM)
//   and takes the vm where native cannot run; a kept container stays on the backend it was
//   made on (its changes live there);
// - so a distro of another arch with a binfmt_misc handler (F) registered runs natively
//   through qemu-user, not in the VM of its arch: that starts in milliseconds where the
//   aarch64 VM on x86-64 boots in ~10 s under TCG (full-system emulation: an emulated MMU,
//   kernel and agent besides the command), user-mode emulation runs the same instructions
//   faster, and the user registered the handler for exactly this. --backend vm still boots it.
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

// What the decision needs to know of the image.
struct ImageFacts {
    std::string arch;  // its binaries' architecture ("aarch64"); "" = the host's
};

struct BackendRequest {
    RequestedBackend backend = RequestedBackend::Auto;
    std::string kept_backend;  // a kept container's backend ("native", "vm"); "" for a new one
};

struct BackendChoice {
    Backend backend = Backend::None;
    Accelerator accelerator = Accelerator::None;  // None for native
    std::string arch;                  // what the container runs as: the image's arch
    std::vector<std::string> reasons;  // why this backend (and why not the other, for auto)
    std::string error;                 // set exactly when backend is None: why, and the fix
    bool fallback = false;             // auto took the vm because native cannot run here

    bool operator==(const BackendChoice&) const = default;
};

// Pure: the decision. Never throws; an impossible request is a choice with backend None.
BackendChoice choose_backend(const detect::HostFacts& host, const ImageFacts& image, const BackendRequest& request);

// Pure: one line for --log-level debug and the first vm notice: "vm (x86_64, tcg): ...".
std::string describe(const BackendChoice& choice);

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
