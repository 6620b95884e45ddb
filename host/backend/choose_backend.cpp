#include "host/backend/choose_backend.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lxbox::backend {

using detect::HostFacts;
using detect::HostOs;
using detect::KvmState;

namespace {

// Whether one backend can run here; why (reasons) or why not.
struct Verdict {
    bool ok = false;
    Accelerator accel = Accelerator::None;
    std::vector<std::string> reasons;
    std::string why_not;
};

Verdict refuse(std::string why) {
    return {false, Accelerator::None, {}, std::move(why)};
}

std::string join_words(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
}

bool has_word(const std::string& words, const std::string& word) {
    return (" " + words + " ").find(" " + word + " ") != std::string::npos;
}

// The first namespace (of those the runtime always creates) this user cannot make, with why.
std::string missing_namespace(const HostFacts& f) {
    for (const char* ns : {"mount", "pid", "uts", "ipc"}) {
        auto it = f.namespaces.find(ns);
        if (it == f.namespaces.end()) return std::string(ns) + " namespace: not probed";
        if (!it->second.ok) return std::string(ns) + " namespace: " + it->second.reason;
    }
    return "";
}

// Binaries of another architecture run natively only through a binfmt_misc handler the kernel
// can use from inside a container: one registered with F opened its interpreter then.
Verdict foreign_binaries(const HostFacts& f, const std::string& arch) {
    auto it = f.binfmt.find(arch);
    const std::string differ = "the distro is " + arch + " and the host " + f.arch;
    if (it == f.binfmt.end() || !it->second.enabled)
        return refuse(differ + ", with no binfmt_misc handler for " + arch +
                      " binaries (qemu-user-static registers one)");
    const detect::BinfmtHandler& h = it->second;
    if (!h.fix_binary)
        return refuse(differ + ", and its binfmt_misc handler " + h.name + " lacks the F flag: its interpreter " +
                      h.interpreter + " cannot be found inside a container");
    return {true, Accelerator::None,
            {differ + ": its binaries run through the binfmt_misc handler " + h.name + " (" + h.interpreter + ")"},
            ""};
}

Verdict native_verdict(const HostFacts& f, const std::string& arch) {
    if (f.os != HostOs::Linux)
        return refuse(std::string("native needs a Linux kernel; this host runs ") +
                      detect::to_string(f.os));
    std::vector<std::string> first;
    if (arch != f.arch) {
        Verdict binaries = foreign_binaries(f, arch);
        if (!binaries.ok) return binaries;
        first = binaries.reasons;
    }
    Verdict v{true, Accelerator::None, first, ""};
    if (f.is_root) {
        v.reasons.push_back("Linux " + f.kernel_release +
                            " as root: namespaces are created directly");
    } else {
        auto user = f.namespaces.find("user");
        if (user == f.namespaces.end() || !user->second.ok)
            return refuse(
                "user namespaces are unavailable to uid " + std::to_string(f.uid) + " (" +
                (user == f.namespaces.end() ? std::string("not probed") : user->second.reason) +
                ") and lxbox is not root");
        v.reasons.push_back("Linux " + f.kernel_release + ", uid " + std::to_string(f.uid) +
                            ": rootless, in a user namespace");
    }
    if (std::string ns = missing_namespace(f); !ns.empty()) return refuse(ns);
    v.reasons.push_back("mount, pid, uts and ipc namespaces work");
    const bool overlay = f.is_root ? f.overlay.supported : f.overlay.in_userns;
    // Rootless where the kernel refuses overlayfs in a user namespace: fuse-overlayfs does it.
    const bool fuse = !f.is_root && !f.overlay.fuse_program.empty() && f.overlay.fuse_device;
    if (!overlay && !fuse)
        return refuse("overlayfs is unavailable (" + (f.is_root ? f.overlay.reason : f.overlay.userns_reason) +
                      "): a container's changes need an overlay layer over the image" +
                      (f.is_root ? "" : "; fuse-overlayfs cannot stand in (" + f.overlay.fuse_reason + ")"));
    v.reasons.push_back(overlay ? (f.is_root ? "overlayfs mounts" : "overlayfs mounts in a user namespace")
                                : "fuse-overlayfs mounts (overlayfs is refused in a user namespace here)");
    for (const char* optional : {"net", "cgroup"}) {
        auto it = f.namespaces.find(optional);
        if (it != f.namespaces.end() && !it->second.ok)
            v.reasons.push_back(std::string("note: no ") + optional + " namespace (" +
                                it->second.reason + ")");
    }
    return v;
}

// The accelerator for a guest of the host's own architecture, and why.
std::pair<Accelerator, std::string> pick_accelerator(const HostFacts& f) {
    switch (f.os) {
        case HostOs::Darwin:
            if (f.hvf_supported)
                return {Accelerator::Hvf, "Hypervisor.framework is available (hvf)"};
            return {Accelerator::Tcg,
                    "Hypervisor.framework is unavailable (kern.hv_support 0): emulation (tcg)"};
        case HostOs::Windows:
            if (f.whpx_supported)
                return {Accelerator::Whpx, "the Windows Hypervisor Platform is enabled (whpx)"};
            return {Accelerator::Tcg,
                    "the Windows Hypervisor Platform is not enabled: emulation (tcg)"};
        case HostOs::Unknown:
            return {Accelerator::Tcg, "unknown host OS: emulation (tcg)"};
        case HostOs::Linux:
            break;
    }
    switch (f.kvm.state) {
        case KvmState::BootVerified:
            return {Accelerator::Kvm, "KVM booted a real guest with this kernel and QEMU"};
        case KvmState::BootHangs:
            return {
                Accelerator::Tcg,
                "KVM hung a real guest with this kernel and QEMU (nested KVM?): emulation (tcg)"};
        case KvmState::ProbeOkBootUnverified:
            // Only a boot can tell (nested KVM passes the probe and hangs guests): the first one
            // tries KVM within a budget and falls back to tcg, remembered (host/vm/vm_launcher).
            return {Accelerator::Kvm,
                    "KVM passes the probe; no guest has booted under it here yet: the first boot tries it and "
                    "falls back to tcg if it hangs"};
        case KvmState::ProbeFailed:
            return {Accelerator::Tcg,
                    "the KVM probe failed (" + f.kvm.detail + "): emulation (tcg)"};
        case KvmState::NoAccess:
            return {Accelerator::Tcg, "no access to /dev/kvm: emulation (tcg)"};
        case KvmState::Absent:
            break;
    }
    return {Accelerator::Tcg, "no /dev/kvm: emulation (tcg)"};
}

Verdict vm_verdict(const HostFacts& f, const std::string& arch) {
    if (std::find(f.guest_arches.begin(), f.guest_arches.end(), arch) == f.guest_arches.end())
        return refuse("lxbox has no " + arch + " guest to boot on this " + f.arch + " host" +
                      (f.guest_arches.empty() ? std::string() : " (its VM image is built for " +
                                                                    join_words(f.guest_arches) + " only)"));
    std::string binary = detect::qemu_binary_for(arch);
    auto it = f.qemu.find(binary);
    if (it == f.qemu.end() || it->second.path.empty())
        return refuse(binary +
                      " not found in PATH: install QEMU: " + qemu_install_command(f, arch));
    Verdict v{true, Accelerator::Tcg, {}, ""};
    v.reasons.push_back(binary + " at " + it->second.path +
                        (it->second.version.empty() ? "" : " (" + it->second.version + ")"));
    if (arch != f.arch) {
        v.reasons.push_back("a " + arch + " guest on a " + f.arch + " host is emulated (tcg)");
        return v;
    }
    auto [accel, why] = pick_accelerator(f);
    v.accel = accel;
    v.reasons.push_back(why);
    return v;
}

BackendChoice chosen(Backend b, Verdict v, const std::string& arch, std::vector<std::string> before = {}) {
    before.insert(before.end(), v.reasons.begin(), v.reasons.end());
    return {b, v.accel, arch, std::move(before), "", false};
}

BackendChoice none(std::string error, const std::string& arch) {
    return {Backend::None, Accelerator::None, arch, {}, std::move(error), false};
}

// A kept container's changes live on the backend it was made on: it runs there or nowhere.
BackendChoice follow_kept(const std::string& kept, const Verdict& native, const Verdict& vm, const std::string& arch) {
    const bool on_vm = kept == "vm";
    const Verdict& v = on_vm ? vm : native;
    const std::string where = "the container was made on the " + kept + " backend, where its changes live";
    if (!v.ok) return none(where + ", which cannot run here: " + v.why_not, arch);
    return chosen(on_vm ? Backend::Vm : Backend::Native, v, arch, {where});
}

}  // namespace

Result<OverlayMount> overlay_mount(const std::string& setting, bool rootless, const std::string& fuse_found) {
    if (setting == "kernel") return OverlayMount{};
    if (setting == "fuse") {
        if (fuse_found.empty())
            return Error(ErrorKind::Unsupported, "storage.overlay is fuse, but fuse-overlayfs is not installed "
                                                 "(apt-get install fuse-overlayfs)");
        return OverlayMount{fuse_found, true};
    }
    if (setting != "auto")
        return Error(ErrorKind::Invalid, "storage.overlay: '" + setting + "' is not auto, kernel or fuse");
    return OverlayMount{rootless ? fuse_found : "", false};
}

BackendChoice choose_backend(const HostFacts& facts, const ImageFacts& image, const BackendRequest& request) {
    const std::string arch = image.arch.empty() ? facts.arch : image.arch;
    Verdict native = native_verdict(facts, arch);
    Verdict vm = vm_verdict(facts, arch);
    switch (request.backend) {
        case RequestedBackend::Native:
            if (native.ok) return chosen(Backend::Native, native, arch);
            return none("the native backend cannot run here: " + native.why_not +
                            (vm.ok ? " (--backend vm works on this host)" : ""),
                        arch);
        case RequestedBackend::Vm:
            if (vm.ok) return chosen(Backend::Vm, vm, arch);
            return none("the VM backend cannot run here: " + vm.why_not, arch);
        case RequestedBackend::Auto:
            break;
    }
    if (!request.kept_backend.empty()) return follow_kept(request.kept_backend, native, vm, arch);
    if (native.ok) return chosen(Backend::Native, native, arch);
    if (vm.ok) {
        BackendChoice c = chosen(Backend::Vm, vm, arch, {"not native: " + native.why_not});
        c.fallback = true;
        return c;
    }
    return none("no backend can run here: native: " + native.why_not + "; vm: " + vm.why_not, arch);
}

std::string describe(const BackendChoice& c) {
    std::string what = to_string(c.backend);
    if (c.backend == Backend::Vm) what += std::string(" (") + c.arch + ", " + to_string(c.accelerator) + ")";
    if (c.backend == Backend::None) return what + ": " + c.error;
    std::string why;
    for (const auto& r : c.reasons) why += (why.empty() ? "" : "; ") + r;
    return what + ": " + why;
}

std::string qemu_install_command(const HostFacts& f, const std::string& arch) {
    const bool x86 = arch == "x86_64";
    const bool arm = arch == "aarch64";
    if (f.os == HostOs::Darwin) return "brew install qemu";
    if (f.os == HostOs::Windows) return "winget install qemu";
    const std::string& id = f.distro_id;
    if (has_word(id, "fedora") || has_word(id, "rhel") || has_word(id, "centos"))
        return std::string("dnf install ") + (x86   ? "qemu-system-x86"
                                              : arm ? "qemu-system-aarch64"
                                                    : "qemu-system-" + arch);
    if (has_word(id, "arch"))
        return std::string("pacman -S ") + (x86 ? "qemu-system-x86" : "qemu-system-" + arch);
    if (has_word(id, "alpine")) return "apk add qemu-system-" + arch;
    if (has_word(id, "suse") || has_word(id, "opensuse"))
        return std::string("zypper install ") + (x86 ? "qemu-x86" : arm ? "qemu-arm" : "qemu");
    std::string apt = std::string("apt-get install ") + (x86   ? "qemu-system-x86"
                                                         : arm ? "qemu-system-arm"
                                                               : "qemu-system-misc");
    if (has_word(id, "debian") || has_word(id, "ubuntu") || id.empty()) return apt;
    return apt + " (Debian/Ubuntu; elsewhere your distribution's qemu-system package)";
}

namespace {
const std::pair<Backend, const char*> kBackendNames[] = {
    {Backend::Native, "native"}, {Backend::Vm, "vm"}, {Backend::None, "none"}};
const std::pair<Accelerator, const char*> kAccelNames[] = {{Accelerator::None, "none"},
                                                           {Accelerator::Kvm, "kvm"},
                                                           {Accelerator::Hvf, "hvf"},
                                                           {Accelerator::Whpx, "whpx"},
                                                           {Accelerator::Tcg, "tcg"}};
}  // namespace

const char* to_string(Backend b) {
    for (const auto& [v, n] : kBackendNames)
        if (v == b) return n;
    return "none";
}
const char* to_string(Accelerator a) {
    for (const auto& [v, n] : kAccelNames)
        if (v == a) return n;
    return "none";
}
const char* to_string(RequestedBackend r) {
    return r == RequestedBackend::Native ? "native" : r == RequestedBackend::Vm ? "vm" : "auto";
}
Backend backend_from_string(const std::string& s) {
    for (const auto& [v, n] : kBackendNames)
        if (s == n) return v;
    return Backend::None;
}
Accelerator accelerator_from_string(const std::string& s) {
    for (const auto& [v, n] : kAccelNames)
        if (s == n) return v;
    return Accelerator::None;
}

void to_json(nlohmann::json& j, const BackendChoice& c) {
    j = {{"backend", to_string(c.backend)},
         {"accelerator", to_string(c.accelerator)},
         {"arch", c.arch},
         {"fallback", c.fallback},
         {"reasons", c.reasons},
         {"error", c.error}};
}

void from_json(const nlohmann::json& j, BackendChoice& c) {
    c.backend = backend_from_string(j.value("backend", "none"));
    c.accelerator = accelerator_from_string(j.value("accelerator", "none"));
    c.arch = j.value("arch", "");
    c.fallback = j.value("fallback", false);
    c.reasons = j.value("reasons", std::vector<std::string>{});
    c.error = j.value("error", "");
}

}  // namespace lxbox::backend
