// The host facts cache holds exactly while its key does (host/detect/facts_cache.hpp).
#include <gtest/gtest.h>

#include "host/detect/facts_cache.hpp"

namespace lxbox::detect {
namespace {

FactsKey key() {
    FactsKey k;
    k.kernel_release = "6.1.0-18-amd64";
    k.boot_id = "0b5e1c3c-2f6a-4c8e-9d1e-2a9f6f1b7c11";
    k.uid = 0;
    k.seccomp_mode = 0;
    k.qemu = {{"qemu-system-x86_64", {"/usr/bin/qemu-system-x86_64", 1000, 1700000000000000000LL}},
              {"qemu-system-aarch64", {}}};
    return k;
}

HostFacts facts() {
    HostFacts f;
    f.os = HostOs::Linux;
    f.arch = "x86_64";
    f.kernel_release = "6.1.0-18-amd64";
    f.namespaces["user"] = {true, "works"};
    f.kvm.state = KvmState::BootVerified;
    f.guest_arches = {"x86_64"};
    return f;
}

TEST(FactsCache, HoldsForTheSameKey) {
    auto got = cached_facts(cache_text(key(), facts()), key());
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, facts());
}

TEST(FactsCache, AKernelBootUserSeccompKvmVerdictOrQemuChangeInvalidatesIt) {
    const std::string text = cache_text(key(), facts());
    std::vector<FactsKey> changed(7, key());
    changed[0].kernel_release = "6.1.0-19-amd64";
    changed[1].boot_id = "another boot";
    changed[2].uid = 1000;
    changed[3].seccomp_mode = 2;
    changed[4].kvm_verdict = {"/r/vm/kvm-verdict.json", 80, 1};
    changed[5].qemu[0].second.mtime_ns += 1;  // QEMU upgraded in place
    changed[6].qemu[1].second = {"/usr/bin/qemu-system-aarch64", 5, 6};  // installed
    for (size_t i = 0; i < changed.size(); ++i) EXPECT_FALSE(cached_facts(text, changed[i])) << i;
}

TEST(FactsCache, WithoutItsVmPartOnlyTheHostPartIsCompared) {
    const std::string text = cache_text(key(), facts());
    FactsKey host_only = key();
    host_only.with_vm = false;
    host_only.kvm_verdict = {};
    host_only.qemu.clear();  // not taken: a native decision does not depend on them
    EXPECT_TRUE(cached_facts(text, host_only));
    host_only.boot_id = "another boot";
    EXPECT_FALSE(cached_facts(text, host_only));
}

TEST(FactsCache, ATornOrForeignFileIsAMiss) {
    const std::string text = cache_text(key(), facts());
    EXPECT_FALSE(cached_facts(text.substr(0, text.size() / 2), key()));
    EXPECT_FALSE(cached_facts("{\"version\": 99}", key()));
    EXPECT_FALSE(cached_facts("[]", key()));
}

}  // namespace
}  // namespace lxbox::detect
