// detect_host() on Linux: uname, os-release, the namespace / overlayfs / seccomp / KVM probes
// (probes_linux.cpp), the cgroup mounts, QEMU on PATH and the remembered KVM boot verdict.
#ifdef __linux__

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>

#include "host/detect/detect.hpp"
#include "host/detect/probes_linux.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/namespaces.hpp"

namespace lxbox::detect {

namespace {

std::string read_text(const std::string& path) {
    auto text = read_file(path);
    return text ? *text : "";
}

long read_sysctl(const std::string& path) {
    auto text = read_file(path);
    return text && !text->empty() ? std::strtol(text->c_str(), nullptr, 10) : -1;
}

struct NamespaceFlag {
    const char* name;
    int flag;
    const char* flag_name;
};
constexpr NamespaceFlag kNamespaces[] = {
    {"user", CLONE_NEWUSER, "CLONE_NEWUSER"},       {"mount", CLONE_NEWNS, "CLONE_NEWNS"},
    {"pid", CLONE_NEWPID, "CLONE_NEWPID"},          {"net", CLONE_NEWNET, "CLONE_NEWNET"},
    {"uts", CLONE_NEWUTS, "CLONE_NEWUTS"},          {"ipc", CLONE_NEWIPC, "CLONE_NEWIPC"},
    {"cgroup", CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
};

void detect_identity(HostFacts& f) {
    utsname u{};
    ::uname(&u);
    f.kernel_release = u.release;
    f.arch = normalize_arch(u.machine);
    std::string text = read_text("/etc/os-release");
    if (text.empty()) text = read_text("/usr/lib/os-release");
    OsRelease rel = parse_os_release(text);
    f.distro = rel.pretty_name.empty() ? "unknown (no /etc/os-release)" : rel.pretty_name;
    f.distro_id = rel.id;
    f.uid = static_cast<long>(::geteuid());
    f.is_root = f.uid == 0;
}

void detect_namespaces(HostFacts& f) {
    // An ordinary user can create the other namespaces only inside a new user namespace, as a
    // rootless container does; root probes each flag alone.
    for (const auto& ns : kNamespaces)
        f.namespaces[ns.name] = probes::probe_namespace(ns.flag, ns.flag_name, !f.is_root);
    f.userns_sysctls.unprivileged_userns_clone =
        read_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
    f.userns_sysctls.max_user_namespaces = read_sysctl("/proc/sys/user/max_user_namespaces");
    const auto ids = linux_fx::caller_ids();
    for (const auto& r : ids.subuids) f.rootless_ids.subuids += r.count;
    for (const auto& r : ids.subgids) f.rootless_ids.subgids += r.count;
    f.rootless_ids.helpers = ids.helpers;
    f.rootless_ids.user = ids.user;
}

void detect_cgroups(HostFacts& f) {
    auto mounts = cgroups::parse_cgroup_mounts(read_text("/proc/self/mountinfo"));
    auto own = cgroups::parse_proc_cgroup(read_text("/proc/self/cgroup"));
    f.cgroup = summarize_cgroups(mounts, own, read_text, [](const std::string& dir) {
        return ::access(dir.c_str(), W_OK) == 0;
    });
}

void detect_overlay(HostFacts& f) {
    const char* tmp = std::getenv("TMPDIR");
    std::string scratch = tmp && *tmp ? tmp : "/tmp";
    bool listed = read_text("/proc/filesystems").find("\toverlay\n") != std::string::npos;
    ProbeResult userns = probes::probe_overlay_mount(true, scratch);
    f.overlay.in_userns = userns.ok;
    f.overlay.userns_reason = userns.reason;
    // Root mounts overlay without a user namespace (and its mount autoloads the module, which
    // an absent /proc/filesystems line does not rule out): probe that way too.
    ProbeResult plain = f.is_root ? probes::probe_overlay_mount(false, scratch) : ProbeResult{};
    f.overlay.supported = listed || userns.ok || plain.ok;
    if (f.is_root)
        f.overlay.reason = plain.reason;
    else
        f.overlay.reason = listed ? "listed in /proc/filesystems" : "not in /proc/filesystems";
    f.overlay.fuse_program = find_on_path("fuse-overlayfs");
    const int fuse = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    f.overlay.fuse_device = fuse >= 0;
    if (fuse >= 0) ::close(fuse);
    const std::string device =
        f.overlay.fuse_device ? "/dev/fuse opens" : "/dev/fuse: " + std::string(std::strerror(errno));
    f.overlay.fuse_reason = f.overlay.fuse_program.empty() ? "fuse-overlayfs is not installed; " + device
                                                            : f.overlay.fuse_program + "; " + device;
}

void detect_seccomp(HostFacts& f) {
    int mode = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    if (mode < 0) {
        // EINVAL: a kernel without CONFIG_SECCOMP; /proc/self/status then has no Seccomp line.
        f.seccomp.current_mode = -1;
        f.seccomp.reason = "prctl(PR_GET_SECCOMP): " + std::string(std::strerror(errno)) +
                           " (kernel built without seccomp?)";
        return;
    }
    f.seccomp.current_mode = mode;
    ProbeResult filter = probes::probe_seccomp_filter();
    f.seccomp.supported = filter.ok;
    f.seccomp.reason = filter.reason;
}

void detect_kvm(HostFacts& f, const std::string& vm_dir) {
    f.kvm = probes::probe_kvm();
    if (vm_dir.empty() || f.kvm.state != KvmState::ProbeOkBootUnverified) return;
    const QemuBinary& qemu = f.qemu[qemu_binary_for(f.arch)];
    f.kvm = apply_kvm_verdict(f.kvm, vm::load_kvm_verdict(vm_dir + "/kvm-verdict.json"),
                              f.kernel_release, qemu.version);
}

}  // namespace

std::map<std::string, BinfmtHandler> binfmt_handlers(const std::string& dir) {
    std::map<std::string, BinfmtHandler> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != ".." && name != "register" && name != "status") names.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : names) {
        auto text = read_file(dir + "/" + name);
        if (!text) continue;
        auto entry = parse_binfmt_entry(name, *text);
        if (entry && entry->second.enabled) out.emplace(entry->first, std::move(entry->second));
    }
    return out;
}

HostFacts detect_host(const DetectOptions& options) {
    HostFacts f;
    f.os = HostOs::Linux;
    detect_identity(f);
    f.guest_arches = bootable_guest_arches(f.arch);
    f.binfmt = binfmt_handlers();
    const char* path = std::getenv("PATH");
    std::vector<std::string> names{"qemu-system-x86_64", "qemu-system-aarch64"};
    if (std::find(names.begin(), names.end(), qemu_binary_for(f.arch)) == names.end())
        names.push_back(qemu_binary_for(f.arch));  // the VM runs the host's architecture
    // `qemu-system-* --version` costs ~50-200 ms each (a large binary to load), as much as all
    // the probes together: run it beside them. The probe children are forks of this process
    // while that thread runs, so they only make syscalls (and glibc's fork-safe malloc).
    auto qemu = std::async(std::launch::async, find_qemu_binaries, names,
                           options.path_env.value_or(path ? path : ""), ':', std::string());
    detect_namespaces(f);
    detect_cgroups(f);
    detect_overlay(f);
    detect_seccomp(f);
    f.qemu = qemu.get();
    detect_kvm(f, options.vm_dir);  // after QEMU: a stored verdict holds for one QEMU version
    return f;
}

}  // namespace lxbox::detect

#endif  // __linux__
