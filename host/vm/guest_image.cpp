#include "host/vm/guest_image.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/uuid/detail/sha1.hpp>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "host/install/layout.hpp"
#include "host/vm/initramfs.hpp"
#include "host/vm/kernel_package.hpp"
#include "host/vm/module_order.hpp"
#include "host/vm/qemu_command.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::vm {

namespace bp = boost::process;
namespace fs = std::filesystem;

// Bump when the image layout changes, so every cached image is rebuilt once.
// 2: load-order has dependencies; 3: the share phase.
constexpr const char* kBuilderFormat = "lxbox-guest-image-3";

GuestRecipe default_recipe(const std::string& arch) {
    GuestRecipe r;
    if ((arch.empty() ? std::string(build_arch()) : arch) == "aarch64") {
        r.arch = "aarch64";
        r.deb_arch = "arm64";
        r.kernel_meta_package = "linux-image-arm64";
    }
    // Both virtio transports: microvm/virt use mmio, q35 uses PCI.
    r.boot_modules = {"virtio_mmio", "virtio_pci", "virtio_console"};
    // crc32c_generic: ext4 needs a crc32c implementation and the guest has no modprobe to
    // load one on demand (ext4's softdep is not followed without it).
    // virtio_net: the guest's side of QEMU's user-mode network.
    r.later_modules = {"virtio_blk", "overlay", "crc32c_generic", "ext4", "virtio_net"};
    // Host directories given with -v: most containers have none.
    r.share_modules = {"9pnet_virtio", "9p"};
    // Disks of distros imported while the VM runs come as SCSI disks (virtio-mmio has no
    // hotplug): the controller's driver and the disk driver.
    r.hotplug_modules = {"virtio_scsi", "sd_mod"};
    return r;
}

void to_json(nlohmann::json& j, const GuestImage& g) {
    j = nlohmann::json{{"vmlinux", g.vmlinux},
                       {"initramfs", g.initramfs},
                       {"kernel_package", g.kernel_package},
                       {"kernel_release", g.kernel_release},
                       {"deb", g.deb},
                       {"agent", g.agent},
                       {"agent_sha1", g.agent_sha1},
                       {"agent_stamp", g.agent_stamp},
                       {"inputs_hash", g.inputs_hash},
                       {"modules", g.modules},
                       {"vmlinux_bytes", g.vmlinux_bytes},
                       {"initramfs_bytes", g.initramfs_bytes}};
}

void from_json(const nlohmann::json& j, GuestImage& g) {
    j.at("vmlinux").get_to(g.vmlinux);
    j.at("initramfs").get_to(g.initramfs);
    j.at("kernel_package").get_to(g.kernel_package);
    j.at("kernel_release").get_to(g.kernel_release);
    j.at("deb").get_to(g.deb);
    j.at("agent").get_to(g.agent);
    g.agent_sha1 = j.value("agent_sha1", "");
    g.agent_stamp = j.value("agent_stamp", "");
    j.at("inputs_hash").get_to(g.inputs_hash);
    j.at("modules").get_to(g.modules);
    j.at("vmlinux_bytes").get_to(g.vmlinux_bytes);
    j.at("initramfs_bytes").get_to(g.initramfs_bytes);
}

std::string sha1_hex(const std::string& data) {
    // Change detection only, not security: Boost's header-only SHA-1 spares a crypto library.
    boost::uuids::detail::sha1 sha;
    sha.process_bytes(data.data(), data.size());
    boost::uuids::detail::sha1::digest_type digest;
    sha.get_digest(digest);
    char hex[41];
    for (int i = 0; i < 5; ++i) std::snprintf(hex + 8 * i, 9, "%08x", digest[i]);
    return hex;
}

std::string file_stamp(uint64_t size, int64_t mtime_ns, uint64_t dev, uint64_t ino) {
    return std::to_string(size) + ":" + std::to_string(mtime_ns) + ":" + std::to_string(dev) + ":" +
           std::to_string(ino);
}

std::string image_inputs_hash(const GuestRecipe& recipe, const std::string& kernel_package,
                              const std::string& deb_name, const std::string& agent_sha1) {
    nlohmann::json inputs{{"format", kBuilderFormat},
                          {"meta", recipe.kernel_meta_package},
                          {"boot", recipe.boot_modules},
                          {"later", recipe.later_modules},
                          {"share", recipe.share_modules},
                          {"hotplug", recipe.hotplug_modules},
                          {"kernel_package", kernel_package},
                          // Debian never reuses a package file name for other contents.
                          {"deb", deb_name},
                          {"agent", agent_sha1}};
    return sha1_hex(inputs.dump());
}

std::string load_order_text(const std::vector<std::string>& names, PhaseEnds ends,
                            const std::map<std::string, std::vector<std::string>>& depends) {
    const std::set<std::string> in_image(names.begin(), names.end());
    std::string text;
    for (size_t i = 0; i < names.size(); ++i) {
        text += names[i] + ".ko " +
                (i < ends.boot ? "boot" : i < ends.later ? "later" : i < ends.share ? "share" : "hotplug");
        std::string deps;
        if (auto it = depends.find(names[i]); it != depends.end())
            for (const auto& dep : it->second)
                if (in_image.count(dep)) deps += (deps.empty() ? "" : ",") + dep + ".ko";
        text += (deps.empty() ? "" : " " + deps) + "\n";
    }
    return text;
}

std::optional<install::Companion> agent_companion(const std::string& arch, const std::string& host_arch) {
    if (arch.empty() || arch == host_arch) return install::Companion::GuestAgent;
    if (arch == "aarch64") return install::Companion::GuestAgentAarch64;
    return std::nullopt;
}

Result<std::string> find_agent_binary(const std::string& arch) {
    const auto companion = agent_companion(arch, build_arch());
    if (!companion) return Error(ErrorKind::NotFound, "lxbox has no guest agent for " + arch);
    auto found = install::find_companion(*companion);
    if (!found && *companion != install::Companion::GuestAgent)
        return std::move(found).error().context("tools/setup cross-compiles it when g++-aarch64-linux-gnu is installed");
    return found;
}

Result<GuestImage> load_guest_image(const std::string& vm_dir) {
    std::string path = vm_dir + "/image/manifest.json";
    if (::access(path.c_str(), F_OK) != 0)
        return Error(ErrorKind::NotFound, "no guest image built yet (" + path + ")");
    auto text = LXBOX_TRY(read_file(path));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return Error(ErrorKind::Invalid, path + ": not JSON");
    try {
        return j.get<GuestImage>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid, path + ": " + e.what());
    }
}

}  // namespace lxbox::vm
