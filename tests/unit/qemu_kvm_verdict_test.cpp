// The remembered KVM verdict: valid only for the kernel and QEMU it was taken with.
#include <gtest/gtest.h>

#include <fstream>

#include "host/vm/host_facts.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::vm {
namespace {

TEST(QemuKvmVerdict, AppliesOnlyToTheSameKernelAndQemu) {
    KvmVerdict v{"6.1.0-56-amd64", "QEMU emulator version 7.2.22", true};
    EXPECT_TRUE(kvm_verdict_applies(v, "6.1.0-56-amd64", "QEMU emulator version 7.2.22"));
    EXPECT_FALSE(kvm_verdict_applies(v, "6.1.0-56-amd64", "QEMU emulator version 8.0.0"));
    EXPECT_FALSE(kvm_verdict_applies(v, "6.1.0-57-amd64", "QEMU emulator version 7.2.22"));
}

TEST(QemuKvmVerdict, SavesAndLoadsAndIgnoresGarbage) {
    test::ScratchDir dir;
    std::string path = dir / "kvm-verdict.json";
    EXPECT_FALSE(load_kvm_verdict(path).has_value());
    ASSERT_TRUE(save_kvm_verdict(path, {"6.18", "QEMU 7.2", true}).ok());
    auto v = load_kvm_verdict(path);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->kernel_release, "6.18");
    EXPECT_EQ(v->qemu_version, "QEMU 7.2");
    EXPECT_TRUE(v->hangs);
    std::ofstream(path) << "{not json";
    EXPECT_FALSE(load_kvm_verdict(path).has_value());
}

TEST(QemuKvmVerdict, TscRateIsPlausibleOnX86) {
#if defined(__x86_64__)
    uint64_t khz = measure_tsc_khz();
    EXPECT_GT(khz, 500000u);
    EXPECT_LT(khz, 10000000u);
#else
    LXBOX_SKIP("the TSC is x86 only");
#endif
}

TEST(QemuKvmVerdict, ATscRateIsRememberedForTheHostBootThatMeasuredIt) {
    const std::string boot = "6f1c2a52-7d1e-4d0f-9d3a-0b7f1f1c9e01";
    EXPECT_EQ(remembered_tsc_khz(R"({"boot_id":")" + boot + R"(","tsc_khz":2096000})", boot), 2096000u);
    EXPECT_FALSE(remembered_tsc_khz(R"({"boot_id":"another","tsc_khz":2096000})", boot)) << "after a reboot";
    EXPECT_FALSE(remembered_tsc_khz(R"({"boot_id":")" + boot + R"(","tsc_khz":0})", boot));
    EXPECT_FALSE(remembered_tsc_khz(R"({"boot_id":")" + boot + R"(","tsc_khz":"fast"})", boot));
    EXPECT_FALSE(remembered_tsc_khz(R"({"boot_id":")" + boot + R"(")", boot)) << "torn";
    EXPECT_FALSE(remembered_tsc_khz(R"({"boot_id":"","tsc_khz":2096000})", "")) << "no boot id: never trusted";
}

TEST(QemuKvmVerdict, TheFallbackNoticeSaysAHangFromAFailure) {
    using std::chrono::milliseconds;
    EXPECT_EQ(kvm_fallback_notice(milliseconds(6000), milliseconds(6000), ""),
              "KVM did not boot the VM within 6000 ms (nested KVM?): using TCG on this host until its "
              "kernel or QEMU changes");
    EXPECT_EQ(kvm_fallback_notice(milliseconds(40), milliseconds(6000),
                                  " (QEMU: Could not access KVM kernel module: Permission denied)"),
              "KVM could not boot the VM (QEMU: Could not access KVM kernel module: Permission denied): "
              "using TCG on this host until its kernel or QEMU changes");
}

TEST(QemuKvmVerdict, TheTscRateIsMeasuredOncePerHostBoot) {
#if defined(__x86_64__)
    test::ScratchDir dir;
    const std::string path = dir / "tsc.json";
    const uint64_t khz = tsc_khz_of_this_boot(path);
    ASSERT_GT(khz, 500000u);
    // What it wrote is what the next call returns, without measuring: a planted rate proves it.
    auto boot = read_file("/proc/sys/kernel/random/boot_id");
    ASSERT_TRUE(boot.ok());
    std::ofstream(path) << R"({"boot_id":")" << boot->substr(0, boot->find('\n')) << R"(","tsc_khz":1234000})";
    EXPECT_EQ(tsc_khz_of_this_boot(path), 1234000u);
    std::ofstream(path) << R"({"boot_id":"another boot","tsc_khz":1234000})";
    EXPECT_GT(tsc_khz_of_this_boot(path), 500000u) << "another boot's rate is measured again";
    auto kept = read_file(path);
    ASSERT_TRUE(kept.ok());
    EXPECT_TRUE(remembered_tsc_khz(*kept, boot->substr(0, boot->find('\n')))) << *kept;
#else
    LXBOX_SKIP("the TSC is x86 only");
#endif
}

}  // namespace
}  // namespace lxbox::vm
