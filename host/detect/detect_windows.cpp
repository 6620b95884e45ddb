// detect_host() on Windows: no Linux kernel, so only what the VM backend needs — the real
// version (RtlGetVersion: GetVersionEx lies to unmanifested programs), the native arch, the
// Windows Hypervisor Platform (WHPX) and QEMU on PATH.
#ifdef _WIN32

#include <windows.h>

#include <cstdlib>

#include "host/detect/detect.hpp"

namespace lxbox::detect {

namespace {

using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOW*);
// WHV_CAPABILITY_CODE 0 = WHvCapabilityCodeHypervisorPresent; the answer is a BOOL.
using WHvGetCapabilityFn = HRESULT(WINAPI*)(int code, void* buffer, UINT32 size, UINT32* written);

std::string windows_version() {
    auto rtl = reinterpret_cast<RtlGetVersionFn>(reinterpret_cast<void*>(
        ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "RtlGetVersion")));
    OSVERSIONINFOW info{};
    info.dwOSVersionInfoSize = sizeof info;
    if (!rtl || rtl(&info) != 0) return "";
    return std::to_string(info.dwMajorVersion) + "." + std::to_string(info.dwMinorVersion) + "." +
           std::to_string(info.dwBuildNumber);
}

std::string native_arch() {
    SYSTEM_INFO info{};
    ::GetNativeSystemInfo(&info);
    switch (info.wProcessorArchitecture) {
        case PROCESSOR_ARCHITECTURE_AMD64:
            return "x86_64";
        case PROCESSOR_ARCHITECTURE_ARM64:
            return "aarch64";
        default:
            return "unknown";
    }
}

// Loaded at run time: WinHvPlatform.dll exists only with the optional feature installed.
bool whpx_present() {
    HMODULE dll = ::LoadLibraryW(L"WinHvPlatform.dll");
    if (!dll) return false;
    auto get = reinterpret_cast<WHvGetCapabilityFn>(
        reinterpret_cast<void*>(::GetProcAddress(dll, "WHvGetCapability")));
    BOOL present = FALSE;
    UINT32 written = 0;
    bool ok = get && SUCCEEDED(get(0, &present, sizeof present, &written)) && present;
    ::FreeLibrary(dll);
    return ok;
}

}  // namespace

HostFacts detect_host(const DetectOptions& options) {
    HostFacts f;
    f.os = HostOs::Windows;
    f.kernel_release = windows_version();
    f.arch = native_arch();
    f.distro = "Windows " + f.kernel_release;
    f.distro_id = "windows";
    f.whpx_supported = whpx_present();
    f.kvm.state = KvmState::Absent;
    f.kvm.detail = "KVM is Linux only; Windows offers the Windows Hypervisor Platform (whpx)";
    f.overlay.reason = "overlayfs is Linux only";
    f.seccomp.reason = "seccomp is Linux only";
    f.cgroup.detail = "cgroups are Linux only";
    const char* path = std::getenv("PATH");
    f.qemu = find_qemu_binaries({"qemu-system-x86_64", "qemu-system-aarch64"},
                                options.path_env.value_or(path ? path : ""), ';', ".exe");
    f.guest_arches = bootable_guest_arches(f.arch);
    return f;
}

}  // namespace lxbox::detect

#endif  // _WIN32
