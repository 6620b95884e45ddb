// The backend decision as one table: host OS x host arch x image arch x what the kernel lets
// this user do x the accelerator's verdict -> backend, accelerator, and the reason it gives.
// Each row is a case of issue 19's "auto picks the VM where native cannot run".
#include <gtest/gtest.h>

#include "host/backend/choose_backend.hpp"
#include "host/detect/detect.hpp"
#include "host/launch/decide.hpp"

namespace lxbox::backend {
namespace {

using detect::HostFacts;
using detect::HostOs;
using detect::KvmState;

enum class Kernel {
    All,             // root, every namespace, overlayfs
    Rootless,        // uid 1000 with user namespaces and overlayfs in them
    NoUserns,        // uid 1000, user namespaces refused (sysctl, seccomp of a parent)
    NoMountNs,       // root, but CLONE_NEWNS refused
    NoOverlay,       // root, no overlayfs
    RootlessFuse,    // uid 1000, overlayfs refused in a user namespace, fuse-overlayfs stands in
    RootlessNoFuse,  // the same without fuse-overlayfs
};
enum class Binfmt { None, WithF, WithoutF };

struct Row {
    const char* name;
    HostOs os;
    const char* host_arch;
    const char* image_arch;
    Kernel kernel;
    Binfmt binfmt;
    KvmState kvm;  // on Linux; macOS and Windows: hvf/whpx enabled when BootVerified
    Backend backend;
    Accelerator accel;
    const char* says;  // in the reasons (or the error when backend is None)
};

HostFacts facts_for(const Row& r) {
    HostFacts f;
    f.os = r.os;
    f.arch = r.host_arch;
    f.kernel_release = "6.1.0";
    f.distro_id = "debian";
    f.guest_arches = detect::bootable_guest_arches(r.host_arch);
    f.qemu["qemu-system-x86_64"] = {"/usr/bin/qemu-system-x86_64", "QEMU emulator version 7.2.0"};
    f.qemu["qemu-system-aarch64"] = {"/usr/bin/qemu-system-aarch64", "QEMU emulator version 7.2.0"};
    if (r.os != HostOs::Linux) {
        f.hvf_supported = f.whpx_supported = r.kvm == KvmState::BootVerified;
        return f;
    }
    f.kvm.state = r.kvm;
    const bool root = r.kernel == Kernel::All || r.kernel == Kernel::NoMountNs || r.kernel == Kernel::NoOverlay;
    f.is_root = root;
    f.uid = root ? 0 : 1000;
    for (const char* ns : {"user", "mount", "pid", "net", "uts", "ipc", "cgroup"}) f.namespaces[ns] = {true, "works"};
    if (r.kernel == Kernel::NoUserns)
        for (auto& [name, probe] : f.namespaces) probe = {false, "unshare(CLONE_NEWUSER): Operation not permitted"};
    if (r.kernel == Kernel::NoMountNs) f.namespaces["mount"] = {false, "unshare(CLONE_NEWNS): Operation not permitted"};
    f.overlay = {r.kernel != Kernel::NoOverlay, r.kernel != Kernel::NoOverlay && r.kernel != Kernel::RootlessFuse &&
                                                    r.kernel != Kernel::RootlessNoFuse,
                 "probe", "probe in userns"};
    f.overlay.fuse_device = true;
    if (r.kernel == Kernel::RootlessFuse) f.overlay.fuse_program = "/usr/bin/fuse-overlayfs";
    f.overlay.fuse_reason = f.overlay.fuse_program.empty() ? "fuse-overlayfs is not installed" : "found";
    if (r.binfmt != Binfmt::None)
        f.binfmt[r.image_arch] = {std::string("qemu-") + r.image_arch, "/usr/libexec/qemu-binfmt/x", true,
                                  r.binfmt == Binfmt::WithF};
    return f;
}

constexpr auto L = HostOs::Linux, M = HostOs::Darwin, W = HostOs::Windows;
constexpr auto N = Backend::Native, V = Backend::Vm, X = Backend::None;
constexpr auto none = Accelerator::None, kvm = Accelerator::Kvm, tcg = Accelerator::Tcg;
constexpr auto ok = KvmState::BootVerified, unverified = KvmState::ProbeOkBootUnverified,
               hangs = KvmState::BootHangs, absent = KvmState::Absent;

const Row kTable[] = {
    // name                         os  host      image      kernel                binfmt          kvm      ->  backend accel  says
    {"native_everything", L, "x86_64", "x86_64", Kernel::All, Binfmt::None, ok, N, none, "as root"},
    {"native_rootless", L, "x86_64", "x86_64", Kernel::Rootless, Binfmt::None, ok, N, none, "rootless"},
    {"native_rootless_fuse", L, "x86_64", "x86_64", Kernel::RootlessFuse, Binfmt::None, absent, N, none,
     "fuse-overlayfs mounts"},
    {"vm_no_userns_kvm", L, "x86_64", "x86_64", Kernel::NoUserns, Binfmt::None, ok, V, kvm,
     "not native: user namespaces are unavailable to uid 1000"},
    {"vm_no_userns_unverified_kvm", L, "x86_64", "x86_64", Kernel::NoUserns, Binfmt::None, unverified, V, kvm,
     "falls back to tcg if it hangs"},
    {"vm_no_userns_kvm_hangs", L, "x86_64", "x86_64", Kernel::NoUserns, Binfmt::None, hangs, V, tcg,
     "KVM hung a real guest"},
    {"vm_no_mount_ns", L, "x86_64", "x86_64", Kernel::NoMountNs, Binfmt::None, absent, V, tcg,
     "not native: mount namespace"},
    {"vm_no_overlay", L, "x86_64", "x86_64", Kernel::NoOverlay, Binfmt::None, absent, V, tcg,
     "not native: overlayfs is unavailable"},
    {"vm_rootless_overlay_refused_no_fuse", L, "x86_64", "x86_64", Kernel::RootlessNoFuse, Binfmt::None, ok, V,
     kvm, "fuse-overlayfs cannot stand in"},
    {"vm_foreign_no_handler_aarch64_guest", L, "x86_64", "aarch64", Kernel::All, Binfmt::None, ok, V, tcg,
     "not native: the distro is aarch64 and the host x86_64, with no binfmt_misc handler"},
    {"native_foreign_through_handler", L, "x86_64", "aarch64", Kernel::All, Binfmt::WithF, ok, N, none,
     "binfmt_misc handler qemu-aarch64"},
    {"vm_foreign_handler_without_f", L, "x86_64", "aarch64", Kernel::All, Binfmt::WithoutF, ok, V, tcg,
     "lacks the F flag"},
    {"vm_foreign_handler_but_no_userns", L, "x86_64", "aarch64", Kernel::NoUserns, Binfmt::WithF, ok, V, tcg,
     "user namespaces are unavailable"},
    {"vm_foreign_is_emulated_even_with_kvm", L, "x86_64", "aarch64", Kernel::All, Binfmt::None, ok, V, tcg,
     "a aarch64 guest on a x86_64 host is emulated (tcg)"},
    {"vm_arm_host_no_userns_kvm", L, "aarch64", "aarch64", Kernel::NoUserns, Binfmt::None, ok, V, kvm,
     "not native: user namespaces are unavailable"},
    {"none_x86_image_on_arm_without_handler", L, "aarch64", "x86_64", Kernel::All, Binfmt::None, ok, X, none,
     "lxbox has no x86_64 guest to boot on this aarch64 host"},
    {"native_arm_host", L, "aarch64", "aarch64", Kernel::All, Binfmt::None, ok, N, none, "as root"},
    {"native_x86_image_on_arm_through_handler", L, "aarch64", "x86_64", Kernel::All, Binfmt::WithF, absent, N,
     none, "binfmt_misc handler qemu-x86_64"},
    {"vm_windows_whpx", W, "x86_64", "x86_64", Kernel::All, Binfmt::None, ok, V, Accelerator::Whpx,
     "not native: native needs a Linux kernel; this host runs windows"},
    {"vm_windows_tcg", W, "x86_64", "x86_64", Kernel::All, Binfmt::None, absent, V, tcg, "not enabled"},
    {"vm_windows_foreign_tcg", W, "x86_64", "aarch64", Kernel::All, Binfmt::None, ok, V, tcg,
     "a aarch64 guest on a x86_64 host is emulated (tcg)"},
    {"vm_mac_arm_hvf", M, "aarch64", "aarch64", Kernel::All, Binfmt::None, ok, V, Accelerator::Hvf,
     "not native: native needs a Linux kernel; this host runs darwin"},
    {"vm_intel_mac_hvf", M, "x86_64", "x86_64", Kernel::All, Binfmt::None, ok, V, Accelerator::Hvf,
     "Hypervisor.framework is available"},
};

class DecisionTable : public ::testing::TestWithParam<Row> {};

TEST_P(DecisionTable, AutoPicksTheVmWhereNativeCannotRun) {
    const Row& r = GetParam();
    const BackendChoice c = choose_backend(facts_for(r), {r.image_arch}, {});
    EXPECT_EQ(c.backend, r.backend) << describe(c);
    EXPECT_EQ(c.accelerator, r.accel) << describe(c);
    EXPECT_EQ(c.arch, r.image_arch);
    EXPECT_NE(describe(c).find(r.says), std::string::npos) << describe(c);
    // The VM taken because native cannot run is announced, with why and how to force native.
    const std::string notice = launch::vm_fallback_notice(c);
    EXPECT_EQ(notice.empty(), !(c.backend == Backend::Vm && c.fallback));
    if (!notice.empty()) {
        EXPECT_NE(notice.find("not native: "), std::string::npos) << notice;
        EXPECT_NE(notice.find("--backend native forces native"), std::string::npos) << notice;
    }
}

INSTANTIATE_TEST_SUITE_P(HostOsArchKernelAccel, DecisionTable, ::testing::ValuesIn(kTable),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BinfmtEntry, QemuUserStaticsAarch64HandlerIsParsed) {
    const std::string text =
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n"
        "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
    auto e = detect::parse_binfmt_entry("qemu-aarch64", text);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->first, "aarch64");
    EXPECT_EQ(e->second, (detect::BinfmtHandler{"qemu-aarch64", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", true, true}));
    // Disabled, without F, a big-endian s390x one, and a handler of something else than ELF.
    auto off = detect::parse_binfmt_entry("x", "disabled\ninterpreter /q\nflags: P\noffset 0\n"
                                               "magic 7f454c460201010000000000000000000200b700\n");
    ASSERT_TRUE(off);
    EXPECT_FALSE(off->second.enabled);
    EXPECT_FALSE(off->second.fix_binary);
    auto s390 = detect::parse_binfmt_entry("qemu-s390x", "enabled\ninterpreter /q\nflags: F\noffset 0\n"
                                                         "magic 7f454c4602020100000000000000000000020016\n");
    ASSERT_TRUE(s390);
    EXPECT_EQ(s390->first, "s390x");
    EXPECT_FALSE(detect::parse_binfmt_entry("jar", "enabled\ninterpreter /usr/bin/jexec\nflags: \noffset 0\n"
                                                   "magic 504b0304\n"));
    EXPECT_FALSE(detect::parse_binfmt_entry("python", "enabled\ninterpreter /usr/bin/python3\nflags: \nextension .py\n"));
}

}  // namespace
}  // namespace lxbox::backend
