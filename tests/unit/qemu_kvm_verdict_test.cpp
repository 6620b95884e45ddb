// The remembered KVM verdict: valid only for the kernel and QEMU it was taken with.
#include <gtest/gtest.h>

#include <fstream>

#include "host/vm/host_facts.hpp"
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

}  // namespace
}  // namespace lxbox::vm
