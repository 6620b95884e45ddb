#include "host/backend/doctor_report.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lxbox::backend {

using detect::CgroupLayout;
using detect::HostFacts;
using detect::HostOs;
using detect::KvmState;

namespace {

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
    return out;
}

// The likely reason an ordinary user cannot create a user namespace, as the command fixing it.
std::string userns_fix(const HostFacts& f) {
    if (f.userns_sysctls.unprivileged_userns_clone == 0)
        return "sysctl -w kernel.unprivileged_userns_clone=1";
    if (f.userns_sysctls.max_user_namespaces == 0)
        return "sysctl -w user.max_user_namespaces=15000";
    return "allow unprivileged user namespaces (kernel, AppArmor or container policy), or run as "
           "root";
}

void add_identity(const HostFacts& f, std::vector<DoctorCheck>& out) {
    out.push_back({"os", CheckStatus::Info, detect::to_string(f.os), ""});
    out.push_back({"kernel", CheckStatus::Info, f.kernel_release + " (" + f.arch + ")", ""});
    out.push_back({"distro", CheckStatus::Info, f.distro, ""});
    out.push_back({"user", CheckStatus::Info,
                   f.is_root ? "root" : "uid " + std::to_string(f.uid) + " (rootless)", ""});
}

void add_namespaces(const HostFacts& f, std::vector<DoctorCheck>& out) {
    for (const char* ns : {"user", "mount", "pid", "net", "uts", "ipc", "cgroup"}) {
        auto it = f.namespaces.find(ns);
        if (it == f.namespaces.end()) continue;
        std::string name = ns;
        // What native always needs fails the check; the rest only degrades it.
        bool required = name == "mount" || name == "pid" || name == "uts" || name == "ipc" ||
                        (name == "user" && !f.is_root);
        DoctorCheck c{"namespace " + name, CheckStatus::Ok, it->second.reason, ""};
        if (!it->second.ok) {
            c.status = required ? CheckStatus::Fail : CheckStatus::Warn;
            if (name == "user")
                c.fix = userns_fix(f);
            else if (name == "net")
                c.detail += ": --network none is unavailable";
            else if (name == "cgroup")
                c.detail += ": containers see the host's cgroup paths";
        }
        out.push_back(std::move(c));
    }
}

// Rootless containers map the caller to root; other users inside need subordinate ids.
void add_rootless_ids(const HostFacts& f, std::vector<DoctorCheck>& out) {
    if (f.is_root || f.os != HostOs::Linux) return;
    const auto& r = f.rootless_ids;
    DoctorCheck c{"rootless ids", CheckStatus::Ok, "", ""};
    if (r.subuids > 0 && r.subgids > 0 && r.helpers) {
        c.detail = "root in a container is you; " + std::to_string(r.subuids) + " more uids and " +
                   std::to_string(r.subgids) + " gids from /etc/subuid and /etc/subgid (newuidmap)";
    } else {
        c.status = CheckStatus::Warn;
        c.detail = "only your own uid maps into containers: root inside works, other users (-u, "
                   "packages that chown their files) do not";
        const std::string user = r.user.empty() ? "$USER" : r.user;
        if (r.subuids == 0 || r.subgids == 0)
            c.fix = "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + user;
        if (!r.helpers) c.fix += std::string(c.fix.empty() ? "" : "; ") + "sudo apt-get install uidmap";
    }
    out.push_back(std::move(c));
}

void add_cgroups(const HostFacts& f, std::vector<DoctorCheck>& out) {
    const auto& cg = f.cgroup;
    out.push_back({"cgroups",
                   cg.layout == CgroupLayout::None ? CheckStatus::Warn : CheckStatus::Info,
                   cg.detail, ""});
    if (cg.layout == CgroupLayout::None) return;
    std::vector<std::string> missing;
    for (const char* wanted : {"memory", "cpu", "pids"})
        if (std::find(cg.usable_controllers.begin(), cg.usable_controllers.end(), wanted) ==
            cg.usable_controllers.end())
            missing.push_back(wanted);
    DoctorCheck c{"cgroup controllers", CheckStatus::Ok,
                  "usable: " + (cg.usable_controllers.empty() ? std::string("none")
                                                              : join(cg.usable_controllers, ", ")),
                  ""};
    if (!missing.empty()) {
        c.status = CheckStatus::Warn;
        c.detail += "; not writable for this user: " + join(missing, ", ") +
                    " (--memory/--cpus/--pids limits need them)";
        c.fix = f.is_root ? "mount the missing controllers read-write"
                          : "run as root, or in a delegated cgroup: systemd-run --user --scope -p "
                            "Delegate=yes lxbox ...";
    }
    out.push_back(std::move(c));
}

void add_overlay_and_seccomp(const HostFacts& f, std::vector<DoctorCheck>& out) {
    DoctorCheck overlay{"overlayfs", f.overlay.supported ? CheckStatus::Ok : CheckStatus::Fail,
                        f.overlay.reason, ""};
    if (!f.overlay.supported) overlay.fix = "modprobe overlay (CONFIG_OVERLAY_FS)";
    out.push_back(std::move(overlay));
    // Only an ordinary user depends on overlayfs inside a user namespace (Linux 5.11+).
    DoctorCheck userns{"overlayfs in userns", CheckStatus::Ok, f.overlay.userns_reason, ""};
    const bool fuse = !f.overlay.fuse_program.empty() && f.overlay.fuse_device;
    if (!f.overlay.in_userns) {
        userns.status = f.is_root || fuse ? CheckStatus::Warn : CheckStatus::Fail;
        userns.fix = f.is_root ? ""
                     : fuse    ? "none needed: rootless containers mount their root with fuse-overlayfs"
                               : "a kernel with overlayfs in user namespaces (5.11+), fuse-overlayfs, or run as root";
    }
    out.push_back(std::move(userns));
    // The stand-in (and storage.overlay fuse): its program and the device it needs.
    DoctorCheck fuse_check{"fuse-overlayfs", fuse ? CheckStatus::Ok : CheckStatus::Warn, f.overlay.fuse_reason, ""};
    if (!fuse)
        fuse_check.fix = f.overlay.fuse_program.empty()
                             ? "apt-get install fuse-overlayfs (only needed where overlayfs is refused)"
                             : "make /dev/fuse usable (mode 0666, as udev sets it)";
    out.push_back(std::move(fuse_check));
    DoctorCheck seccomp{"seccomp", f.seccomp.supported ? CheckStatus::Ok : CheckStatus::Warn,
                        f.seccomp.reason, ""};
    if (f.seccomp.current_mode >= 0)
        seccomp.detail +=
            "; lxbox itself runs in seccomp mode " + std::to_string(f.seccomp.current_mode);
    if (!f.seccomp.supported)
        seccomp.fix =
            "a kernel with CONFIG_SECCOMP_FILTER (containers run without a syscall filter)";
    out.push_back(std::move(seccomp));
}

DoctorCheck kvm_check(const HostFacts& f) {
    DoctorCheck c{"kvm", CheckStatus::Warn,
                  std::string(detect::to_string(f.kvm.state)) + ": " + f.kvm.detail, ""};
    switch (f.kvm.state) {
        case KvmState::BootVerified:
            c.status = CheckStatus::Ok;
            break;
        case KvmState::ProbeOkBootUnverified:
            c.detail =
                "present, probe ok, guest boot unverified (the first VM boot tries KVM and falls back "
                "to tcg, remembered, if the guest hangs)";
            break;
        case KvmState::BootHangs:
            c.fix = "VMs use tcg here; a kernel or QEMU update re-checks KVM";
            break;
        case KvmState::NoAccess:
            c.fix = "usermod -aG kvm $USER (then log in again)";
            break;
        case KvmState::ProbeFailed:
            break;
        case KvmState::Absent:
            c.detail = "absent: no /dev/kvm (VMs use tcg, slower)";
            c.fix =
                "enable virtualization (nested, if this is a VM) and modprobe kvm_intel or kvm_amd";
            break;
    }
    return c;
}

void add_accelerators(const HostFacts& f, std::vector<DoctorCheck>& out) {
    if (f.os == HostOs::Linux) out.push_back(kvm_check(f));
    if (f.os == HostOs::Darwin)
        out.push_back({"hvf", f.hvf_supported ? CheckStatus::Ok : CheckStatus::Warn,
                       f.hvf_supported ? "Hypervisor.framework available"
                                       : "kern.hv_support is 0 (VMs use tcg)",
                       ""});
    if (f.os == HostOs::Windows)
        out.push_back(
            {"whpx", f.whpx_supported ? CheckStatus::Ok : CheckStatus::Warn,
             f.whpx_supported ? "Windows Hypervisor Platform enabled"
                              : "Windows Hypervisor Platform not enabled",
             f.whpx_supported ? "" : "enable the optional feature 'Windows Hypervisor Platform'"});
}

// Foreign-arch distros run natively through these (qemu-user-static registers them).
void add_binfmt(const HostFacts& f, std::vector<DoctorCheck>& out) {
    if (f.os != HostOs::Linux) return;
    std::string usable, unusable;
    for (const auto& [arch, h] : f.binfmt) {
        if (arch == f.arch) continue;
        std::string& list = h.fix_binary ? usable : unusable;
        list += (list.empty() ? "" : ", ") + arch + " (" + h.name + ")";
    }
    DoctorCheck c{"binfmt_misc", CheckStatus::Info, "", ""};
    c.detail = usable.empty() ? "no handler for another arch's binaries: such distros need a VM"
                              : "distros of " + usable + " run natively through their handler";
    if (!unusable.empty()) c.detail += "; without the F flag, unusable in a container: " + unusable;
    if (usable.empty()) c.fix = "apt-get install qemu-user-static (only for distros of another arch)";
    out.push_back(std::move(c));
}

void add_qemu(const HostFacts& f, std::vector<DoctorCheck>& out) {
    // The host arch's QEMU first: it is the one the VM backend needs.
    std::vector<std::pair<std::string, detect::QemuBinary>> rows(f.qemu.begin(), f.qemu.end());
    std::stable_partition(rows.begin(), rows.end(), [&](const auto& row) {
        return row.first == detect::qemu_binary_for(f.arch);
    });
    for (const auto& [name, bin] : rows) {
        std::string arch = name.substr(std::string("qemu-system-").size());
        bool native_arch = name == detect::qemu_binary_for(f.arch);
        DoctorCheck c{name, CheckStatus::Ok,
                      bin.path + (bin.version.empty() ? "" : ": " + bin.version), ""};
        if (bin.path.empty()) {
            // QEMU for the host's arch is what the VM backend needs; another arch only serves
            // foreign-architecture distros.
            c.status = native_arch ? CheckStatus::Fail : CheckStatus::Info;
            const bool guest = std::find(f.guest_arches.begin(), f.guest_arches.end(), arch) != f.guest_arches.end();
            c.detail = native_arch ? "not found in PATH (the VM backend needs it)"
                       : guest     ? "not found in PATH (needed only for " + arch + " distros)"
                                   : "not found in PATH (for " + arch + " distros, once lxbox has an " + arch + " guest)";
            c.fix = qemu_install_command(f, arch);
        } else if (bin.version.empty()) {
            c.status = CheckStatus::Warn;
            c.detail += " (--version failed)";
        }
        out.push_back(std::move(c));
    }
}

DoctorCheck backend_check(const std::string& name, const BackendChoice& c,
                          const std::string& fix_if_none) {
    if (c.backend == Backend::None)
        return {"backend " + name, CheckStatus::Fail, c.error, fix_if_none};
    std::string what = to_string(c.backend);
    if (c.backend == Backend::Vm) what += std::string(" (") + to_string(c.accelerator) + ")";
    return {"backend " + name, CheckStatus::Ok, what + ": " + join(c.reasons, "; "), ""};
}

}  // namespace

DoctorReport build_doctor_report(const HostFacts& facts) {
    DoctorReport r;
    r.host = facts;
    // A new container of a distro of the host's arch: what `lxbox launch DISTRO` decides.
    r.native = choose_backend(facts, {}, {RequestedBackend::Native, ""});
    r.vm = choose_backend(facts, {}, {RequestedBackend::Vm, ""});
    r.automatic = choose_backend(facts, {}, {RequestedBackend::Auto, ""});
    r.usable = r.automatic.backend != Backend::None;
    add_identity(facts, r.checks);
    add_namespaces(facts, r.checks);
    add_rootless_ids(facts, r.checks);
    add_cgroups(facts, r.checks);
    add_overlay_and_seccomp(facts, r.checks);
    add_accelerators(facts, r.checks);
    add_binfmt(facts, r.checks);
    add_qemu(facts, r.checks);
    std::string install = "install QEMU: " + qemu_install_command(facts, facts.arch);
    r.checks.push_back(
        backend_check("native", r.native, r.vm.backend != Backend::None ? "use --backend vm" : ""));
    r.checks.push_back(backend_check("vm", r.vm, install));
    r.checks.push_back(backend_check("auto", r.automatic, install));
    return r;
}

std::string render_doctor_table(const DoctorReport& r) {
    size_t width = std::string("CHECK").size();
    for (const auto& c : r.checks) width = std::max(width, c.check.size());
    auto pad = [](std::string s, size_t n) {
        return s.size() < n ? s + std::string(n - s.size(), ' ') : s;
    };
    std::string out = pad("CHECK", width) + "  " + pad("STATUS", 6) + "  DETAIL\n";
    for (const auto& c : r.checks) {
        out += pad(c.check, width) + "  " + pad(to_string(c.status), 6) + "  " + c.detail + "\n";
        if (!c.fix.empty()) out += std::string(width + 10, ' ') + "fix: " + c.fix + "\n";
    }
    if (r.usable)
        out += std::string("\nlxbox launch would use the ") + to_string(r.automatic.backend) +
               " backend" +
               (r.automatic.backend == Backend::Vm
                    ? std::string(" (") + to_string(r.automatic.accelerator) + ")"
                    : "") +
               ".\n";
    else
        out += "\nno backend can run containers on this host: " + r.automatic.error + "\n";
    return out;
}

const char* to_string(CheckStatus s) {
    switch (s) {
        case CheckStatus::Ok:
            return "ok";
        case CheckStatus::Warn:
            return "warn";
        case CheckStatus::Fail:
            return "fail";
        case CheckStatus::Info:
            break;
    }
    return "info";
}

CheckStatus check_status_from_string(const std::string& s) {
    if (s == "ok") return CheckStatus::Ok;
    if (s == "warn") return CheckStatus::Warn;
    if (s == "fail") return CheckStatus::Fail;
    return CheckStatus::Info;
}

void to_json(nlohmann::json& j, const DoctorCheck& c) {
    j = {{"check", c.check}, {"status", to_string(c.status)}, {"detail", c.detail}, {"fix", c.fix}};
}

void to_json(nlohmann::json& j, const DoctorReport& r) {
    j = {{"schema_version", kDoctorSchemaVersion},
         {"usable", r.usable},
         {"backends", {{"native", r.native}, {"vm", r.vm}, {"auto", r.automatic}}},
         {"checks", r.checks},
         {"host", r.host}};
}

}  // namespace lxbox::backend
