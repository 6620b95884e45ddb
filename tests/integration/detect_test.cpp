// detect_host() on this machine (as root), and `lxbox doctor --json` as a user runs it.
#include "host/detect/detect.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/common/test_support.hpp"

namespace lxbox::detect {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// /proc/mounts lines "SOURCE MOUNTPOINT FSTYPE ...": which cgroup filesystems are mounted.
std::pair<bool, bool> cgroup_filesystems() {
    bool v1 = false, v2 = false;
    std::istringstream in(slurp("/proc/mounts"));
    std::string source, mountpoint, fstype, rest;
    while (in >> source >> mountpoint >> fstype && std::getline(in, rest)) {
        if (fstype == "cgroup") v1 = true;
        if (fstype == "cgroup2") v2 = true;
    }
    return {v1, v2};
}

class DetectHost : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!test::is_root()) LXBOX_SKIP("detection as root is what this suite checks");
    }
};

TEST_F(DetectHost, ReportsThisLinuxKernelAndArch) {
    HostFacts f = detect_host({});
    utsname u{};
    ::uname(&u);
    EXPECT_EQ(f.os, HostOs::Linux);
    EXPECT_EQ(f.kernel_release, u.release);
    EXPECT_EQ(f.arch, normalize_arch(u.machine));
    EXPECT_TRUE(f.is_root);
    EXPECT_FALSE(f.distro.empty());
}

TEST_F(DetectHost, EveryNamespaceWorksAsRoot) {
    HostFacts f = detect_host({});
    for (const char* ns : {"user", "mount", "pid", "net", "uts", "ipc", "cgroup"}) {
        ASSERT_TRUE(f.namespaces.count(ns)) << ns;
        EXPECT_TRUE(f.namespaces.at(ns).ok) << ns << ": " << f.namespaces.at(ns).reason;
    }
}

TEST_F(DetectHost, CgroupLayoutMatchesProcMounts) {
    HostFacts f = detect_host({});
    auto [v1, v2] = cgroup_filesystems();
    CgroupLayout expected = v1 && v2 ? CgroupLayout::Hybrid
                            : v2     ? CgroupLayout::V2
                            : v1     ? CgroupLayout::V1
                                     : CgroupLayout::None;
    EXPECT_EQ(f.cgroup.layout, expected) << f.cgroup.detail;
    if (expected != CgroupLayout::None) {
        EXPECT_FALSE(f.cgroup.usable_controllers.empty()) << f.cgroup.detail;
    }
}

TEST_F(DetectHost, OverlayAndSeccompProbesLeaveNoMountBehind) {
    std::string before = slurp("/proc/self/mountinfo");
    HostFacts f = detect_host({});
    EXPECT_EQ(slurp("/proc/self/mountinfo"), before);
    bool listed = slurp("/proc/filesystems").find("\toverlay\n") != std::string::npos;
    if (listed) {
        EXPECT_TRUE(f.overlay.supported) << f.overlay.reason;
    }
    EXPECT_TRUE(f.seccomp.supported) << f.seccomp.reason;
}

TEST_F(DetectHost, KvmStateMatchesTheDevice) {
    HostFacts f = detect_host({});
    struct stat st {};
    bool present = ::stat("/dev/kvm", &st) == 0;
    if (present) {
        EXPECT_NE(f.kvm.state, KvmState::Absent) << f.kvm.detail;
    } else {
        EXPECT_EQ(f.kvm.state, KvmState::Absent) << f.kvm.detail;
    }
    // Without a remembered boot verdict a probe can never claim more than "unverified".
    EXPECT_NE(f.kvm.state, KvmState::BootVerified);
}

// A remembered verdict for this kernel + QEMU upgrades only a probe that passed: on a host
// without a working /dev/kvm it must change nothing.
TEST_F(DetectHost, ARememberedVerdictAppliesOnlyOverAPassedProbe) {
    HostFacts plain = detect_host({});
    test::ScratchDir dir;
    const auto& qemu = plain.qemu[qemu_binary_for(plain.arch)];
    ASSERT_TRUE(
        vm::save_kvm_verdict(dir / "kvm-verdict.json", {plain.kernel_release, qemu.version, true})
            .ok());
    KvmState with_verdict = detect_host({dir.path(), std::nullopt}).kvm.state;
    if (plain.kvm.state == KvmState::ProbeOkBootUnverified) {
        EXPECT_EQ(with_verdict, KvmState::BootHangs);
    } else {
        EXPECT_EQ(with_verdict, plain.kvm.state);
    }
}

TEST_F(DetectHost, QemuOnAnEmptyPathIsNotFound) {
    HostFacts f = detect_host({"", std::string("")});
    for (const auto& [name, bin] : f.qemu) EXPECT_TRUE(bin.path.empty()) << name;
}

// fuse-overlayfs and QEMU are found the same way: the first executable in an absolute PATH
// entry; empty and relative entries (the cwd) are never searched.
TEST_F(DetectHost, AProgramIsFoundOnlyAsAnExecutableInAnAbsolutePathEntry) {
    test::ScratchDir dir;
    for (const char* d : {"a", "b", "c"}) ASSERT_EQ(::mkdir((dir / d).c_str(), 0755), 0);
    std::ofstream(dir / "a/prog") << "not executable\n";
    std::ofstream(dir / "b/prog") << "#!/bin/sh\n";
    ASSERT_EQ(::chmod((dir / "b/prog").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir / "c/prog").c_str(), 0755), 0);  // a directory, not a program
    const std::string a = dir / "a", b = dir / "b", c = dir / "c";
    EXPECT_EQ(find_executable("prog", a + ":" + c + "::" + b, ':'), b + "/prog");
    EXPECT_EQ(find_executable("prog", b + ";" + a, ';'), b + "/prog");
    EXPECT_EQ(find_executable("prog", a + ":" + c, ':'), "");
    EXPECT_EQ(find_executable("prog", "", ':'), "");
    // A relative entry would depend on where lxbox is started: skipped even when it holds one.
    const std::string cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    EXPECT_EQ(find_executable("prog", "b", ':'), "");
    EXPECT_EQ(find_executable("prog", ":b", ':'), "");
    std::filesystem::current_path(cwd);
}

TEST(DoctorCli, JsonOutputHasTheDocumentedKeys) {
    test::ScratchDir root;
    auto r = test::run({LXBOX_BINARY, "--root", root.path(), "doctor", "--json"});
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    for (const char* key : {"schema_version", "usable", "backends", "checks", "host", "probe_ms"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(r.exit_code, j.at("usable").get<bool>() ? 0 : 1);
    for (const char* b : {"native", "vm", "auto"})
        for (const char* key : {"backend", "accelerator", "reasons", "error"})
            EXPECT_TRUE(j.at("backends").at(b).contains(key)) << b << "." << key;
    for (const char* key : {"os", "kernel_release", "arch", "distro", "distro_id", "is_root", "uid",
                            "namespaces", "userns_sysctls", "cgroup", "overlay", "seccomp", "kvm",
                            "hvf_supported", "whpx_supported", "qemu"})
        EXPECT_TRUE(j.at("host").contains(key)) << "host." << key;
    EXPECT_EQ(j.at("host").at("os"), "linux");
}

TEST(DoctorCli, TableNamesTheAutoBackend) {
    test::ScratchDir root;
    auto r = test::run({LXBOX_BINARY, "--root", root.path(), "doctor"});
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
    EXPECT_NE(r.out.find("CHECK"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("backend auto"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("kvm"), std::string::npos) << r.out;
}

// The rootless path as an ordinary user sees it: every namespace is probed inside a user
// namespace, and the JSON says who ran it.
TEST(DoctorCli, RunsAsAnOrdinaryUser) {
    if (!test::is_root()) LXBOX_SKIP("switching to uid 65534 needs root");
    if (::access("/usr/bin/setpriv", X_OK) != 0)
        LXBOX_SKIP("setpriv (util-linux) is not installed");
    test::ScratchDir home;
    ASSERT_EQ(::chown(home.path().c_str(), 65534, 65534), 0);
    auto r = test::run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "env", "HOME=" + home.path(), "TMPDIR=" + home.path(), LXBOX_BINARY,
                        "--root", home / "state", "doctor", "--json"});
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out << r.err;
    EXPECT_EQ(j.at("host").at("is_root"), false);
    EXPECT_EQ(j.at("host").at("uid"), 65534);
    std::string mount_reason = j.at("host").at("namespaces").at("mount").at("reason");
    EXPECT_NE(mount_reason.find("CLONE_NEWUSER|CLONE_NEWNS"), std::string::npos) << mount_reason;
}

}  // namespace
}  // namespace lxbox::detect
