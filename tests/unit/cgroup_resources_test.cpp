// Pure: an OCI bundle's linux.resources as cgroup v1 and v2 writes, and where a cgroup with an
// OCI cgroupsPath goes in each hierarchy. No root, no kernel.
#include <gtest/gtest.h>

#include <algorithm>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/resources.hpp"

namespace lxbox::cgroups {
namespace {

const Write* find_write(const std::vector<Write>& w, const std::string& file) {
    auto it = std::find_if(w.begin(), w.end(), [&](const Write& x) { return x.file == file; });
    return it == w.end() ? nullptr : &*it;
}

std::string value_of(const std::vector<Write>& w, const std::string& file) {
    const Write* x = find_write(w, file);
    return x ? x->value : "<absent>";
}

// The validation suite's memory case: every memory field set.
Resources memory_case() {
    Resources r;
    r.memory.limit = 50593792;
    r.memory.reservation = 50593792;
    r.memory.swap = 50593792;
    r.memory.kernel = 50593792;
    r.memory.kernel_tcp = 50593792;
    r.memory.swappiness = 10;
    r.memory.disable_oom_killer = true;
    return r;
}

TEST(CgroupResources, MemoryOnV1WritesEachFileAndLimitBeforeMemsw) {
    auto w = plan_resources_v1(memory_case());
    EXPECT_EQ(value_of(w, "memory.limit_in_bytes"), "50593792");
    EXPECT_EQ(value_of(w, "memory.memsw.limit_in_bytes"), "50593792");
    EXPECT_TRUE(find_write(w, "memory.memsw.limit_in_bytes")->if_present);  // no swap accounting
    EXPECT_EQ(value_of(w, "memory.soft_limit_in_bytes"), "50593792");
    EXPECT_EQ(value_of(w, "memory.kmem.tcp.limit_in_bytes"), "50593792");
    EXPECT_EQ(value_of(w, "memory.swappiness"), "10");
    EXPECT_EQ(value_of(w, "memory.oom_control"), "1");
    // Kernel memory is ignored by Linux since 5.16 (and by runc): not written at all.
    EXPECT_EQ(find_write(w, "memory.kmem.limit_in_bytes"), nullptr);
    auto pos = [&](const std::string& f) { return find_write(w, f) - w.data(); };
    EXPECT_LT(pos("memory.limit_in_bytes"), pos("memory.memsw.limit_in_bytes"));
    for (const auto& x : w) EXPECT_EQ(x.controller, "memory");
}

TEST(CgroupResources, MemoryOnV2ConvertsSwapAndRefusesWhatV2Lacks) {
    Resources r;
    r.memory.limit = 100 << 20;
    r.memory.swap = 150 << 20;
    r.memory.reservation = 10 << 20;
    auto w = plan_resources_v2(r);
    EXPECT_EQ(value_of(w, "memory.max"), std::to_string(100 << 20));
    EXPECT_EQ(value_of(w, "memory.swap.max"), std::to_string(50 << 20));  // memory+swap - memory
    EXPECT_EQ(value_of(w, "memory.low"), std::to_string(10 << 20));
    for (const auto& x : w) EXPECT_TRUE(x.refused.empty()) << x.refused;

    r.memory.limit = -1;
    r.memory.swap = -1;
    w = plan_resources_v2(r);
    EXPECT_EQ(value_of(w, "memory.max"), "max");
    EXPECT_EQ(value_of(w, "memory.swap.max"), "max");

    w = plan_resources_v2(memory_case());
    std::vector<std::string> refusals;
    for (const auto& x : w)
        if (!x.refused.empty()) refusals.push_back(x.refused);
    ASSERT_EQ(refusals.size(), 2u);
    EXPECT_NE(refusals[0].find("linux.resources.memory.swappiness"), std::string::npos);
    EXPECT_NE(refusals[1].find("linux.resources.memory.disableOOMKiller"), std::string::npos);
}

TEST(CgroupResources, UnlimitedValuesAreSpelledPerVersion) {
    Resources r;
    r.memory.limit = -1;
    r.pids_limit = -1;
    r.cpu.quota = -1;
    r.cpu.period = 100000;
    auto v1 = plan_resources_v1(r), v2 = plan_resources_v2(r);
    EXPECT_EQ(value_of(v1, "memory.limit_in_bytes"), "-1");
    EXPECT_EQ(value_of(v1, "pids.max"), "max");
    EXPECT_EQ(value_of(v1, "cpu.cfs_quota_us"), "-1");
    EXPECT_EQ(value_of(v2, "pids.max"), "max");
    EXPECT_EQ(value_of(v2, "cpu.max"), "max 100000");
    // 0 means "not set" (runc's reading), not "nothing allowed".
    r = Resources{};
    r.memory.limit = 0;
    EXPECT_TRUE(plan_resources_v1(r).empty());
    EXPECT_TRUE(plan_resources_v2(r).empty());
}

TEST(CgroupResources, CpuOnBothVersions) {
    Resources r;
    r.cpu.shares = 1024;
    r.cpu.quota = 50000;
    r.cpu.period = 100000;
    r.cpu.realtime_period = 1000000;
    r.cpu.realtime_runtime = 950000;
    r.cpu.cpus = "0-1";
    r.cpu.mems = "0";
    auto v1 = plan_resources_v1(r);
    EXPECT_EQ(value_of(v1, "cpu.shares"), "1024");
    EXPECT_EQ(value_of(v1, "cpu.cfs_quota_us"), "50000");
    EXPECT_LT(find_write(v1, "cpu.cfs_period_us"), find_write(v1, "cpu.cfs_quota_us"));
    EXPECT_LT(find_write(v1, "cpu.rt_period_us"), find_write(v1, "cpu.rt_runtime_us"));
    EXPECT_EQ(find_write(v1, "cpuset.cpus")->controller, "cpuset");
    EXPECT_EQ(value_of(v1, "cpuset.mems"), "0");

    auto v2 = plan_resources_v2(r);
    EXPECT_EQ(value_of(v2, "cpu.weight"), "39");  // runc's and crun's conversion of 1024
    EXPECT_EQ(value_of(v2, "cpu.max"), "50000 100000");
    EXPECT_EQ(value_of(v2, "cpuset.cpus"), "0-1");
    auto rt = std::find_if(v2.begin(), v2.end(), [](const Write& w) { return !w.refused.empty(); });
    ASSERT_NE(rt, v2.end());
    EXPECT_NE(rt->refused.find("realtime"), std::string::npos);

    r = Resources{};
    r.cpu.quota = 20000;  // no period: the kernel's default
    EXPECT_EQ(value_of(plan_resources_v2(r), "cpu.max"), "20000 100000");
}

TEST(CgroupResources, WeightConversionsMatchRunc) {
    EXPECT_EQ(cpu_shares_to_weight(2), 1u);
    EXPECT_EQ(cpu_shares_to_weight(262144), 10000u);
    EXPECT_EQ(cpu_shares_to_weight(0), 0u);
    EXPECT_EQ(blkio_weight_to_io_weight(10), 1u);
    EXPECT_EQ(blkio_weight_to_io_weight(1000), 10000u);
    EXPECT_EQ(blkio_weight_to_io_weight(500), 4950u);
}

TEST(CgroupResources, BlockIoIsBlkioOnV1AndIoOnV2) {
    Resources r;
    r.block_io.weight = 500;
    r.block_io.leaf_weight = 300;
    r.block_io.weight_device.push_back({8, 0, 600, 200});
    r.block_io.read_bps.push_back({8, 0, 1048576});
    r.block_io.write_iops.push_back({8, 16, 100});
    auto v1 = plan_resources_v1(r);
    EXPECT_EQ(value_of(v1, "blkio.weight"), "500");
    EXPECT_EQ(value_of(v1, "blkio.leaf_weight"), "300");
    EXPECT_EQ(value_of(v1, "blkio.weight_device"), "8:0 600");
    EXPECT_EQ(value_of(v1, "blkio.leaf_weight_device"), "8:0 200");
    EXPECT_EQ(value_of(v1, "blkio.throttle.read_bps_device"), "8:0 1048576");
    EXPECT_EQ(value_of(v1, "blkio.throttle.write_iops_device"), "8:16 100");
    for (const auto& w : v1) EXPECT_EQ(w.controller, "blkio");

    auto v2 = plan_resources_v2(r);
    std::vector<std::string> io_max, io_weight;
    for (const auto& w : v2) {
        EXPECT_EQ(w.controller, "io");
        if (w.file == "io.max") io_max.push_back(w.value);
        if (w.file == "io.weight") io_weight.push_back(w.value);
    }
    EXPECT_EQ(io_weight, (std::vector<std::string>{"default 4950", "8:0 5960"}));
    EXPECT_EQ(io_max, (std::vector<std::string>{"8:0 rbps=1048576", "8:16 wiops=100"}));
}

TEST(CgroupResources, HugetlbNetworkAndUnified) {
    Resources r;
    r.hugepage_limits["2MB"] = 4194304;
    r.network.class_id = 0x100001;
    r.network.priorities["lo"] = 2;
    r.unified["memory.high"] = "1G";
    auto v1 = plan_resources_v1(r);
    EXPECT_EQ(value_of(v1, "hugetlb.2MB.limit_in_bytes"), "4194304");
    EXPECT_EQ(value_of(v1, "net_cls.classid"), std::to_string(0x100001));
    EXPECT_EQ(value_of(v1, "net_prio.ifpriomap"), "lo 2");
    auto unified = std::find_if(v1.begin(), v1.end(), [](const Write& w) { return !w.refused.empty(); });
    ASSERT_NE(unified, v1.end());
    EXPECT_EQ(unified->controller, "memory");
    EXPECT_NE(unified->refused.find("linux.resources.unified.memory.high"), std::string::npos);

    auto v2 = plan_resources_v2(r);
    EXPECT_EQ(value_of(v2, "hugetlb.2MB.max"), "4194304");
    EXPECT_EQ(value_of(v2, "memory.high"), "1G");
    auto net = std::find_if(v2.begin(), v2.end(), [](const Write& w) { return !w.refused.empty(); });
    ASSERT_NE(net, v2.end());
    EXPECT_NE(net->refused.find("linux.resources.network"), std::string::npos);
}

// ---- Placement at an OCI cgroupsPath ----

constexpr std::string_view kHybrid =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr std::string_view kHybridProc =
    "9:name=systemd:/\n8:pids:/\n5:devices:/\n4:memory:/engine/conmon\n1:cpu,cpuacct:/\n0::/\n";

constexpr std::string_view kPureV2 =
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n";

TEST(CgroupPlace, AbsolutePathIsBelowEachHierarchysRootInEveryHierarchy) {
    Resources r;
    r.memory.limit = 1 << 26;
    auto plan = plan_hierarchies(parse_cgroup_mounts(kHybrid), parse_proc_cgroup(kHybridProc),
                                 plan_resources_v1(r), plan_resources_v2(r), {"/libpod_parent/libpod-abc"});
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    std::vector<std::string> targets;
    for (const auto& h : *plan) targets.push_back(h.target("ignored"));
    std::sort(targets.begin(), targets.end());
    EXPECT_EQ(targets, (std::vector<std::string>{
                           "/sys/fs/cgroup/cpu,cpuacct/libpod_parent/libpod-abc",
                           "/sys/fs/cgroup/devices/libpod_parent/libpod-abc",
                           "/sys/fs/cgroup/memory/libpod_parent/libpod-abc",
                           "/sys/fs/cgroup/pids/libpod_parent/libpod-abc",
                           "/sys/fs/cgroup/systemd/libpod_parent/libpod-abc",
                           "/sys/fs/cgroup/unified/libpod_parent/libpod-abc"}));
    EXPECT_EQ((*plan)[0].label, "memory");
    EXPECT_EQ(value_of((*plan)[0].writes, "memory.limit_in_bytes"), std::to_string(1 << 26));
}

TEST(CgroupPlace, RelativePathIsBelowThisProcesssOwnCgroup) {
    auto plan = plan_hierarchies(parse_cgroup_mounts(kHybrid), parse_proc_cgroup(kHybridProc), {}, {},
                                 {"testdir/cgrouptest/container"});
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    auto memory = std::find_if(plan->begin(), plan->end(), [](const Hierarchy& h) { return h.label == "memory"; });
    ASSERT_NE(memory, plan->end());
    EXPECT_EQ(memory->base, "/sys/fs/cgroup/memory/engine/conmon");
    EXPECT_EQ(memory->target("x"), "/sys/fs/cgroup/memory/engine/conmon/testdir/cgrouptest/container");
}

TEST(CgroupPlace, DefaultPlaceIsTheLxboxGroup) {
    auto plan = plan_hierarchies(parse_cgroup_mounts(kPureV2), parse_proc_cgroup("0::/user.slice\n"), {}, {});
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->size(), 1u);
    EXPECT_EQ((*plan)[0].target("c1"), "/sys/fs/cgroup/user.slice/lxbox/c1");
}

TEST(CgroupPlace, RefusedWritesAreRefusedOnlyWhereTheirVersionIsUsed) {
    Resources r;
    r.memory.swappiness = 10;  // v1 only
    const auto v1 = plan_resources_v1(r), v2 = plan_resources_v2(r);
    // Hybrid: memory is v1 here, so swappiness is fine.
    EXPECT_TRUE(plan_hierarchies(parse_cgroup_mounts(kHybrid), parse_proc_cgroup(kHybridProc), v1, v2, {"/a"}).ok());
    auto v2_host = plan_hierarchies(parse_cgroup_mounts(kPureV2), parse_proc_cgroup("0::/\n"), v1, v2, {"/a"});
    ASSERT_FALSE(v2_host.ok());
    EXPECT_EQ(v2_host.error().kind, ErrorKind::Invalid);
    EXPECT_NE(v2_host.error().message.find("linux.resources.memory.swappiness"), std::string::npos);
}

TEST(CgroupPlace, PureV2EnablesTheControllersWritten) {
    Resources r;
    r.pids_limit = 10;
    r.block_io.read_bps.push_back({8, 0, 100});
    auto plan = plan_hierarchies(parse_cgroup_mounts(kPureV2), parse_proc_cgroup("0::/\n"), plan_resources_v1(r),
                                 plan_resources_v2(r), {"/machine/c"});
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_EQ(plan->size(), 1u);
    EXPECT_EQ((*plan)[0].enable, (std::vector<std::string>{"pids", "io"}));
    EXPECT_EQ((*plan)[0].base, "/sys/fs/cgroup");
    EXPECT_EQ((*plan)[0].path, "machine/c");
}

TEST(CgroupPlace, BadPathsAreRefused) {
    for (const char* bad : {"/", "/a/../b", "a//b", "./a", "/a/."}) {
        auto st = validate_cgroups_path(bad);
        EXPECT_FALSE(st.ok()) << bad;
    }
    for (const char* good : {"/a", "a/b/c", "/libpod_parent/libpod-1", "/a/b/"}) EXPECT_TRUE(validate_cgroups_path(good).ok()) << good;
}

}  // namespace
}  // namespace lxbox::cgroups

namespace lxbox::cgroups {
namespace {

// ---- The device cgroup ----

// Runs a compiled device program on one request, as the kernel would: the subset of eBPF the
// compiler emits (32-bit loads from the context, 32-bit and/rsh, 64-bit moves, jne, exit).
// Returns the program's verdict, or -1 for an instruction outside that subset.
int run_program(const std::vector<bpf_insn>& p, char type, const std::string& access, uint32_t major, uint32_t minor) {
    uint32_t acc = 0;
    for (char c : access) acc |= c == 'm' ? BPF_DEVCG_ACC_MKNOD : c == 'r' ? BPF_DEVCG_ACC_READ : BPF_DEVCG_ACC_WRITE;
    const uint32_t ctx[3] = {acc << 16 | (type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR), major, minor};
    uint64_t r[11] = {};
    for (size_t pc = 0; pc < p.size(); ++pc) {
        const bpf_insn& i = p[pc];
        switch (i.code) {
            case BPF_LDX | BPF_MEM | BPF_W:
                if (i.src_reg != BPF_REG_1 || i.off % 4 || i.off / 4 > 2) return -1;
                r[i.dst_reg] = ctx[i.off / 4];
                break;
            case BPF_ALU | BPF_AND | BPF_K:
                r[i.dst_reg] = static_cast<uint32_t>(r[i.dst_reg]) & static_cast<uint32_t>(i.imm);
                break;
            case BPF_ALU | BPF_RSH | BPF_K:
                r[i.dst_reg] = static_cast<uint32_t>(r[i.dst_reg]) >> i.imm;
                break;
            case BPF_ALU64 | BPF_MOV | BPF_X:
                r[i.dst_reg] = r[i.src_reg];
                break;
            case BPF_ALU64 | BPF_MOV | BPF_K:
                r[i.dst_reg] = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
                break;
            case BPF_JMP | BPF_JNE | BPF_K:
                if (r[i.dst_reg] != static_cast<uint64_t>(static_cast<int64_t>(i.imm))) pc += i.off;
                break;
            case BPF_JMP | BPF_EXIT:
                return static_cast<int>(r[0]);
            default:
                return -1;
        }
    }
    return -1;  // fell off the end: the verifier would refuse it
}

TEST(DeviceRules, DefaultProgramAllowsTheSafeSetAndMknodOnly) {
    const auto p = compile_device_program(default_device_rules());
    EXPECT_EQ(run_program(p, 'c', "rw", 1, 3), 1);     // /dev/null
    EXPECT_EQ(run_program(p, 'c', "rw", 1, 9), 1);     // /dev/urandom
    EXPECT_EQ(run_program(p, 'c', "rw", 136, 4), 1);   // /dev/pts/4
    EXPECT_EQ(run_program(p, 'c', "rw", 5, 2), 1);     // /dev/ptmx
    EXPECT_EQ(run_program(p, 'c', "rw", 10, 200), 1);  // /dev/net/tun
    EXPECT_EQ(run_program(p, 'b', "m", 8, 0), 1);      // mknod of a disk's node...
    EXPECT_EQ(run_program(p, 'b', "r", 8, 0), 0);      // ...but never opening it
    EXPECT_EQ(run_program(p, 'b', "rw", 254, 0), 0);
    EXPECT_EQ(run_program(p, 'c', "r", 10, 237), 0);   // /dev/loop-control
    EXPECT_EQ(run_program(p, 'c', "rw", 1, 1), 0);     // /dev/mem
    EXPECT_EQ(run_program(p, 'c', "mr", 1, 11), 0);    // mknod+read together exceeds "m"
}

TEST(DeviceRules, TheLastMatchingRuleWinsAndAnAllRuleEndsTheProgram) {
    const std::vector<DeviceRule> rules = {DeviceRule{true}, DeviceRule{false, 'c', 10, -1, "rwm"},
                                           DeviceRule{true, 'c', 10, 200, "rw"}};
    const auto p = compile_device_program(rules);
    EXPECT_EQ(run_program(p, 'c', "rw", 10, 200), 1);  // allowed again by the last rule
    EXPECT_EQ(run_program(p, 'c', "m", 10, 200), 0);   // not with mknod
    EXPECT_EQ(run_program(p, 'c', "r", 10, 237), 0);   // the major's deny
    EXPECT_EQ(run_program(p, 'b', "r", 8, 0), 1);      // the first rule's allow-all
    // Nothing is emitted after the allow-all (it would be unreachable, which the verifier
    // refuses): the program ends with its exit.
    EXPECT_EQ(p.back().code, BPF_JMP | BPF_EXIT);
    EXPECT_EQ(p[p.size() - 2].code, BPF_ALU64 | BPF_MOV | BPF_K);
    EXPECT_EQ(p[p.size() - 2].imm, 1);
    // No rules at all: everything denied.
    EXPECT_EQ(run_program(compile_device_program({}), 'c', "r", 1, 3), 0);
}

TEST(DeviceRules, V1WritesReplayTheListInOrder) {
    const auto w = plan_devices_v1({DeviceRule{}, DeviceRule{true, 'c', 1, 3, "rwm"}, DeviceRule{true, 'c', 136, -1, "rwm"},
                                    DeviceRule{false, 'b', -1, -1, "m"}});
    ASSERT_EQ(w.size(), 4u);
    EXPECT_EQ(w[0].file, "devices.deny");
    EXPECT_EQ(w[0].value, "a");
    EXPECT_EQ(w[1].file, "devices.allow");
    EXPECT_EQ(w[1].value, "c 1:3 rwm");
    EXPECT_EQ(w[2].value, "c 136:* rwm");
    EXPECT_EQ(w[3].file, "devices.deny");
    EXPECT_EQ(w[3].value, "b *:* m");
    for (const auto& x : w) EXPECT_EQ(x.controller, "devices");
}

TEST(DeviceRules, V2CarriesTheRulesToTheProgramLoader) {
    const auto rules = default_device_rules();
    const auto w = plan_devices_v2(rules);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].file, kDeviceProgram);
    auto back = decode_device_rules(w[0].value);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, rules);
    EXPECT_FALSE(decode_device_rules("allow c 1:x rwm\n").ok());
    EXPECT_TRUE(plan_devices_v2({}).empty());
}

TEST(DeviceRules, DevicesGoToTheV1ControllerOrToTheV2TreeWithoutEnablingAController) {
    Limits l;
    l.devices = default_device_rules();
    auto hybrid = plan_hierarchies(parse_cgroup_mounts(kHybrid), parse_proc_cgroup(kHybridProc), l);
    ASSERT_TRUE(hybrid.ok()) << hybrid.error().message;
    EXPECT_EQ((*hybrid)[0].label, "devices");
    EXPECT_EQ((*hybrid)[0].writes.size(), l.devices.size());
    auto v2 = plan_hierarchies(parse_cgroup_mounts(kPureV2), parse_proc_cgroup("0::/\n"), l);
    ASSERT_TRUE(v2.ok()) << v2.error().message;
    ASSERT_EQ(v2->size(), 1u);
    EXPECT_TRUE((*v2)[0].enable.empty());  // v2 has no devices controller to enable
    ASSERT_EQ((*v2)[0].writes.size(), 1u);
    EXPECT_EQ((*v2)[0].writes[0].file, kDeviceProgram);
}

}  // namespace
}  // namespace lxbox::cgroups
