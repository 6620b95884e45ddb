// The KVM probe: the smallest real guest there is. It proves the device, the ioctls and one
// KVM_RUN work; it does not prove real guests boot (nested KVM on our CI kind of host passes
// this in 3 ms and hangs every Linux guest), hence ProbeOkBootUnverified at most.
#ifdef __linux__

#include <fcntl.h>
#include <linux/kvm.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "host/detect/probes_linux.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::detect::probes {

namespace {

enum KvmStep {
    kApiVersion = 1,
    kCreateVm,
    kGuestMemory,
    kMemoryRegion,
    kCreateVcpu,
    kRunArea,
    kRegisters,
    kRunOut,
    kRunHlt,
};
const char* const kKvmStepNames[] = {"",
                                     "KVM_GET_API_VERSION",
                                     "KVM_CREATE_VM",
                                     "mmap guest memory",
                                     "KVM_SET_USER_MEMORY_REGION",
                                     "KVM_CREATE_VCPU",
                                     "mmap the vcpu run area",
                                     "set the vcpu registers",
                                     "KVM_RUN (expected an I/O exit)",
                                     "KVM_RUN (expected a HLT exit)"};

constexpr uint64_t kGuestAddr = 0x1000;
constexpr uint16_t kProbePort = 0x10;

#if defined(__x86_64__)
// Real mode at 0x1000: mov al, 'K'; out 0x10, al; hlt.
ChildReport run_tiny_guest(int vcpu, kvm_run* run) {
    auto fail = [](int step) { return ChildReport{step, errno, 0}; };
    kvm_sregs sregs{};
    if (::ioctl(vcpu, KVM_GET_SREGS, &sregs) != 0) return fail(kRegisters);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (::ioctl(vcpu, KVM_SET_SREGS, &sregs) != 0) return fail(kRegisters);
    kvm_regs regs{};
    regs.rip = kGuestAddr;
    regs.rflags = 0x2;  // bit 1 is reserved and must be set
    if (::ioctl(vcpu, KVM_SET_REGS, &regs) != 0) return fail(kRegisters);
    if (::ioctl(vcpu, KVM_RUN, 0) != 0) return fail(kRunOut);
    const auto* data = reinterpret_cast<const char*>(run) + run->io.data_offset;
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != kProbePort || *data != 'K')
        return {kRunOut, 0, static_cast<long>(run->exit_reason)};
    if (::ioctl(vcpu, KVM_RUN, 0) != 0) return fail(kRunHlt);
    if (run->exit_reason != KVM_EXIT_HLT) return {kRunHlt, 0, static_cast<long>(run->exit_reason)};
    return {};
}
#endif

// In the probe child: everything it creates (VM, vcpu, mappings) goes away when it exits.
ChildReport kvm_child(int kvm) {
    auto fail = [](int step) { return ChildReport{step, errno, 0}; };
    int api = ::ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        return api < 0 ? fail(kApiVersion) : ChildReport{kApiVersion, 0, api};
    int vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) return fail(kCreateVm);
    void* mem = ::mmap(nullptr, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return fail(kGuestMemory);
    const unsigned char code[] = {0xb0, 'K', 0xe6, kProbePort, 0xf4};
    std::memcpy(mem, code, sizeof code);
    kvm_userspace_memory_region region{};
    region.guest_phys_addr = kGuestAddr;
    region.memory_size = 0x1000;
    region.userspace_addr = reinterpret_cast<uint64_t>(mem);
    if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) != 0) return fail(kMemoryRegion);
    int vcpu = ::ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) return fail(kCreateVcpu);
    int run_size = ::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) return fail(kRunArea);
    void* run =
        ::mmap(nullptr, static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) return fail(kRunArea);
#if defined(__x86_64__)
    ChildReport r = run_tiny_guest(vcpu, static_cast<kvm_run*>(run));
    if (r.step == 0) r.value = api;
    return r;
#else
    // Other architectures need their own vcpu init before KVM_RUN; the device and the VM
    // ioctls answering is as far as this probe goes there.
    return {0, 0, api};
#endif
}

}  // namespace

KvmFacts probe_kvm() {
    KvmFacts f;
    auto kvm = open_fd("/dev/kvm", O_RDWR);
    if (!kvm) {
        int err = kvm.error().errno_value;
        f.state = err == ENOENT                     ? KvmState::Absent
                  : (err == EACCES || err == EPERM) ? KvmState::NoAccess
                                                    : KvmState::ProbeFailed;
        f.detail = kvm.error().message;
        return f;
    }
    // Deadline: a broken KVM can hang KVM_RUN; the child is killed, the verdict "probe-failed".
    int fd = kvm->get();
    auto report = run_probe_child([fd] { return kvm_child(fd); }, std::chrono::milliseconds(2000));
    if (!report) {
        f.state = KvmState::ProbeFailed;
        f.detail = "KVM probe: " + report.error().message;
        return f;
    }
    if (report->step != 0) {
        int step = report->step >= kApiVersion && report->step <= kRunHlt ? report->step : 0;
        f.state = KvmState::ProbeFailed;
        f.detail = std::string(kKvmStepNames[step]) + ": " +
                   (report->err ? std::strerror(report->err)
                                : "unexpected answer " + std::to_string(report->value));
        return f;
    }
    f.api_version = static_cast<int>(report->value);
    f.state = KvmState::ProbeOkBootUnverified;
    f.detail = "present, probe ok (API " + std::to_string(f.api_version) +
               ", a tiny guest ran), guest boot unverified";
    spdlog::debug("KVM probe: {}", f.detail);
    return f;
}

}  // namespace lxbox::detect::probes

#endif  // __linux__
