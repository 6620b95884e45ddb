#include "host/vm/host_facts.hpp"

#include <fcntl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <nlohmann/json.hpp>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::vm {

namespace bp = boost::process;

uint64_t measure_tsc_khz() {
#if defined(__x86_64__)
    if (auto text = read_file("/sys/devices/system/cpu/cpu0/tsc_freq_khz")) {
        uint64_t khz = std::strtoull(text->c_str(), nullptr, 10);
        if (khz > 0) return khz;
    }
    auto now_ns = [] {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
        return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
    };
    // Each end bracketed by two clock reads: a preemption between them shows as a wide
    // bracket. The narrowest of three samples wins.
    uint64_t best = 0, best_width = ~0ull;
    for (int sample = 0; sample < 3; ++sample) {
        uint64_t a0 = now_ns(), c0 = __rdtsc(), b0 = now_ns();
        timespec pause{0, 20 * 1000 * 1000};
        nanosleep(&pause, nullptr);
        uint64_t a1 = now_ns(), c1 = __rdtsc(), b1 = now_ns();
        uint64_t t0 = (a0 + b0) / 2, t1 = (a1 + b1) / 2;
        if (t1 <= t0 || (b0 - a0) + (b1 - a1) >= best_width) continue;
        best_width = (b0 - a0) + (b1 - a1);
        best = (c1 - c0) * 1000000ull / (t1 - t0);
    }
    return (best + 500) / 1000 * 1000;
#else
    return 0;
#endif
}

std::string host_kernel_release() {
    utsname u{};
    ::uname(&u);
    return u.release;
}

std::optional<uint64_t> remembered_tsc_khz(const std::string& text, const std::string& boot_id) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || boot_id.empty()) return std::nullopt;
    const auto id = j.find("boot_id");
    const auto khz = j.find("tsc_khz");
    if (id == j.end() || !id->is_string() || *id != boot_id) return std::nullopt;
    if (khz == j.end() || !khz->is_number_unsigned() || khz->get<uint64_t>() == 0) return std::nullopt;
    return khz->get<uint64_t>();
}

uint64_t tsc_khz_of_this_boot(const std::string& path) {
    const std::string boot_id = linux_fx::boot_id();
    if (auto text = read_file(path))
        if (auto khz = remembered_tsc_khz(*text, boot_id)) return *khz;
    const uint64_t khz = measure_tsc_khz();
    // A cache: failing to keep it costs the next cold start the measurement again.
    if (khz != 0 && !boot_id.empty())
        (void)write_file_atomic(path, nlohmann::json{{"boot_id", boot_id}, {"tsc_khz", khz}}.dump() + "\n",
                                Durability::RenameOnly);
    return khz;
}

VmPlatform detect_vm_platform(const std::string& vm_dir) {
    VmPlatform facts;
    facts.os = HostOs::Linux;
    utsname u{};
    ::uname(&u);
    facts.arch = std::string(u.machine) == "aarch64" ? Arch::Aarch64 : Arch::X86_64;
    if (facts.arch == Arch::X86_64)
        facts.tsc_khz = vm_dir.empty() ? measure_tsc_khz() : tsc_khz_of_this_boot(vm_dir + "/tsc.json");
    return facts;
}

Result<std::string> qemu_version(const std::string& qemu_binary) {
    auto exe = qemu_binary.find('/') == std::string::npos ? bp::search_path(qemu_binary)
                                                          : boost::filesystem::path(qemu_binary);
    if (exe.empty()) return Error(ErrorKind::Unsupported, qemu_binary + " not found in PATH");
    std::string line;
    try {
        bp::ipstream out;
        bp::child child(exe, "--version", bp::std_out > out, bp::std_err > bp::null, bp::std_in < bp::null);
        std::getline(out, line);
        while (out.get() != EOF) {
        }
        child.wait();
        if (child.exit_code() != 0)
            return Error(ErrorKind::System, qemu_binary + " --version exited with status " +
                                                std::to_string(child.exit_code()));
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "run " + qemu_binary + " --version: " + e.what());
    }
    return line;
}

bool kvm_verdict_applies(const KvmVerdict& verdict, const std::string& kernel_release,
                         const std::string& qemu_version) {
    return verdict.kernel_release == kernel_release && verdict.qemu_version == qemu_version;
}

std::string kvm_fallback_notice(std::chrono::milliseconds took, std::chrono::milliseconds budget,
                                const std::string& complaint) {
    const std::string tail = ": using TCG on this host until its kernel or QEMU changes";
    if (took < budget) return "KVM could not boot the VM" + complaint + tail;
    return "KVM did not boot the VM within " + std::to_string(budget.count()) + " ms (nested KVM?)" + tail;
}

std::optional<KvmVerdict> load_kvm_verdict(const std::string& path) {
    auto text = read_file(path);
    if (!text) return std::nullopt;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    KvmVerdict v;
    v.kernel_release = j.value("kernel_release", "");
    v.qemu_version = j.value("qemu_version", "");
    v.hangs = j.value("kvm_hangs", false);
    return v;
}

Status save_kvm_verdict(const std::string& path, const KvmVerdict& v) {
    nlohmann::json j{{"kernel_release", v.kernel_release},
                     {"qemu_version", v.qemu_version},
                     {"kvm_hangs", v.hangs}};
    return write_file_atomic(path, j.dump(2) + "\n", Durability::RenameOnly);
}

}  // namespace lxbox::vm
