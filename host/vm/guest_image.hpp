// The guest VM image: Debian's kernel (fetched with `apt-get download`, cached under
// $LXBOX_ROOT/vm/cache), the PVH vmlinux extracted from it (vm/kernel/<release>/), and an
// initramfs holding the static lxbox-agent as /init plus the modules it loads
// (vm/image/initramfs.cpio). Rebuilt only when an input changes: the kernel package, the
// agent binary's content, the recipe (module list), or this builder's format.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "host/install/layout.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::vm {

// What goes into the image (distro-images/guest/README.md explains each module).
struct GuestRecipe {
    std::string arch = "x86_64";                            // the guest's
    std::string deb_arch = "amd64";                         // Debian's name for it
    std::string kernel_meta_package = "linux-image-amd64";
    // Loaded before the agent opens its port: the channel needs them.
    std::vector<std::string> boot_modules;
    // Loaded from boot on, beside the channel's: disks, overlay and the network for containers.
    std::vector<std::string> later_modules;
    // Loaded after those: 9p for host directories (-v), which only a share's container waits for.
    std::vector<std::string> share_modules;
    // Loaded when a disk was hot-plugged (the SCSI stack): most VMs never need them.
    std::vector<std::string> hotplug_modules;
};

// Pure: the recipe of the guest of arch ("" = build_arch()): x86_64 boots Debian's amd64 kernel
// (its vmlinux by PVH), aarch64 the arm64 one (its Image, on QEMU's virt machine). The modules
// are the same: both kernels build them as modules.
GuestRecipe default_recipe(const std::string& arch = "");

// What `lxbox vm image` reports; vm/image/manifest.json.
struct GuestImage {
    std::string vmlinux;    // absolute paths; aarch64: the kernel's Image
    std::string initramfs;
    std::string kernel_package;  // linux-image-6.1.0-56-amd64
    std::string kernel_release;  // 6.1.0-56-amd64
    std::string deb;             // the cached package file
    std::string agent;           // the agent binary that was packed
    std::string agent_sha1;      // its content's sha1 ...
    std::string agent_stamp;     // ... when it had this file_stamp
    std::string inputs_hash;     // sha1 of every input
    std::vector<std::string> modules;  // load order, "name" only
    uint64_t vmlinux_bytes = 0;
    uint64_t initramfs_bytes = 0;
    bool rebuilt = false;  // not stored: whether this call built it
};

void to_json(nlohmann::json& j, const GuestImage& g);
void from_json(const nlohmann::json& j, GuestImage& g);

// progress(step, done, total): a long step ("extracting kernel") advancing.
using ImageProgress = std::function<void(const std::string& step, uint64_t done, uint64_t total)>;

struct ImageRequest {
    std::string vm_dir;      // $LXBOX_ROOT/vm
    std::string agent_path;  // "" = find_agent_binary()
    bool rebuild = false;    // --rebuild: ignore the cached image (not the downloaded .deb)
    GuestRecipe recipe = default_recipe();
    ImageProgress progress;
};

// Builds the image if any input changed (or rebuild), else returns the cached one.
Result<GuestImage> ensure_guest_image(const ImageRequest& request);

// The image built last, from its manifest (NotFound when none).
Result<GuestImage> load_guest_image(const std::string& vm_dir);

// The lxbox-agent binary for a guest of arch ("" = the host's): $LXBOX_AGENT (another arch's:
// $LXBOX_AGENT_AARCH64 ...), else beside this executable, else the build tree's guest-agent/
// next to host/, else <prefix>/libexec/lxbox/. Another arch's agent is lxbox-agent-<arch>.
Result<std::string> find_agent_binary(const std::string& arch = "");

// Pure: which shipped agent serves a guest of arch on a host of host_arch (its file name and
// overriding variable are install::companion_file/companion_env's); none for an arch lxbox has
// no agent for.
std::optional<install::Companion> agent_companion(const std::string& arch, const std::string& host_arch);

// Pure: the hash over every input of the image (the agent by its content's sha1).
std::string image_inputs_hash(const GuestRecipe& recipe, const std::string& kernel_package,
                              const std::string& deb_name, const std::string& agent_sha1);

// Pure: sha1 of data, in hex.
std::string sha1_hex(const std::string& data);

// Pure: what identifies a file's content without reading it (size, mtime in ns, device and
// inode), as make and ccache trust: the agent's sha1 is computed again only when it changed.
std::string file_stamp(uint64_t size, int64_t mtime_ns, uint64_t dev, uint64_t ino);

// Where the image carries runtime cache entries compiled by the host (the default seccomp
// filter), which the agent copies into its cache at boot (guest-agent/pid1.hpp kImageCacheDir).
inline constexpr const char* kGuestCacheInImage = "lib/lxbox/cache";

// Where each phase of the load order ends: names [0, boot) are boot modules, [boot, later)
// later ones, [later, share) share ones, the rest hotplug ones.
struct PhaseEnds {
    size_t boot = 0, later = SIZE_MAX, share = SIZE_MAX;
};

// Pure: the text of /lib/modules/load-order in the image:
// "<name>.ko boot|later|share|hotplug[ dep.ko,...]" per line, each with the modules of the
// image it needs loaded first (from depends: name → dependency names; built-in ones are not
// in names and are left out). The agent loads modules in parallel by these edges
// (guest-agent/modules.hpp says what each phase is for).
std::string load_order_text(const std::vector<std::string>& names, PhaseEnds ends,
                            const std::map<std::string, std::vector<std::string>>& depends = {});

}  // namespace lxbox::vm
