// The backend choice as a pure function of injected HostFacts: every rule of
// host/backend/choose_backend.hpp, on hosts we do not have (macOS, Windows, no userns, ...).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "host/backend/choose_backend.hpp"
#include "host/backend/doctor_report.hpp"

namespace lxbox::backend {
namespace {

using detect::HostFacts;
using detect::HostOs;
using detect::KvmState;

bool mentions(const std::vector<std::string>& reasons, const std::string& text) {
    for (const auto& r : reasons)
        if (r.find(text) != std::string::npos) return true;
    return false;
}

// A Debian x86_64 host where everything works, as root, with QEMU installed.
HostFacts linux_everything() {
    HostFacts f;
    f.os = HostOs::Linux;
    f.kernel_release = "6.1.0-18-amd64";
    f.arch = "x86_64";
    f.distro = "Debian GNU/Linux 12 (bookworm)";
    f.distro_id = "debian";
    f.is_root = true;
    f.uid = 0;
    for (const char* ns : {"user", "mount", "pid", "net", "uts", "ipc", "cgroup"})
        f.namespaces[ns] = {true, "works"};
    f.cgroup.layout = detect::CgroupLayout::V2;
    f.cgroup.usable_controllers = {"cpu", "memory", "pids"};
    f.overlay = {true, true, "overlay mounted", "overlay mounted in userns"};
    f.seccomp = {true, 0, "filter installs"};
    f.kvm = {KvmState::BootVerified, 12, "booted"};
    f.qemu["qemu-system-x86_64"] = {"/usr/bin/qemu-system-x86_64", "QEMU emulator version 7.2.0"};
    f.qemu["qemu-system-aarch64"] = {};
    f.guest_arches = {"x86_64"};
    return f;
}

HostFacts rootless_without_userns() {
    HostFacts f = linux_everything();
    f.is_root = false;
    f.uid = 1000;
    for (auto& [name, probe] : f.namespaces)
        probe = {false, "unshare(CLONE_NEWUSER): Operation not permitted"};
    f.overlay.in_userns = false;
    f.userns_sysctls.max_user_namespaces = 0;
    return f;
}

TEST(BackendChoice, LinuxWithEverythingPicksNative) {
    auto c = choose_backend(linux_everything(), {}, {});
    EXPECT_EQ(c.backend, Backend::Native);
    EXPECT_EQ(c.accelerator, Accelerator::None);
    EXPECT_TRUE(c.error.empty());
    EXPECT_TRUE(mentions(c.reasons, "overlayfs mounts"));
}

TEST(BackendChoice, LinuxWithEverythingRunsKvmWhenAskedForAVm) {
    auto c = choose_backend(linux_everything(), {}, {RequestedBackend::Vm, ""});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_EQ(c.accelerator, Accelerator::Kvm);
}

TEST(BackendChoice, RootlessWithUserNamespacesIsNative) {
    HostFacts f = linux_everything();
    f.is_root = false;
    f.uid = 1000;
    auto c = choose_backend(f, {}, {});
    EXPECT_EQ(c.backend, Backend::Native);
    EXPECT_TRUE(mentions(c.reasons, "rootless"));
}

TEST(BackendChoice, NonRootWithoutUserNamespacesFallsBackToVm) {
    auto c = choose_backend(rootless_without_userns(), {}, {});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_TRUE(mentions(c.reasons, "not native: user namespaces are unavailable to uid 1000"));
}

TEST(BackendChoice, NonRootWithoutUserNamespacesRefusesNativeAndPointsAtVm) {
    auto c = choose_backend(rootless_without_userns(), {}, {RequestedBackend::Native, ""});
    EXPECT_EQ(c.backend, Backend::None);
    EXPECT_NE(c.error.find("user namespaces"), std::string::npos);
    EXPECT_NE(c.error.find("--backend vm"), std::string::npos);
}

TEST(BackendChoice, WithoutOverlayfsNativeIsRefusedAndVmChosen) {
    HostFacts f = linux_everything();
    f.overlay = {false, false, "mount overlay in a new mount namespace: No such device",
                 "no such device"};
    auto c = choose_backend(f, {}, {});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_TRUE(mentions(c.reasons, "not native: overlayfs is unavailable"));
    f.qemu.clear();
    auto none = choose_backend(f, {}, {});
    EXPECT_EQ(none.backend, Backend::None);
    EXPECT_NE(none.error.find("overlayfs"), std::string::npos);
}

TEST(BackendChoice, MissingPidNamespaceRefusesNative) {
    HostFacts f = linux_everything();
    f.namespaces["pid"] = {false, "unshare(CLONE_NEWPID): Operation not permitted"};
    auto c = choose_backend(f, {}, {RequestedBackend::Native, ""});
    EXPECT_EQ(c.backend, Backend::None);
    EXPECT_NE(c.error.find("pid namespace"), std::string::npos);
}

TEST(BackendChoice, MacOsRunsAVmWithHvf) {
    HostFacts f;
    f.os = HostOs::Darwin;
    f.arch = "aarch64";
    f.kernel_release = "23.5.0";
    f.hvf_supported = true;
    f.qemu["qemu-system-aarch64"] = {"/opt/homebrew/bin/qemu-system-aarch64",
                                     "QEMU emulator version 9.0.0"};
    f.guest_arches = {"aarch64"};  // once lxbox builds an arm64 guest (issue 19, part 3)
    auto c = choose_backend(f, {}, {});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_EQ(c.accelerator, Accelerator::Hvf);
    EXPECT_TRUE(
        mentions(c.reasons, "not native: native needs a Linux kernel; this host runs darwin"));
}

TEST(BackendChoice, WindowsRunsAVmWithWhpx) {
    HostFacts f;
    f.os = HostOs::Windows;
    f.arch = "x86_64";
    f.whpx_supported = true;
    f.qemu["qemu-system-x86_64"] = {"C:\\Program Files\\qemu\\qemu-system-x86_64.exe",
                                    "QEMU emulator version 8.2.0"};
    f.guest_arches = {"x86_64"};
    auto c = choose_backend(f, {}, {});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_EQ(c.accelerator, Accelerator::Whpx);
    f.whpx_supported = false;
    EXPECT_EQ(choose_backend(f, {}, {}).accelerator, Accelerator::Tcg);
}

TEST(BackendChoice, NoQemuIsAClearErrorNamingThePackage) {
    HostFacts f = rootless_without_userns();
    f.qemu.clear();
    auto c = choose_backend(f, {}, {});
    EXPECT_EQ(c.backend, Backend::None);
    EXPECT_NE(c.error.find("qemu-system-x86_64 not found in PATH"), std::string::npos) << c.error;
    EXPECT_NE(c.error.find("apt-get install qemu-system-x86"), std::string::npos) << c.error;
    EXPECT_NE(c.error.find("user namespaces"), std::string::npos) << c.error;

    HostFacts mac;
    mac.os = HostOs::Darwin;
    mac.arch = "aarch64";
    mac.guest_arches = {"aarch64"};
    EXPECT_NE(choose_backend(mac, {}, {}).error.find("brew install qemu"), std::string::npos);
    HostFacts win;
    win.os = HostOs::Windows;
    win.arch = "x86_64";
    win.guest_arches = {"x86_64"};
    EXPECT_NE(choose_backend(win, {}, {RequestedBackend::Vm, ""}).error.find("winget install qemu"),
              std::string::npos);
}

TEST(BackendChoice, InstallCommandFollowsTheDistro) {
    HostFacts f = linux_everything();
    EXPECT_EQ(qemu_install_command(f, "aarch64"), "apt-get install qemu-system-arm");
    f.distro_id = "fedora";
    EXPECT_EQ(qemu_install_command(f, "x86_64"), "dnf install qemu-system-x86");
    f.distro_id = "ubuntu debian";
    EXPECT_EQ(qemu_install_command(f, "x86_64"), "apt-get install qemu-system-x86");
}

// One rule for the VM's accelerator (it was two, and they disagreed): KVM unless it is known
// to hang guests or cannot be used; a first boot tries it and falls back (host/vm/vm_launcher).
TEST(BackendChoice, KvmIsUsedUnlessItHangsGuestsOrIsUnusable) {
    const std::pair<KvmState, Accelerator> table[] = {
        {KvmState::Absent, Accelerator::Tcg},        {KvmState::NoAccess, Accelerator::Tcg},
        {KvmState::ProbeFailed, Accelerator::Tcg},   {KvmState::ProbeOkBootUnverified, Accelerator::Kvm},
        {KvmState::BootVerified, Accelerator::Kvm},  {KvmState::BootHangs, Accelerator::Tcg},
    };
    for (const auto& [state, accel] : table) {
        HostFacts f = linux_everything();
        f.kvm.state = state;
        auto c = choose_backend(f, {}, {RequestedBackend::Vm, ""});
        EXPECT_EQ(c.backend, Backend::Vm) << detect::to_string(state);
        EXPECT_EQ(c.accelerator, accel) << detect::to_string(state);
    }
}

TEST(BackendChoice, ForeignArchitectureDistroNeedsAVmOfItsArchOrABinfmtHandler) {
    HostFacts f = linux_everything();
    // No handler, and no aarch64 guest: one line naming both.
    auto missing = choose_backend(f, {"aarch64"}, {});
    EXPECT_EQ(missing.backend, Backend::None);
    EXPECT_EQ(missing.error,
              "no backend can run here: native: the distro is aarch64 and the host x86_64, with no binfmt_misc "
              "handler for aarch64 binaries (qemu-user-static registers one); vm: lxbox has no aarch64 guest to "
              "boot on this x86_64 host (its VM image is built for x86_64 only)");
    // With an aarch64 guest: its QEMU is what is missing, then the emulated VM of that arch.
    f.guest_arches = {"x86_64", "aarch64"};
    missing = choose_backend(f, {"aarch64"}, {});
    EXPECT_NE(missing.error.find("apt-get install qemu-system-arm"), std::string::npos) << missing.error;
    f.qemu["qemu-system-aarch64"] = {"/usr/bin/qemu-system-aarch64", "QEMU emulator version 7.2.0"};
    auto c = choose_backend(f, {"aarch64"}, {});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_EQ(c.arch, "aarch64");
    EXPECT_EQ(c.accelerator, Accelerator::Tcg);
    EXPECT_TRUE(c.fallback);
    EXPECT_EQ(describe(c).rfind("vm (aarch64, tcg): not native: the distro is aarch64", 0), 0) << describe(c);
    // A handler registered with F: native, through it (faster than a TCG VM; README).
    f.binfmt["aarch64"] = {"qemu-aarch64", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", true, true};
    c = choose_backend(f, {"aarch64"}, {});
    EXPECT_EQ(c.backend, Backend::Native);
    EXPECT_TRUE(mentions(c.reasons, "binfmt_misc handler qemu-aarch64")) << describe(c);
    // --backend vm still takes the VM.
    EXPECT_EQ(choose_backend(f, {"aarch64"}, {RequestedBackend::Vm, ""}).backend, Backend::Vm);
    // Without F the interpreter's path does not exist in the container: not native.
    f.binfmt["aarch64"].fix_binary = false;
    c = choose_backend(f, {"aarch64"}, {});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_TRUE(mentions(c.reasons, "lacks the F flag")) << describe(c);
}

TEST(BackendChoice, AKeptContainerStaysOnItsBackend) {
    HostFacts f = linux_everything();
    auto c = choose_backend(f, {}, {RequestedBackend::Auto, "vm"});
    EXPECT_EQ(c.backend, Backend::Vm);
    EXPECT_FALSE(c.fallback);  // chosen when it was made: no notice
    EXPECT_TRUE(mentions(c.reasons, "the container was made on the vm backend"));
    EXPECT_EQ(choose_backend(f, {}, {RequestedBackend::Auto, "native"}).backend, Backend::Native);
    // Native where it cannot run any more: an error, not a move to the VM (its changes are here).
    auto gone = choose_backend(rootless_without_userns(), {}, {RequestedBackend::Auto, "native"});
    EXPECT_EQ(gone.backend, Backend::None);
    EXPECT_NE(gone.error.find("made on the native backend, where its changes live, which cannot run here: user "
                              "namespaces"),
              std::string::npos)
        << gone.error;
    // An explicit --backend wins over the record, as before.
    EXPECT_EQ(choose_backend(f, {}, {RequestedBackend::Native, "vm"}).backend, Backend::Native);
}

TEST(BackendChoice, JsonRoundTrip) {
    auto c = choose_backend(rootless_without_userns(), {}, {});
    nlohmann::json j = c;
    EXPECT_EQ(j.at("backend"), "vm");
    EXPECT_EQ(j.at("accelerator"), "kvm");
    EXPECT_EQ(j.get<BackendChoice>(), c);
}

TEST(BackendChoice, RootlessWhereOverlayfsIsRefusedInAUserNamespaceFuseOverlayfsStandsIn) {
    HostFacts f = linux_everything();
    f.is_root = false;
    f.uid = 1000;
    f.overlay.in_userns = false;
    f.overlay.userns_reason = "mount overlay in a new user+mount namespace: Operation not permitted";
    f.overlay.fuse_reason = "fuse-overlayfs is not installed; /dev/fuse opens";
    f.overlay.fuse_device = true;
    auto c = choose_backend(f, {}, {RequestedBackend::Native, ""});
    EXPECT_EQ(c.backend, Backend::None);
    EXPECT_NE(c.error.find("fuse-overlayfs cannot stand in (fuse-overlayfs is not installed"), std::string::npos) << c.error;
    f.overlay.fuse_program = "/usr/bin/fuse-overlayfs";
    c = choose_backend(f, {}, {RequestedBackend::Native, ""});
    EXPECT_EQ(c.backend, Backend::Native) << c.error;
    EXPECT_TRUE(mentions(c.reasons, "fuse-overlayfs mounts"));
    // It needs /dev/fuse; root never needs it.
    f.overlay.fuse_device = false;
    EXPECT_EQ(choose_backend(f, {}, {RequestedBackend::Native, ""}).backend, Backend::None);
    f.is_root = true;
    f.overlay.supported = true;
    EXPECT_EQ(choose_backend(f, {}, {RequestedBackend::Native, ""}).backend, Backend::Native);
}

TEST(OverlayMount, TheSettingTheUserAndTheProgramFoundDecide) {
    const std::string fuse = "/usr/bin/fuse-overlayfs";
    // auto: fuse-overlayfs is the rootless fallback only; the kernel's overlayfs first.
    EXPECT_EQ(overlay_mount("auto", true, fuse).value(), (OverlayMount{fuse, false}));
    EXPECT_EQ(overlay_mount("auto", true, "").value(), OverlayMount{});
    EXPECT_EQ(overlay_mount("auto", false, fuse).value(), OverlayMount{});
    EXPECT_EQ(overlay_mount("kernel", true, fuse).value(), OverlayMount{});
    EXPECT_EQ(overlay_mount("fuse", false, fuse).value(), (OverlayMount{fuse, true}));
    auto missing = overlay_mount("fuse", true, "");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message,
              "storage.overlay is fuse, but fuse-overlayfs is not installed (apt-get install fuse-overlayfs)");
    EXPECT_FALSE(overlay_mount("zfs", true, fuse));
}

TEST(HostFactsJson, RoundTripKeepsEveryField) {
    HostFacts f = rootless_without_userns();
    f.cgroup = {detect::CgroupLayout::Hybrid,
                "/sys/fs/cgroup/unified",
                {"cpu", "memory"},
                {},
                {"memory"},
                "hybrid"};
    f.kvm = {KvmState::ProbeOkBootUnverified, 12, "present, probe ok"};
    f.userns_sysctls = {0, 15000};
    f.hvf_supported = true;
    f.overlay.fuse_program = "/usr/bin/fuse-overlayfs";
    f.overlay.fuse_device = true;
    f.overlay.fuse_reason = "/usr/bin/fuse-overlayfs; /dev/fuse opens";
    nlohmann::json j = f;
    EXPECT_EQ(j.at("os"), "linux");
    EXPECT_EQ(j.at("cgroup").at("layout"), "hybrid");
    EXPECT_EQ(j.at("kvm").at("state"), "probe-ok-boot-unverified");
    EXPECT_EQ(j.at("namespaces").at("user").at("ok"), false);
    auto back = nlohmann::json::parse(j.dump()).get<HostFacts>();
    EXPECT_EQ(back, f);
}

TEST(HostFactsJson, EnumNamesRoundTrip) {
    for (KvmState s :
         {KvmState::Absent, KvmState::NoAccess, KvmState::ProbeFailed,
          KvmState::ProbeOkBootUnverified, KvmState::BootVerified, KvmState::BootHangs})
        EXPECT_EQ(detect::kvm_state_from_string(detect::to_string(s)), s);
    for (HostOs os : {HostOs::Linux, HostOs::Darwin, HostOs::Windows})
        EXPECT_EQ(detect::host_os_from_string(detect::to_string(os)), os);
}

}  // namespace
}  // namespace lxbox::backend
