// detect_host() on macOS: no Linux kernel, so only what the VM backend needs — the release and
// arch (sysctl), Hypervisor.framework (kern.hv_support) and QEMU on PATH (Homebrew's).
#ifdef __APPLE__

#include <sys/sysctl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>

#include "host/detect/detect.hpp"

namespace lxbox::detect {

namespace {

std::string sysctl_string(const char* name) {
    char buf[256] = {};
    size_t len = sizeof buf - 1;
    if (::sysctlbyname(name, buf, &len, nullptr, 0) != 0) return "";
    return std::string(buf);
}

int sysctl_int(const char* name) {
    int value = 0;
    size_t len = sizeof value;
    if (::sysctlbyname(name, &value, &len, nullptr, 0) != 0) return 0;
    return value;
}

}  // namespace

HostFacts detect_host(const DetectOptions& options) {
    HostFacts f;
    f.os = HostOs::Darwin;
    f.kernel_release = sysctl_string("kern.osrelease");
    f.arch = normalize_arch(sysctl_string("hw.machine"));
    std::string product = sysctl_string("kern.osproductversion");
    f.distro = product.empty() ? "macOS" : "macOS " + product;
    f.distro_id = "macos";
    f.uid = static_cast<long>(::geteuid());
    f.is_root = f.uid == 0;
    f.hvf_supported = sysctl_int("kern.hv_support") == 1;
    f.kvm.state = KvmState::Absent;
    f.kvm.detail = "KVM is Linux only; macOS offers Hypervisor.framework (hvf)";
    f.overlay.reason = "overlayfs is Linux only";
    f.seccomp.reason = "seccomp is Linux only";
    f.cgroup.detail = "cgroups are Linux only";
    const char* path = std::getenv("PATH");
    f.qemu = find_qemu_binaries({"qemu-system-x86_64", "qemu-system-aarch64"},
                                options.path_env.value_or(path ? path : ""), ':', "");
    f.guest_arches = bootable_guest_arches(f.arch);
    return f;
}

}  // namespace lxbox::detect

#endif  // __APPLE__
