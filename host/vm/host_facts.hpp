// What this host offers the VM (accelerators, TSC rate, QEMU) and the remembered verdict on
// whether its KVM really boots guests. Detection is thin; the decisions stay in
// qemu_command.hpp and kvm_verdict_applies.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "host/vm/qemu_command.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::vm {

// The host's TSC rate in kHz (x86; 0 elsewhere or when it cannot be measured). Reads
// /sys/devices/system/cpu/cpu0/tsc_freq_khz when the kernel offers it, else counts TSC ticks
// over 20 ms of CLOCK_MONOTONIC_RAW, rounded to 1 MHz. /proc/cpuinfo "cpu MHz" is not used: it
// is a scaled frequency on many hosts.
uint64_t measure_tsc_khz();

// Pure: the rate a tsc.json text ({"boot_id", "tsc_khz"}) holds when it was measured in the
// host boot boot_id; nullopt otherwise (another boot, a torn or foreign file).
std::optional<uint64_t> remembered_tsc_khz(const std::string& text, const std::string& boot_id);

// measure_tsc_khz() once per host boot, remembered in path: a boot's TSC runs at one rate, and
// measuring sleeps 60 ms, which every cold start of the VM paid.
uint64_t tsc_khz_of_this_boot(const std::string& path);

// OS, arch and TSC rate of this host (Linux); accel stays tcg, for the caller to set from the
// backend decision. qemu_path stays empty (PATH lookup).
// The TSC rate is remembered in vm_dir/tsc.json (measured each time when vm_dir is "").
VmPlatform detect_vm_platform(const std::string& vm_dir = "");

// The first line of `<qemu> --version`, e.g. "QEMU emulator version 7.2.22 (...)".
Result<std::string> qemu_version(const std::string& qemu_binary);

// Remembered per host in $LXBOX_ROOT/vm/kvm-verdict.json: KVM hung a guest boot (or worked)
// with this host kernel and this QEMU. A kernel or QEMU update invalidates it.
struct KvmVerdict {
    std::string kernel_release;
    std::string qemu_version;
    bool hangs = false;
};

// Pure: whether a stored verdict describes the current host kernel and QEMU.
bool kvm_verdict_applies(const KvmVerdict& verdict, const std::string& kernel_release,
                         const std::string& qemu_version);

// Pure: the one line a user sees when a KVM boot failed and TCG takes over. A boot that ran
// out of budget hung (nested KVM, usually); one that ended sooner failed, and QEMU's last
// complaint (" (QEMU: ...)", or "") says why.
std::string kvm_fallback_notice(std::chrono::milliseconds took, std::chrono::milliseconds budget,
                                const std::string& complaint);

// std::nullopt when there is no verdict file (or it is unreadable: it is only a cache).
std::optional<KvmVerdict> load_kvm_verdict(const std::string& path);
Status save_kvm_verdict(const std::string& path, const KvmVerdict& verdict);

// uname -r.
std::string host_kernel_release();

}  // namespace lxbox::vm
