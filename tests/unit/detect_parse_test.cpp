// The pure parts of host detection: os-release, arch names, the KVM verdict, the cgroup summary.
#include <gtest/gtest.h>

#include "host/detect/detect.hpp"

namespace lxbox::detect {
namespace {

TEST(DetectParse, OsReleaseQuotedAndBareValues) {
    auto r = parse_os_release(
        "# comment\nNAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04 "
        "LTS\"\nID=ubuntu\nID_LIKE=debian\n");
    EXPECT_EQ(r.pretty_name, "Ubuntu 24.04 LTS");
    EXPECT_EQ(r.id, "ubuntu debian");
    auto alpine = parse_os_release("NAME='Alpine Linux'\nID=alpine");
    EXPECT_EQ(alpine.pretty_name, "Alpine Linux");
    EXPECT_EQ(alpine.id, "alpine");
    EXPECT_EQ(parse_os_release("PRETTY_NAME=\"A \\\"quoted\\\" name\"").pretty_name,
              "A \"quoted\" name");
    EXPECT_EQ(parse_os_release("").pretty_name, "");
}

TEST(DetectParse, ArchNamesAreNormalized) {
    EXPECT_EQ(normalize_arch("x86_64"), "x86_64");
    EXPECT_EQ(normalize_arch("AMD64"), "x86_64");
    EXPECT_EQ(normalize_arch("arm64"), "aarch64");
    EXPECT_EQ(normalize_arch("aarch64"), "aarch64");
    EXPECT_EQ(normalize_arch("riscv64"), "riscv64");
}

TEST(DetectKvmVerdict, AppliesOnlyToAPassedProbeWithTheSameKernelAndQemu) {
    KvmFacts probed{KvmState::ProbeOkBootUnverified, 12, "probe ok"};
    vm::KvmVerdict hangs{"6.1.0", "QEMU emulator version 7.2.0", true};
    EXPECT_EQ(apply_kvm_verdict(probed, hangs, "6.1.0", "QEMU emulator version 7.2.0").state,
              KvmState::BootHangs);
    vm::KvmVerdict booted{"6.1.0", "QEMU emulator version 7.2.0", false};
    EXPECT_EQ(apply_kvm_verdict(probed, booted, "6.1.0", "QEMU emulator version 7.2.0").state,
              KvmState::BootVerified);
    EXPECT_EQ(apply_kvm_verdict(probed, booted, "6.2.0", "QEMU emulator version 7.2.0").state,
              KvmState::ProbeOkBootUnverified);
    EXPECT_EQ(apply_kvm_verdict(probed, std::nullopt, "6.1.0", "").state,
              KvmState::ProbeOkBootUnverified);
    KvmFacts failed{KvmState::ProbeFailed, 0, "KVM_RUN failed"};
    EXPECT_EQ(apply_kvm_verdict(failed, booted, "6.1.0", "QEMU emulator version 7.2.0").state,
              KvmState::ProbeFailed);
}

// This machine's kind: v1 controllers, a controller-less cgroup2 at /sys/fs/cgroup/unified.
constexpr const char* kHybridMountinfo =
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TEST(DetectCgroups, HybridWithOneReadOnlyHierarchy) {
    auto mounts = cgroups::parse_cgroup_mounts(kHybridMountinfo);
    auto own =
        cgroups::parse_proc_cgroup("4:memory:/job/1\n1:cpu:/\n8:pids:/\n9:name=systemd:/\n0::/\n");
    std::vector<std::string> asked;
    auto facts = summarize_cgroups(
        mounts, own, [](const std::string&) { return std::string(""); },
        [&](const std::string& dir) {
            asked.push_back(dir);
            return dir != "/sys/fs/cgroup/pids";
        });
    EXPECT_EQ(facts.layout, CgroupLayout::Hybrid);
    EXPECT_EQ(facts.v2_path, "/sys/fs/cgroup/unified");
    EXPECT_EQ(facts.v1_controllers, (std::vector<std::string>{"cpu", "memory", "pids"}));
    EXPECT_TRUE(facts.v2_controllers.empty());
    EXPECT_EQ(facts.usable_controllers, (std::vector<std::string>{"cpu", "memory"}));
    EXPECT_NE(std::find(asked.begin(), asked.end(), "/sys/fs/cgroup/memory/job/1"), asked.end());
    EXPECT_NE(facts.detail.find("hybrid"), std::string::npos);
    EXPECT_NE(facts.detail.find("controllers: none"), std::string::npos);
}

TEST(DetectCgroups, V2ControllersNeedADelegatedSubtree) {
    auto mounts =
        cgroups::parse_cgroup_mounts("25 22 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    auto own = cgroups::parse_proc_cgroup("0::/user.slice/user-1000.slice/session-1.scope\n");
    auto read = [](const std::string& path) {
        return path == "/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/"
                       "cgroup.controllers"
                   ? std::string("cpu memory pids\n")
                   : std::string("");
    };
    auto none = summarize_cgroups(mounts, own, read, [](const std::string&) { return false; });
    EXPECT_EQ(none.layout, CgroupLayout::V2);
    EXPECT_EQ(none.v2_controllers, (std::vector<std::string>{"cpu", "memory", "pids"}));
    EXPECT_TRUE(none.usable_controllers.empty());
    auto all = summarize_cgroups(mounts, own, read, [](const std::string&) { return true; });
    EXPECT_EQ(all.usable_controllers, (std::vector<std::string>{"cpu", "memory", "pids"}));
}

}  // namespace
}  // namespace lxbox::detect
