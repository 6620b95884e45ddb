// Pure cgroup decisions: the mount layout, where a container's cgroup goes, the limit writes,
// and --memory / --cpus parsing. Plain data in, plain data out; no root, no kernel.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::cgroups {
namespace {

// Debian 12 / Fedora / Ubuntu 22.04+: one cgroup2 tree, systemd's nsdelegate.
constexpr std::string_view kPureV2 =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// Debian 10 / CentOS 7: v1 only, cpu and cpuacct co-mounted, systemd's named hierarchy.
constexpr std::string_view kPureV1 =
    "25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,memory\n"
    "31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
    "rw,pids\n"
    "32 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - "
    "cgroup cgroup "
    "rw,net_cls,net_prio\n";

// This build machine, copied from its /proc/self/mountinfo: v1 controllers each on its own
// mount, a controller-less cgroup2 at /sys/fs/cgroup/unified (systemd's hybrid layout).
constexpr std::string_view kHybrid =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// This machine's /proc/self/cgroup: only the memory hierarchy places us below the root.
constexpr std::string_view kHybridProc =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/0fd62bc7671738b14704b87c088ede49\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/"
    "\n";

Limits all_limits() {
    return Limits{32ull << 20, 0.5, 64};
}

TEST(CgroupLayout, PureV2) {
    auto m = parse_cgroup_mounts(kPureV2);
    EXPECT_EQ(m.layout, Layout::V2);
    EXPECT_EQ(m.v2_path, "/sys/fs/cgroup");
    EXPECT_TRUE(m.v1_controllers.empty());
    EXPECT_EQ(m.roots.at("/sys/fs/cgroup"), "/");
}

TEST(CgroupLayout, PureV1WithCoMountedControllers) {
    auto m = parse_cgroup_mounts(kPureV1);
    EXPECT_EQ(m.layout, Layout::V1);
    EXPECT_EQ(m.v2_path, "");
    EXPECT_EQ(m.v1_controllers.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(m.v1_controllers.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(m.v1_controllers.at("memory"), "/sys/fs/cgroup/memory");
    EXPECT_EQ(m.v1_controllers.at("name=systemd"), "/sys/fs/cgroup/systemd");
    EXPECT_EQ(m.v1_controllers.at("net_prio"), "/sys/fs/cgroup/net_cls,net_prio");
    // Mount options are not controllers.
    EXPECT_EQ(m.v1_controllers.count("xattr"), 0u);
    EXPECT_EQ(m.v1_controllers.count("rw"), 0u);
    EXPECT_EQ(m.v1_controllers.count("release_agent=/lib/systemd/systemd-cgroups-agent"), 0u);
}

TEST(CgroupLayout, HybridLikeThisMachine) {
    auto m = parse_cgroup_mounts(kHybrid);
    EXPECT_EQ(m.layout, Layout::Hybrid);
    EXPECT_EQ(m.v2_path, "/sys/fs/cgroup/unified");
    EXPECT_EQ(m.v1_controllers.at("memory"), "/sys/fs/cgroup/memory");
    EXPECT_EQ(m.v1_controllers.at("cpu"), "/sys/fs/cgroup/cpu");
    EXPECT_EQ(m.v1_controllers.at("pids"), "/sys/fs/cgroup/pids");
    EXPECT_EQ(m.v1_controllers.size(), 9u);
}

TEST(CgroupLayout, NoneWithoutCgroupMounts) {
    auto m = parse_cgroup_mounts("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
    EXPECT_EQ(m.layout, Layout::None);
    EXPECT_EQ(parse_cgroup_mounts("").layout, Layout::None);
    EXPECT_EQ(parse_cgroup_mounts("garbage\n - \n1 2 3\n").layout, Layout::None);
}

TEST(CgroupLayout, OnlyNamedV1BesideV2IsStillV2) {
    auto m = parse_cgroup_mounts(
        std::string(kPureV2) +
        "50 35 0:40 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n");
    EXPECT_EQ(m.layout, Layout::V2);
}

TEST(CgroupLayout, FirstMountWinsAndEscapesAreDecoded) {
    auto m = parse_cgroup_mounts(std::string(kPureV2) +
                                 "90 22 0:30 / /tmp/my\\040cg rw - cgroup2 cgroup2 rw\n");
    EXPECT_EQ(m.v2_path, "/sys/fs/cgroup");
    auto only = parse_cgroup_mounts("90 22 0:30 / /tmp/my\\040cg rw - cgroup2 cgroup2 rw\n");
    EXPECT_EQ(only.v2_path, "/tmp/my cg");
}

TEST(CgroupLayout, ProcCgroupHybrid) {
    auto own = parse_proc_cgroup(kHybridProc);
    EXPECT_EQ(own.at(""), "/");
    EXPECT_EQ(own.at("memory"), "/process_api/0fd62bc7671738b14704b87c088ede49");
    EXPECT_EQ(own.at("name=systemd"), "/");
    auto co = parse_proc_cgroup("4:cpu,cpuacct:/user.slice\n0::/user.slice/x:y.scope (deleted)\n");
    EXPECT_EQ(co.at("cpu"), "/user.slice");
    EXPECT_EQ(co.at("cpuacct"), "/user.slice");
    EXPECT_EQ(co.at(""), "/user.slice/x:y.scope");  // a ':' in a path stays, "(deleted)" goes
}

TEST(CgroupPlacement, HybridUsesV1ForLimitsAndUnifiedForMembership) {
    auto plan = plan_hierarchies(parse_cgroup_mounts(kHybrid), parse_proc_cgroup(kHybridProc),
                                 all_limits());
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_EQ(plan->size(), 4u);
    EXPECT_EQ((*plan)[0].label, "memory");
    EXPECT_EQ((*plan)[0].parent_dir(),
              "/sys/fs/cgroup/memory/process_api/0fd62bc7671738b14704b87c088ede49/lxbox");
    EXPECT_EQ((*plan)[0].writes.size(), 2u);
    EXPECT_EQ((*plan)[0].writes[0].file, "memory.limit_in_bytes");
    EXPECT_EQ((*plan)[1].label, "cpu");
    EXPECT_EQ((*plan)[1].own_dir, "/sys/fs/cgroup/cpu");
    EXPECT_EQ((*plan)[2].label, "pids");
    EXPECT_EQ((*plan)[3].label, "unified");
    EXPECT_TRUE((*plan)[3].v2);
    EXPECT_TRUE((*plan)[3].enable.empty());  // the unified tree has no controllers here
    EXPECT_TRUE((*plan)[3].writes.empty());
}

TEST(CgroupPlacement, HybridWithoutLimitsTouchesOnlyTheUnifiedTree) {
    auto plan =
        plan_hierarchies(parse_cgroup_mounts(kHybrid), parse_proc_cgroup(kHybridProc), Limits{});
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->size(), 1u);
    EXPECT_EQ((*plan)[0].parent_dir(), "/sys/fs/cgroup/unified/lxbox");
}

TEST(CgroupPlacement, PureV2EnablesControllersInOneHierarchy) {
    auto plan = plan_hierarchies(
        parse_cgroup_mounts(kPureV2),
        parse_proc_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), all_limits());
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_EQ(plan->size(), 1u);
    const Hierarchy& h = (*plan)[0];
    EXPECT_TRUE(h.v2);
    EXPECT_EQ(h.parent_dir(), "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/lxbox");
    EXPECT_EQ(h.enable, (std::vector<std::string>{"memory", "cpu", "pids"}));
    EXPECT_EQ(h.writes.size(), 4u);
}

TEST(CgroupPlacement, PureV1UsesCoMountAndNamedSystemdForMembership) {
    auto mounts = parse_cgroup_mounts(kPureV1);
    auto own = parse_proc_cgroup(
        "12:name=systemd:/user.slice\n5:cpu,cpuacct:/user.slice\n4:memory:/user.slice\n"
        "3:pids:/user.slice\n");
    auto none = plan_hierarchies(mounts, own, Limits{});
    ASSERT_TRUE(none.ok());
    ASSERT_EQ(none->size(), 1u);
    EXPECT_EQ((*none)[0].parent_dir(), "/sys/fs/cgroup/systemd/user.slice/lxbox");
    Limits cpu;
    cpu.cpus = 2;
    auto plan = plan_hierarchies(mounts, own, cpu);
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->size(), 1u);  // limits give membership on pure v1; no extra named tree
    EXPECT_EQ((*plan)[0].parent_dir(), "/sys/fs/cgroup/cpu,cpuacct/user.slice/lxbox");
}

TEST(CgroupPlacement, MissingControllerIsUnsupportedAndNamed) {
    auto mounts = parse_cgroup_mounts(kPureV1);
    mounts.v1_controllers.erase("pids");
    auto own = parse_proc_cgroup("1:name=systemd:/\n5:cpu,cpuacct:/\n4:memory:/\n");
    auto plan = plan_hierarchies(mounts, own, all_limits());
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().kind, ErrorKind::Unsupported);
    EXPECT_NE(plan.error().message.find("pids"), std::string::npos) << plan.error().message;
    auto nothing = plan_hierarchies(CgroupMounts{}, {}, Limits{});
    ASSERT_FALSE(nothing.ok());
    EXPECT_EQ(nothing.error().kind, ErrorKind::Unsupported);
}

TEST(CgroupPlacement, SubtreeBindMountIsResolved) {
    // docker without a cgroup namespace: only the container's own subtree is mounted.
    auto mounts =
        parse_cgroup_mounts("900 800 0:30 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n");
    auto plan = plan_hierarchies(mounts, parse_proc_cgroup("0::/docker/abc/init\n"), Limits{});
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_EQ((*plan)[0].parent_dir(), "/sys/fs/cgroup/init/lxbox");
    auto outside = plan_hierarchies(mounts, parse_proc_cgroup("0::/system.slice\n"), Limits{});
    ASSERT_FALSE(outside.ok());
    EXPECT_EQ(outside.error().kind, ErrorKind::Unsupported);
    auto escaped = plan_hierarchies(parse_cgroup_mounts(kPureV2),
                                    parse_proc_cgroup("0::/../../x\n"), Limits{});
    EXPECT_FALSE(escaped.ok());
}

TEST(CgroupLimits, PlanV2) {
    auto w = plan_limits_v2(all_limits());
    ASSERT_EQ(w.size(), 4u);
    EXPECT_EQ(w[0].file, "memory.max");
    EXPECT_EQ(w[0].value, "33554432");
    EXPECT_EQ(w[1].file, "memory.swap.max");
    EXPECT_EQ(w[1].value, "0");
    EXPECT_TRUE(w[1].if_present);
    EXPECT_EQ(w[2].file, "cpu.max");
    EXPECT_EQ(w[2].value, "50000 100000");
    EXPECT_EQ(w[3].file, "pids.max");
    EXPECT_EQ(w[3].value, "64");
    EXPECT_TRUE(plan_limits_v2(Limits{}).empty());
}

TEST(CgroupLimits, PlanV1) {
    auto w = plan_limits_v1(all_limits());
    ASSERT_EQ(w.size(), 5u);
    EXPECT_EQ(w[0].file, "memory.limit_in_bytes");  // before memsw, which must stay >= it
    EXPECT_EQ(w[1].file, "memory.memsw.limit_in_bytes");
    EXPECT_EQ(w[1].value, "33554432");
    EXPECT_TRUE(w[1].if_present);
    EXPECT_EQ(w[2].file, "cpu.cfs_period_us");
    EXPECT_EQ(w[3].file, "cpu.cfs_quota_us");
    EXPECT_EQ(w[3].value, "50000");
    EXPECT_EQ(w[4].controller, "pids");
    EXPECT_EQ(w[4].value, "64");
}

TEST(CgroupLimits, TinyCpuQuotaRoundsUpToTheKernelMinimum) {
    Limits l;
    l.cpus = 0.001;
    EXPECT_EQ(plan_limits_v2(l)[0].value, "1000 100000");
    l.cpus = 2.5;
    EXPECT_EQ(plan_limits_v1(l)[1].value, "250000");
}

TEST(CgroupLimits, ValidateRejectsNonsense) {
    for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN(), 1e9}) {
        Limits l;
        l.cpus = bad;
        EXPECT_EQ(validate_limits(l).error().kind, ErrorKind::Invalid) << bad;
    }
    EXPECT_FALSE(validate_limits(Limits{0, std::nullopt, std::nullopt}).ok());
    EXPECT_FALSE(validate_limits(Limits{std::nullopt, std::nullopt, 0}).ok());
    EXPECT_TRUE(validate_limits(all_limits()).ok());
    EXPECT_TRUE(validate_limits(Limits{}).ok());
}

TEST(CgroupLimits, ParseMemorySize) {
    EXPECT_EQ(*parse_memory_size("1024"), 1024u);
    EXPECT_EQ(*parse_memory_size("512M"), 512ull << 20);
    EXPECT_EQ(*parse_memory_size("512m"), 512ull << 20);
    EXPECT_EQ(*parse_memory_size("1G"), 1ull << 30);
    EXPECT_EQ(*parse_memory_size("1.5g"), 1610612736u);
    EXPECT_EQ(*parse_memory_size("64k"), 65536u);
    EXPECT_EQ(*parse_memory_size("512MiB"), 512ull << 20);
    EXPECT_EQ(*parse_memory_size("2gb"), 2ull << 30);
    EXPECT_EQ(*parse_memory_size("100b"), 100u);
    EXPECT_EQ(*parse_memory_size("1t"), 1ull << 40);
    EXPECT_EQ(*parse_memory_size("0.5k"), 512u);
}

TEST(CgroupLimits, ParseMemorySizeRejectsBadInput) {
    for (std::string_view bad :
         {"", "M", "-1", "-512M", "1.5", "12x", "1 G", " 1G", "1G ", "0", "0M", "1..5G", "1.G",
          "99999999999999999999", "16777216t", "1e9", "0x10", "1Gi b"}) {
        auto r = parse_memory_size(bad);
        ASSERT_FALSE(r.ok()) << "'" << bad << "' parsed as " << *r;
        EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
        EXPECT_NE(r.error().message.find("invalid memory size"), std::string::npos);
    }
}

TEST(CgroupLimits, ParseCpus) {
    EXPECT_DOUBLE_EQ(*parse_cpus("0.5"), 0.5);
    EXPECT_DOUBLE_EQ(*parse_cpus("2"), 2.0);
    for (std::string_view bad : {"", "0", "-1", "abc", "1.5x", " 1", "inf", "nan"})
        EXPECT_FALSE(parse_cpus(bad).ok()) << bad;
}

TEST(CgroupName, OnlyOneSafePathComponent) {
    EXPECT_TRUE(validate_name("lxbox-debian-1234").ok());
    EXPECT_TRUE(validate_name("c1.scope").ok());
    for (const char* bad : {"", ".", "..", ".hidden", "a/b", "../x", "a b", "a\nb"})
        EXPECT_EQ(validate_name(bad).error().kind, ErrorKind::Invalid) << bad;
}

TEST(CgroupFiles, KeyedValue) {
    constexpr std::string_view oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    EXPECT_EQ(detail::keyed_value(oom, "oom_kill"), 3u);  // not confused with oom_kill_disable
    EXPECT_EQ(detail::keyed_value(oom, "under_oom"), 0u);
    EXPECT_EQ(detail::keyed_value(oom, "missing"), std::nullopt);
    EXPECT_EQ(detail::keyed_value("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n", "oom"), 2u);
}

// The v2 controller hand-down is file reads and writes: played here on a fake tree of plain
// files (cgroupfs itself needs root and a v2 tree with free controllers, which this host lacks).
class FakeV2Tree : public ::testing::Test {
  protected:
    void put(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
    std::string get(const std::string& rel) {
        std::ifstream in(dir_ / rel);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    Hierarchy hierarchy(std::vector<std::string> enable) {
        return Hierarchy{"unified", true, dir_ / "own", std::move(enable), {}};
    }
    void SetUp() override {
        ::mkdir((dir_ / "own").c_str(), 0755);
        ::mkdir((dir_ / "own/lxbox").c_str(), 0755);
        put("own/cgroup.controllers", "cpuset cpu io memory pids\n");
        put("own/cgroup.subtree_control", "");
        put("own/lxbox/cgroup.controllers", "cpu\n");
        put("own/lxbox/cgroup.subtree_control", "cpu\n");
    }
    test::ScratchDir dir_;
};

TEST_F(FakeV2Tree, AlreadyEnabledNeedsOneRead) {
    ASSERT_TRUE(detail::v2_enable_controllers(hierarchy({"cpu"}), false).ok());
    EXPECT_EQ(get("own/cgroup.subtree_control"), "");  // nothing written anywhere
    EXPECT_EQ(get("own/lxbox/cgroup.subtree_control"), "cpu\n");
}

TEST_F(FakeV2Tree, EnablesInOwnCgroupThenInLxbox) {
    auto st = detail::v2_enable_controllers(hierarchy({"memory", "cpu", "pids"}), false);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(get("own/cgroup.subtree_control"), "+memory +pids");  // cpu already reaches lxbox
    EXPECT_EQ(get("own/lxbox/cgroup.subtree_control"), "+memory +pids");
}

TEST_F(FakeV2Tree, ControllerNotDelegatedIsUnsupportedAndNamed) {
    put("own/cgroup.controllers", "cpu pids\n");
    auto st = detail::v2_enable_controllers(hierarchy({"memory", "pids"}), false);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::Unsupported);
    EXPECT_NE(st.error().message.find("controller memory is not available"), std::string::npos)
        << st.error().message;
    EXPECT_EQ(get("own/cgroup.subtree_control"), "");  // refused before any write
}

}  // namespace
}  // namespace lxbox::cgroups
