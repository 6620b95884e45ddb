// An OCI bundle -> namespaces and MountOps: the pure decisions behind `lxbox oci`.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <algorithm>

#include "runtime/linux/mounts.hpp"
#include "runtime/plan/bundle.hpp"

namespace lxbox::runtime {
namespace {

MountEntry mount_entry(std::string destination, std::string type, std::string source,
                       std::vector<std::string> options = {}) {
    return MountEntry{std::move(destination), std::move(type), std::move(source),
                      std::move(options)};
}

// The bundle `runc spec` writes (its rootfs made absolute, as parse_config does).
BundleSpec runc_default() {
    BundleSpec b;
    b.rootfs = "/bundles/c1/rootfs";
    b.rootfs_readonly = true;
    b.mounts = {
        mount_entry("/proc", "proc", "proc"),
        mount_entry("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
        mount_entry("/dev/pts", "devpts", "devpts",
                    {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
        mount_entry("/dev/shm", "tmpfs", "shm",
                    {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
        mount_entry("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
        mount_entry("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
        mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
                    {"nosuid", "noexec", "nodev", "relatime", "ro"}),
    };
    b.namespaces = {{"pid", ""}, {"network", ""}, {"ipc", ""}, {"uts", ""}, {"mount", ""}};
    b.masked_paths = {"/proc/acpi",        "/proc/asound",        "/proc/kcore",
                      "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                      "/proc/timer_stats", "/proc/sched_debug",   "/sys/firmware",
                      "/proc/scsi"};
    b.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
    return b;
}

BundleSpec with_mounts(std::vector<MountEntry> mounts) {
    BundleSpec b;
    b.rootfs = "/bundles/c1/rootfs";
    b.namespaces = {{"mount", ""}};
    b.mounts = std::move(mounts);
    return b;
}

CgroupView v2_view() {
    CgroupView v;
    v.v2_only = true;
    return v;
}

CgroupView v1_view() {
    CgroupView v;
    v.v1 = {{"cpu,cpuacct", "cpu,cpuacct", ""}, {"memory", "memory", ""}, {"systemd", "name=systemd", ""}};
    return v;
}

// The v1 hierarchies of a view as (directory, mount options).
std::vector<std::pair<std::string, std::string>> pairs(const CgroupView& v) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& h : v.v1) out.emplace_back(h.dir, h.options);
    return out;
}

// One line per op, so a wrong sequence shows as a readable diff.
std::string describe(const MountOp& op) {
    switch (op.kind) {
        case MountOpKind::MakeDir:
            return "mkdir " + op.target;
        case MountOpKind::Mount:
            return "mount " + op.fstype + " " + op.target;
        case MountOpKind::MakeDevice:
            return "mknod " + op.target + " " + std::to_string(op.major) + ":" +
                   std::to_string(op.minor);
        case MountOpKind::Symlink:
            return "ln " + op.target + " -> " + op.link;
        case MountOpKind::Mask:
            return "mask " + op.target;
        case MountOpKind::ReadOnly:
            return "ro " + op.target;
        case MountOpKind::HostBind:
            return "bind " + op.source + " " + op.target + (op.recursive ? " rec" : "");
        case MountOpKind::EarlyMount:
            return "early " + op.fstype + " " + op.target;
        case MountOpKind::WriteFile:
            return "write " + op.target + " " + op.data;
        case MountOpKind::Remount:
            return "remount " + op.target + ((op.flags & MS_RDONLY) ? " ro" : "");
    }
    return "?";
}

// The ops other than MakeDir, described.
std::vector<std::string> steps(const std::vector<MountOp>& ops) {
    std::vector<std::string> out;
    for (const auto& op : ops)
        if (op.kind != MountOpKind::MakeDir) out.push_back(describe(op));
    return out;
}

std::vector<std::string> all_steps(const std::vector<MountOp>& ops) {
    std::vector<std::string> out;
    for (const auto& op : ops) out.push_back(describe(op));
    return out;
}

// The first op of `kind` on `target`, or nullptr.
const MountOp* find_op(const std::vector<MountOp>& ops, MountOpKind kind,
                       const std::string& target) {
    auto it = std::find_if(ops.begin(), ops.end(),
                           [&](const MountOp& o) { return o.kind == kind && o.target == target; });
    return it == ops.end() ? nullptr : &*it;
}

size_t index_of(const std::vector<MountOp>& ops, MountOpKind kind, const std::string& target) {
    auto it = std::find_if(ops.begin(), ops.end(),
                           [&](const MountOp& o) { return o.kind == kind && o.target == target; });
    return static_cast<size_t>(it - ops.begin());
}

// A MakeDir of `dir` comes before position `before`.
bool made_before(const std::vector<MountOp>& ops, const std::string& dir, size_t before) {
    for (size_t i = 0; i < before && i < ops.size(); ++i)
        if (ops[i].kind == MountOpKind::MakeDir && ops[i].target == dir) return true;
    return false;
}

void expect_error(const Error& e, ErrorKind kind, const std::string& field) {
    EXPECT_EQ(e.kind, kind) << e.message;
    EXPECT_TRUE(e.message.starts_with(field + ": "))
        << "expected '" << field << ": ...', got '" << e.message << "'";
}

// ---- mount_attrs_of: a bind's options as mount_setattr takes them ----

TEST(BundlePlanMountAttrs, AnAtimeModeClearsTheAtimeFieldSoTheKernelTakesIt) {
    using linux_fx::mount_attrs_of;
    using linux_fx::MountAttrChange;
    EXPECT_EQ(mount_attrs_of(0), MountAttrChange{});
    EXPECT_EQ(mount_attrs_of(parse_mount_options({"rbind", "rprivate", "ro", "nosuid"}).flags),
              (MountAttrChange{MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0}));
    // ["rbind","rprivate","noatime"] was refused by the kernel (EINVAL) without the clear.
    EXPECT_EQ(mount_attrs_of(parse_mount_options({"rbind", "rprivate", "noatime"}).flags),
              (MountAttrChange{MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME}));
    EXPECT_EQ(mount_attrs_of(parse_mount_options({"bind", "strictatime", "nodiratime"}).flags),
              (MountAttrChange{MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_NODIRATIME, MOUNT_ATTR__ATIME}));
    EXPECT_EQ(mount_attrs_of(parse_mount_options({"bind", "relatime"}).flags),
              (MountAttrChange{MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}));
}

// ---- parse_mount_options ----

TEST(BundlePlanMountOptions, NoOptionsIsAPlainMount) {
    EXPECT_EQ(parse_mount_options({}), MountOptions{});
}

TEST(BundlePlanMountOptions, ReadOnlyAndReadWriteToggleInOrder) {
    EXPECT_EQ(parse_mount_options({"ro"}).flags, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_EQ(parse_mount_options({"ro", "rw"}).flags, 0ul);
    EXPECT_EQ(parse_mount_options({"rw", "ro"}).flags, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_EQ(parse_mount_options({"ro", "rw"}).data, "");  // neither is filesystem data
}

TEST(BundlePlanMountOptions, NosuidNodevNoexecAndTheirOpposites) {
    EXPECT_EQ(parse_mount_options({"nosuid", "nodev", "noexec"}).flags,
              static_cast<unsigned long>(MS_NOSUID | MS_NODEV | MS_NOEXEC));
    EXPECT_EQ(parse_mount_options({"nosuid", "nodev", "noexec", "suid", "exec"}).flags,
              static_cast<unsigned long>(MS_NODEV));
    EXPECT_EQ(parse_mount_options({"nosuid", "strictatime", "relatime"}).flags,
              static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME | MS_RELATIME));
}

TEST(BundlePlanMountOptions, BindIsNotRecursiveRbindIs) {
    const MountOptions bind = parse_mount_options({"bind"});
    EXPECT_TRUE(bind.bind);
    EXPECT_FALSE(bind.recursive);
    EXPECT_EQ(bind.flags, 0ul);  // MS_BIND is the effects layer's, not a flag here
    EXPECT_EQ(bind.data, "");
    const MountOptions rbind = parse_mount_options({"rbind", "ro"});
    EXPECT_TRUE(rbind.bind);
    EXPECT_TRUE(rbind.recursive);
    EXPECT_EQ(rbind.flags, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_FALSE(parse_mount_options({"ro"}).bind);
}

TEST(BundlePlanMountOptions, BindAfterRbindStaysRecursive) {
    // Options are flags that add up (runc ORs MS_BIND|MS_REC): a later "bind" does not undo
    // the MS_REC an "rbind" asked for.
    const MountOptions o = parse_mount_options({"rbind", "bind"});
    EXPECT_TRUE(o.bind);
    EXPECT_TRUE(o.recursive);
}

TEST(BundlePlanMountOptions, PropagationOptions) {
    EXPECT_EQ(parse_mount_options({"rprivate"}).propagation,
              static_cast<unsigned long>(MS_PRIVATE | MS_REC));
    EXPECT_EQ(parse_mount_options({"private"}).propagation, static_cast<unsigned long>(MS_PRIVATE));
    EXPECT_EQ(parse_mount_options({"rslave"}).propagation,
              static_cast<unsigned long>(MS_SLAVE | MS_REC));
    EXPECT_EQ(parse_mount_options({"slave"}).propagation, static_cast<unsigned long>(MS_SLAVE));
    EXPECT_EQ(parse_mount_options({"shared"}).propagation, static_cast<unsigned long>(MS_SHARED));
    EXPECT_EQ(parse_mount_options({"rshared"}).propagation,
              static_cast<unsigned long>(MS_SHARED | MS_REC));
    EXPECT_EQ(parse_mount_options({"runbindable"}).propagation,
              static_cast<unsigned long>(MS_UNBINDABLE | MS_REC));
    const MountOptions o = parse_mount_options({"rbind", "rprivate", "nosuid"});
    EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID));  // propagation kept out of flags
    EXPECT_EQ(o.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
    EXPECT_EQ(o.data, "");
}

TEST(BundlePlanMountOptions, TmpcopyupIsIgnored) {
    const MountOptions o = parse_mount_options({"tmpcopyup", "nosuid"});
    EXPECT_EQ(o.data, "");
    EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID));
}

TEST(BundlePlanMountOptions, UnknownOptionsBecomeDataInOrder) {
    const MountOptions dev =
        parse_mount_options({"nosuid", "strictatime", "mode=755", "size=65536k"});
    EXPECT_EQ(dev.flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
    EXPECT_EQ(dev.data, "mode=755,size=65536k");
    const MountOptions pts = parse_mount_options(
        {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
    EXPECT_EQ(pts.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    EXPECT_EQ(pts.flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC));
}

// ---- namespace_flag, plan_namespaces ----

TEST(BundlePlanNamespaces, FlagOfEachType) {
    EXPECT_EQ(namespace_flag("pid"), CLONE_NEWPID);
    EXPECT_EQ(namespace_flag("network"), CLONE_NEWNET);
    EXPECT_EQ(namespace_flag("mount"), CLONE_NEWNS);
    EXPECT_EQ(namespace_flag("ipc"), CLONE_NEWIPC);
    EXPECT_EQ(namespace_flag("uts"), CLONE_NEWUTS);
    EXPECT_EQ(namespace_flag("user"), CLONE_NEWUSER);
    EXPECT_EQ(namespace_flag("cgroup"), CLONE_NEWCGROUP);
    EXPECT_EQ(namespace_flag("net"), 0);  // the kernel's short name is not the spec's
    EXPECT_EQ(namespace_flag(""), 0);
    EXPECT_EQ(namespace_flag("PID"), 0);
}

TEST(BundlePlanNamespaces, RuncDefaultCreatesFive) {
    auto plan = plan_namespaces(runc_default());
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_EQ(plan->create, static_cast<uint64_t>(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                                                  CLONE_NEWUTS | CLONE_NEWNS));
    EXPECT_TRUE(plan->join.empty());
    EXPECT_TRUE(plan->has(CLONE_NEWNET));
    EXPECT_FALSE(plan->has(CLONE_NEWUSER));
    EXPECT_FALSE(plan->has(CLONE_NEWCGROUP));
}

TEST(BundlePlanNamespaces, NetworkWithAPathIsJoined) {
    BundleSpec b = runc_default();
    b.namespaces[1].path = "/var/run/netns/blue";
    b.namespaces.push_back({"cgroup", "/proc/42/ns/cgroup"});
    auto plan = plan_namespaces(b);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_EQ(plan->create & static_cast<uint64_t>(CLONE_NEWNET), 0u);
    EXPECT_NE(plan->create & static_cast<uint64_t>(CLONE_NEWPID), 0u);
    ASSERT_EQ(plan->join.size(), 2u);
    EXPECT_EQ(plan->join[0], std::make_pair(int{CLONE_NEWNET}, std::string("/var/run/netns/blue")));
    EXPECT_EQ(plan->join[1],
              std::make_pair(int{CLONE_NEWCGROUP}, std::string("/proc/42/ns/cgroup")));
    EXPECT_TRUE(plan->has(CLONE_NEWNET));
    EXPECT_TRUE(plan->has(CLONE_NEWCGROUP));
}

TEST(BundlePlanNamespaces, UnknownTypeIsRefused) {
    BundleSpec b = runc_default();
    b.namespaces[2].type = "net";
    auto plan = plan_namespaces(b);
    ASSERT_FALSE(plan.ok());
    expect_error(plan.error(), ErrorKind::Invalid, "linux.namespaces[2].type");
    EXPECT_NE(plan.error().message.find("'net'"), std::string::npos) << plan.error().message;
}

TEST(BundlePlanNamespaces, DuplicateTypeIsRefused) {
    BundleSpec b = runc_default();
    b.namespaces.push_back({"pid", ""});
    auto plan = plan_namespaces(b);
    ASSERT_FALSE(plan.ok());
    expect_error(plan.error(), ErrorKind::Invalid, "linux.namespaces[5]");
    EXPECT_NE(plan.error().message.find("pid"), std::string::npos) << plan.error().message;
}

TEST(BundlePlanNamespaces, AUserNamespaceIsJoinedBeforeTheOthersAreMade) {
    BundleSpec b = runc_default();
    b.namespaces = {{"mount", ""}, {"ipc", ""}, {"user", "/proc/1/ns/user"}, {"network", "/var/run/netns/blue"}};
    auto plan = plan_namespaces(b);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    // Not a setns of the child's: the child is cloned inside it (so it owns what is made).
    EXPECT_EQ(plan->join_user, "/proc/1/ns/user");
    EXPECT_FALSE(plan->create & CLONE_NEWUSER);
    ASSERT_EQ(plan->join.size(), 1u);
    EXPECT_EQ(plan->join[0].first, CLONE_NEWNET);
    EXPECT_TRUE(plan->has(CLONE_NEWUSER));
    EXPECT_TRUE(plan->create & CLONE_NEWNS);
    b.namespaces[2].path = "proc/1/ns/user";
    plan = plan_namespaces(b);
    ASSERT_FALSE(plan.ok());
    expect_error(plan.error(), ErrorKind::Invalid, "linux.namespaces[2].path");
}

TEST(BundlePlanNamespaces, TimeIsJoinedByPathOrMade) {
    BundleSpec b = runc_default();
    b.namespaces = {{"mount", ""}, {"time", "/proc/9/ns/time"}};
    auto plan = plan_namespaces(b);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_EQ(plan->join.size(), 1u);
    EXPECT_EQ(plan->join[0].first, CLONE_NEWTIME);
    EXPECT_EQ(plan->join[0].second, "/proc/9/ns/time");
    EXPECT_FALSE(plan->create & CLONE_NEWTIME);
    b.namespaces = {{"mount", ""}, {"time", ""}};
    plan = plan_namespaces(b);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_TRUE(plan->create & CLONE_NEWTIME);
}

TEST(BundlePlanNamespaces, PidIsJoinedAtBirthAndMountFirst) {
    BundleSpec b = runc_default();
    b.namespaces = {{"ipc", "/proc/9/ns/ipc"}, {"pid", "/proc/9/ns/pid_for_children"}, {"mount", "/proc/9/ns/mnt"},
                    {"uts", ""}};
    auto plan = plan_namespaces(b);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_EQ(plan->join_pid, "/proc/9/ns/pid_for_children");
    ASSERT_EQ(plan->join.size(), 2u);
    EXPECT_EQ(plan->join[0], (std::pair<int, std::string>{CLONE_NEWNS, "/proc/9/ns/mnt"}));
    EXPECT_EQ(plan->join[1].first, CLONE_NEWIPC);
    EXPECT_EQ(plan->create, static_cast<uint64_t>(CLONE_NEWUTS));
    EXPECT_TRUE(plan->has(CLONE_NEWPID));
    EXPECT_TRUE(plan->has(CLONE_NEWNS));
    EXPECT_FALSE(plan->has(CLONE_NEWNET));
}

TEST(BundlePlanNamespaces, RelativeJoinPathIsRefused) {
    BundleSpec b = runc_default();
    b.namespaces[1].path = "netns/blue";
    auto plan = plan_namespaces(b);
    ASSERT_FALSE(plan.ok());
    expect_error(plan.error(), ErrorKind::Invalid, "linux.namespaces[1].path");
}

TEST(BundlePlanNamespaces, NoMountNamespaceRunsInTheCallers) {
    BundleSpec b = runc_default();
    b.namespaces.pop_back();  // mount
    auto plan = plan_namespaces(b);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_FALSE(plan->has(CLONE_NEWNS));
    EXPECT_TRUE(plan->has(CLONE_NEWPID));
}

// ---- cgroup_view ----

TEST(BundlePlanCgroupView, V2Only) {
    cgroups::CgroupMounts m;
    m.layout = cgroups::Layout::V2;
    m.v2_path = "/sys/fs/cgroup";
    const CgroupView v = cgroup_view(m);
    EXPECT_TRUE(v.v2_only);
    EXPECT_TRUE(v.v1.empty());
    EXPECT_EQ(v.v2_dir, "");
}

TEST(BundlePlanCgroupView, V1CoMountedControllersShareOneHierarchy) {
    cgroups::CgroupMounts m;
    m.layout = cgroups::Layout::V1;
    m.v1_controllers = {{"cpu", "/sys/fs/cgroup/cpu,cpuacct"},
                        {"cpuacct", "/sys/fs/cgroup/cpu,cpuacct"},
                        {"memory", "/sys/fs/cgroup/memory"},
                        {"net_cls", "/sys/fs/cgroup/net_cls,net_prio"},
                        {"net_prio", "/sys/fs/cgroup/net_cls,net_prio"},
                        {"name=systemd", "/sys/fs/cgroup/systemd"}};
    const CgroupView v = cgroup_view(m);
    EXPECT_FALSE(v.v2_only);
    EXPECT_EQ(v.v2_dir, "");
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"cpu,cpuacct", "cpu,cpuacct"},
        {"memory", "memory"},
        {"net_cls,net_prio", "net_cls,net_prio"},
        {"systemd", "name=systemd"}};
    EXPECT_EQ(pairs(v), expected);
}

TEST(BundlePlanCgroupView, HybridHasAUnifiedDirectory) {
    cgroups::CgroupMounts m;
    m.layout = cgroups::Layout::Hybrid;
    m.v2_path = "/sys/fs/cgroup/unified";
    m.v1_controllers = {{"memory", "/sys/fs/cgroup/memory"},
                        {"name=systemd", "/sys/fs/cgroup/systemd"}};
    const CgroupView v = cgroup_view(m);
    EXPECT_FALSE(v.v2_only);
    EXPECT_EQ(v.v2_dir, "unified");
    const std::vector<std::pair<std::string, std::string>> expected = {{"memory", "memory"},
                                                                       {"systemd", "name=systemd"}};
    EXPECT_EQ(pairs(v), expected);
}

TEST(BundlePlanCgroupView, FromAHybridHostsMountinfo) {
    const char* mountinfo =
        "25 21 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 "
        "cgroup2 rw\n"
        "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup "
        "cgroup "
        "rw,xattr,name=systemd\n"
        "31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - "
        "cgroup cgroup "
        "rw,cpu,cpuacct\n";
    const CgroupView v = cgroup_view(cgroups::parse_cgroup_mounts(mountinfo));
    EXPECT_FALSE(v.v2_only);
    EXPECT_EQ(v.v2_dir, "unified");
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"cpu,cpuacct", "cpu,cpuacct"}, {"systemd", "name=systemd"}};
    EXPECT_EQ(pairs(v), expected);
}

TEST(BundlePlanCgroupView, WithoutACgroupNamespaceTheContainersOwnDirectoriesAreBound) {
    const char* mountinfo =
        "25 21 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw\n"
        "31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory\n";
    const auto own = cgroups::parse_proc_cgroup("4:memory:/pod/c1\n1:cpu,cpuacct:/pod/c1\n0::/pod/c1\n");
    const CgroupView v = cgroup_view(cgroups::parse_cgroup_mounts(mountinfo), &own);
    ASSERT_EQ(v.v1.size(), 2u);
    EXPECT_EQ(v.v1[0].source, "/sys/fs/cgroup/cpu,cpuacct/pod/c1");
    EXPECT_EQ(v.v1[1].source, "/sys/fs/cgroup/memory/pod/c1");
    EXPECT_EQ(v.v2_source, "/sys/fs/cgroup/unified/pod/c1");

    const auto ops = plan_bundle_mounts(
        with_mounts({mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "ro"})}), v, false, true);
    const std::vector<std::string> expected = {
        "mount tmpfs /sys/fs/cgroup",
        "bind /sys/fs/cgroup/cpu,cpuacct/pod/c1 /sys/fs/cgroup/cpu,cpuacct",
        "ln /sys/fs/cgroup/cpu -> cpu,cpuacct",
        "ln /sys/fs/cgroup/cpuacct -> cpu,cpuacct",
        "bind /sys/fs/cgroup/memory/pod/c1 /sys/fs/cgroup/memory",
        "bind /sys/fs/cgroup/unified/pod/c1 /sys/fs/cgroup/unified",
        "remount /sys/fs/cgroup ro"};
    EXPECT_EQ(steps(ops), expected);
    const MountOp* memory = find_op(ops, MountOpKind::HostBind, "/sys/fs/cgroup/memory");
    ASSERT_NE(memory, nullptr);
    EXPECT_TRUE(memory->flags & MS_RDONLY);

    cgroups::CgroupMounts v2;
    v2.layout = cgroups::Layout::V2;
    v2.v2_path = "/sys/fs/cgroup";
    const CgroupView pure = cgroup_view(v2, &own);
    EXPECT_EQ(pure.v2_source, "/sys/fs/cgroup/pod/c1");
    EXPECT_EQ(steps(plan_bundle_mounts(with_mounts({mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", {"ro"})}), pure,
                                       false, true)),
              std::vector<std::string>{"bind /sys/fs/cgroup/pod/c1 /sys/fs/cgroup"});
}

// ---- plan_bundle_mounts ----

TEST(BundlePlanMounts, RuncDefaultOnV2InOrder) {
    const auto ops = plan_bundle_mounts(runc_default(), v2_view(), false, true);
    const std::vector<std::string> expected = {
        "mount proc /proc",
        "mount tmpfs /dev",
        "mount devpts /dev/pts",
        "mount tmpfs /dev/shm",
        "mount mqueue /dev/mqueue",
        "mount sysfs /sys",
        "mount cgroup2 /sys/fs/cgroup",
        "mknod /dev/null 1:3",
        "mknod /dev/zero 1:5",
        "mknod /dev/full 1:7",
        "mknod /dev/random 1:8",
        "mknod /dev/urandom 1:9",
        "mknod /dev/tty 5:0",
        "ln /dev/ptmx -> pts/ptmx",
        "ln /dev/fd -> /proc/self/fd",
        "ln /dev/stdin -> /proc/self/fd/0",
        "ln /dev/stdout -> /proc/self/fd/1",
        "ln /dev/stderr -> /proc/self/fd/2",
        "mask /proc/acpi",
        "mask /proc/asound",
        "mask /proc/kcore",
        "mask /proc/keys",
        "mask /proc/latency_stats",
        "mask /proc/timer_list",
        "mask /proc/timer_stats",
        "mask /proc/sched_debug",
        "mask /sys/firmware",
        "mask /proc/scsi",
        "ro /proc/bus",
        "ro /proc/fs",
        "ro /proc/irq",
        "ro /proc/sys",
        "ro /proc/sysrq-trigger",
        "ro /",
    };
    EXPECT_EQ(steps(ops), expected);
}

// A bundle's destinations are resolved through the root's symlinks (runc's securejoin), except
// proc's and sysfs's, which go on an ordinary directory only, as runc requires.
TEST(BundlePlanMounts, ProcAndSysfsNeverFollowASymlinkOtherMountsDo) {
    for (const bool userns : {false, true}) {
        for (const auto& op : plan_bundle_mounts(runc_default(), v2_view(), userns, false)) {
            if (op.kind != MountOpKind::Mount && op.kind != MountOpKind::EarlyMount && op.kind != MountOpKind::HostBind)
                continue;
            const bool kernel_view = op.target == "/proc" || op.target == "/sys";
            EXPECT_EQ(op.follow_symlinks, !kernel_view) << op.target << (userns ? " (user namespace)" : "");
        }
    }
}

TEST(BundlePlanMounts, EachMountPointAndItsParentsAreMadeFirst) {
    const auto ops = plan_bundle_mounts(runc_default(), v2_view(), false, true);
    const std::vector<std::pair<std::string, std::vector<std::string>>> needs = {
        {"/proc", {"/proc"}},
        {"/dev", {"/dev"}},
        {"/dev/pts", {"/dev", "/dev/pts"}},
        {"/dev/shm", {"/dev", "/dev/shm"}},
        {"/dev/mqueue", {"/dev", "/dev/mqueue"}},
        {"/sys", {"/sys"}},
        {"/sys/fs/cgroup", {"/sys", "/sys/fs", "/sys/fs/cgroup"}},
    };
    for (const auto& [target, dirs] : needs) {
        const size_t at = index_of(ops, MountOpKind::Mount, target);
        ASSERT_LT(at, ops.size()) << target;
        for (const auto& d : dirs)
            EXPECT_TRUE(made_before(ops, d, at)) << d << " before the mount on " << target;
    }
    for (const auto& op : ops) {
        if (op.kind == MountOpKind::MakeDir) {
            EXPECT_EQ(op.mode, 0755u) << op.target;
        }
    }
}

TEST(BundlePlanMounts, RuncDefaultFlagsSourcesAndData) {
    const auto ops = plan_bundle_mounts(runc_default(), v2_view(), false, true);
    const MountOp* proc = find_op(ops, MountOpKind::Mount, "/proc");
    ASSERT_NE(proc, nullptr);
    EXPECT_EQ(proc->source, "proc");
    EXPECT_EQ(proc->flags, 0ul);
    EXPECT_EQ(proc->data, "");
    const MountOp* dev = find_op(ops, MountOpKind::Mount, "/dev");
    ASSERT_NE(dev, nullptr);
    EXPECT_EQ(dev->flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
    EXPECT_EQ(dev->data, "mode=755,size=65536k");
    const MountOp* shm = find_op(ops, MountOpKind::Mount, "/dev/shm");
    ASSERT_NE(shm, nullptr);
    EXPECT_EQ(shm->fstype, "tmpfs");
    EXPECT_EQ(shm->source, "shm");
    EXPECT_EQ(shm->flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV));
    EXPECT_EQ(shm->data, "mode=1777,size=65536k");
    const MountOp* sys = find_op(ops, MountOpKind::Mount, "/sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_TRUE(sys->flags & MS_RDONLY);
    const MountOp* cg = find_op(ops, MountOpKind::Mount, "/sys/fs/cgroup");
    ASSERT_NE(cg, nullptr);
    EXPECT_TRUE(cg->flags & MS_RDONLY);
    EXPECT_TRUE(cg->flags & MS_NOSUID);
    EXPECT_TRUE(cg->flags & MS_NOEXEC);
    EXPECT_TRUE(cg->flags & MS_NODEV);
    const MountOp* null = find_op(ops, MountOpKind::MakeDevice, "/dev/null");
    ASSERT_NE(null, nullptr);
    EXPECT_EQ(null->mode, 0666u);
    EXPECT_EQ(null->device_type, 'c');
}

TEST(BundlePlanMounts, CgroupOnV2IsOneCgroup2Mount) {
    const auto ops = plan_bundle_mounts(
        with_mounts({mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
                                 {"nosuid", "noexec", "nodev", "relatime", "ro"})}),
        v2_view(), false, true);
    EXPECT_EQ(steps(ops), std::vector<std::string>{"mount cgroup2 /sys/fs/cgroup"});
    EXPECT_EQ(ops.back().source, "cgroup2");
}

TEST(BundlePlanMounts, CgroupOnV1IsATmpfsWithOneMountPerHierarchy) {
    const auto ops = plan_bundle_mounts(
        with_mounts({mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
                                 {"nosuid", "noexec", "nodev", "relatime", "ro"})}),
        v1_view(), false, true);
    const std::vector<std::string> expected = {
        "mkdir /sys",
        "mkdir /sys/fs",
        "mkdir /sys/fs/cgroup",
        "mount tmpfs /sys/fs/cgroup",
        "mkdir /sys/fs/cgroup/cpu,cpuacct",
        "mount cgroup /sys/fs/cgroup/cpu,cpuacct",
        "ln /sys/fs/cgroup/cpu -> cpu,cpuacct",
        "ln /sys/fs/cgroup/cpuacct -> cpu,cpuacct",
        "mkdir /sys/fs/cgroup/memory",
        "mount cgroup /sys/fs/cgroup/memory",
        "mkdir /sys/fs/cgroup/systemd",
        "mount cgroup /sys/fs/cgroup/systemd",
        "remount /sys/fs/cgroup ro",
    };
    EXPECT_EQ(all_steps(ops), expected);
    // The tmpfs stays writable until the hierarchies are mounted in it; each hierarchy is ro.
    const MountOp* tmpfs = find_op(ops, MountOpKind::Mount, "/sys/fs/cgroup");
    ASSERT_NE(tmpfs, nullptr);
    EXPECT_FALSE(tmpfs->flags & MS_RDONLY);
    EXPECT_EQ(tmpfs->data, "mode=755");
    const MountOp* cpu = find_op(ops, MountOpKind::Mount, "/sys/fs/cgroup/cpu,cpuacct");
    ASSERT_NE(cpu, nullptr);
    EXPECT_EQ(cpu->data, "cpu,cpuacct");
    EXPECT_TRUE(cpu->flags & MS_RDONLY);
    const MountOp* systemd = find_op(ops, MountOpKind::Mount, "/sys/fs/cgroup/systemd");
    ASSERT_NE(systemd, nullptr);
    EXPECT_EQ(systemd->data, "name=systemd");
}

TEST(BundlePlanMounts, CgroupOnV1WritableHasNoFinalReadOnly) {
    const auto ops = plan_bundle_mounts(
        with_mounts({mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid"})}), v1_view(),
        false, true);
    EXPECT_EQ(find_op(ops, MountOpKind::ReadOnly, "/sys/fs/cgroup"), nullptr);
    EXPECT_EQ(find_op(ops, MountOpKind::Remount, "/sys/fs/cgroup"), nullptr);
    const MountOp* memory = find_op(ops, MountOpKind::Mount, "/sys/fs/cgroup/memory");
    ASSERT_NE(memory, nullptr);
    EXPECT_FALSE(memory->flags & MS_RDONLY);
}

TEST(BundlePlanMounts, CgroupOnHybridAddsTheUnifiedHierarchy) {
    CgroupView v = v1_view();
    v.v2_dir = "unified";
    const auto ops = plan_bundle_mounts(
        with_mounts({mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", {"ro"})}), v, false, true);
    const size_t unified = index_of(ops, MountOpKind::Mount, "/sys/fs/cgroup/unified");
    ASSERT_LT(unified, ops.size());
    EXPECT_EQ(ops[unified].fstype, "cgroup2");
    EXPECT_TRUE(made_before(ops, "/sys/fs/cgroup/unified", unified));
    EXPECT_EQ(describe(ops.back()), "remount /sys/fs/cgroup ro");
}

TEST(BundlePlanMounts, BindMountsUseTheHostSource) {
    const auto ops = plan_bundle_mounts(
        with_mounts(
            {mount_entry("/data", "bind", "/srv/data", {"rbind", "ro", "rprivate"}),
             mount_entry("/etc/resolv.conf", "none", "/bundles/c1/resolv.conf", {"bind", "nosuid"}),
             mount_entry("/mnt/a/b", "bind", "/srv/b", {})}),
        v2_view(), false, true);
    const std::vector<std::string> expected = {"bind /srv/data /data rec",
                                               "bind /bundles/c1/resolv.conf /etc/resolv.conf",
                                               "bind /srv/b /mnt/a/b"};
    EXPECT_EQ(steps(ops), expected);
    const MountOp* data = find_op(ops, MountOpKind::HostBind, "/data");
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(data->flags, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_EQ(data->propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
    const MountOp* resolv = find_op(ops, MountOpKind::HostBind, "/etc/resolv.conf");
    ASSERT_NE(resolv, nullptr);
    EXPECT_EQ(resolv->flags, static_cast<unsigned long>(MS_NOSUID));
    EXPECT_TRUE(made_before(ops, "/etc", index_of(ops, MountOpKind::HostBind, "/etc/resolv.conf")));
    const size_t b = index_of(ops, MountOpKind::HostBind, "/mnt/a/b");
    EXPECT_TRUE(made_before(ops, "/mnt", b));
    EXPECT_TRUE(made_before(ops, "/mnt/a", b));
}

TEST(BundlePlanMounts, PropagationOfAFilesystemMount) {
    const auto ops = plan_bundle_mounts(
        with_mounts({mount_entry("/mnt", "tmpfs", "tmpfs", {"rshared", "size=1m"})}), v2_view(),
        false, true);
    const MountOp* mnt = find_op(ops, MountOpKind::Mount, "/mnt");
    ASSERT_NE(mnt, nullptr);
    EXPECT_EQ(mnt->propagation, static_cast<unsigned long>(MS_SHARED | MS_REC));
    EXPECT_EQ(mnt->data, "size=1m");
}

TEST(BundlePlanMounts, DestinationsAreCleaned) {
    BundleSpec b = with_mounts(
        {mount_entry("/dev/", "tmpfs", "tmpfs"), mount_entry("/dev//pts/", "devpts", "devpts")});
    const auto ops = plan_bundle_mounts(b, v2_view(), false, true);
    EXPECT_NE(find_op(ops, MountOpKind::Mount, "/dev"), nullptr);
    EXPECT_NE(find_op(ops, MountOpKind::Mount, "/dev/pts"), nullptr);
    EXPECT_NE(find_op(ops, MountOpKind::MakeDevice, "/dev/null"), nullptr);  // "/dev/" is /dev
}

TEST(BundlePlanMounts, NoDevMountNoDevicesOrDevSymlinks) {
    BundleSpec b = runc_default();
    b.mounts.erase(b.mounts.begin() + 1);  // /dev
    const auto ops = plan_bundle_mounts(b, v2_view(), false, true);
    for (const auto& op : ops) {
        EXPECT_NE(op.kind, MountOpKind::MakeDevice) << describe(op);
        EXPECT_NE(op.kind, MountOpKind::Symlink) << describe(op);
    }
    EXPECT_NE(find_op(ops, MountOpKind::Mount, "/dev/pts"), nullptr);
    // A mount under /dev is not a /dev mount either.
    const auto only_shm = plan_bundle_mounts(with_mounts({mount_entry("/dev/shm", "tmpfs", "shm")}),
                                             v2_view(), false, true);
    EXPECT_EQ(steps(only_shm), std::vector<std::string>{"mount tmpfs /dev/shm"});
}

TEST(BundlePlanMounts, UserNamespaceWithTheHostsNetwork) {
    BundleSpec b =
        with_mounts({mount_entry("/proc", "proc", "proc"),
                     mount_entry("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
                     mount_entry("/dev", "tmpfs", "tmpfs", {"nosuid", "mode=755"})});
    const auto ops = plan_bundle_mounts(b, v2_view(), true, false);
    const std::vector<std::string> expected = {
        "early proc /proc",
        "bind /sys /sys rec",
        "mount tmpfs /dev",
        "bind /dev/null /dev/null",
        "bind /dev/zero /dev/zero",
        "bind /dev/full /dev/full",
        "bind /dev/random /dev/random",
        "bind /dev/urandom /dev/urandom",
        "bind /dev/tty /dev/tty",
        "ln /dev/ptmx -> pts/ptmx",
        "ln /dev/fd -> /proc/self/fd",
        "ln /dev/stdin -> /proc/self/fd/0",
        "ln /dev/stdout -> /proc/self/fd/1",
        "ln /dev/stderr -> /proc/self/fd/2",
    };
    EXPECT_EQ(steps(ops), expected);
    const MountOp* sys = find_op(ops, MountOpKind::HostBind, "/sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_TRUE(sys->flags & MS_RDONLY);
    EXPECT_TRUE(sys->flags & MS_NOSUID);
    EXPECT_TRUE(made_before(ops, "/proc", index_of(ops, MountOpKind::EarlyMount, "/proc")));
}

TEST(BundlePlanMounts, UserNamespaceWithItsOwnNetworkMountsSysfs) {
    BundleSpec b =
        with_mounts({mount_entry("/proc", "proc", "proc", {"nosuid"}),
                     mount_entry("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"})});
    const auto ops = plan_bundle_mounts(b, v2_view(), true, true);
    EXPECT_EQ(steps(ops), (std::vector<std::string>{"early proc /proc", "early sysfs /sys"}));
    const MountOp* sys = find_op(ops, MountOpKind::EarlyMount, "/sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_EQ(sys->flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
    const MountOp* proc = find_op(ops, MountOpKind::EarlyMount, "/proc");
    ASSERT_NE(proc, nullptr);
    EXPECT_EQ(proc->flags, static_cast<unsigned long>(MS_NOSUID));
}

TEST(BundlePlanMounts, WithoutAUserNamespaceSysfsIsMountedEvenWithTheHostsNetwork) {
    BundleSpec b = with_mounts({mount_entry("/sys", "sysfs", "sysfs", {"ro"})});
    EXPECT_EQ(steps(plan_bundle_mounts(b, v2_view(), false, false)),
              std::vector<std::string>{"mount sysfs /sys"});
}

TEST(BundlePlanMounts, SysctlsAreFileWritesAfterDevicesBeforeMasks) {
    BundleSpec b = with_mounts({mount_entry("/dev", "tmpfs", "tmpfs")});
    b.sysctl = {{"net.ipv4.ip_forward", "1"}, {"kernel.shm_rmid_forced", "1"}};
    b.masked_paths = {"/proc/kcore"};
    const auto ops = plan_bundle_mounts(b, v2_view(), false, true);
    const MountOp* fwd = find_op(ops, MountOpKind::WriteFile, "/proc/sys/net/ipv4/ip_forward");
    ASSERT_NE(fwd, nullptr);
    EXPECT_EQ(fwd->data, "1");
    EXPECT_NE(find_op(ops, MountOpKind::WriteFile, "/proc/sys/kernel/shm_rmid_forced"), nullptr);
    const size_t write = index_of(ops, MountOpKind::WriteFile, "/proc/sys/net/ipv4/ip_forward");
    EXPECT_GT(write, index_of(ops, MountOpKind::Symlink, "/dev/stderr"));
    EXPECT_LT(write, index_of(ops, MountOpKind::Mask, "/proc/kcore"));
}

TEST(BundlePlanMounts, MaskedAndReadonlyPathsCleaned) {
    BundleSpec b = with_mounts({});
    b.masked_paths = {"/proc/kcore", "/sys/firmware/"};
    b.readonly_paths = {"/proc//sys"};
    const auto ops = plan_bundle_mounts(b, v2_view(), false, true);
    EXPECT_EQ(all_steps(ops),
              (std::vector<std::string>{"mask /proc/kcore", "mask /sys/firmware", "ro /proc/sys"}));
}

TEST(BundlePlanMounts, ReadonlyRootIsTheLastStep) {
    BundleSpec b = runc_default();
    b.sysctl = {{"net.ipv4.ip_forward", "1"}};
    auto ops = plan_bundle_mounts(b, v1_view(), false, true);
    ASSERT_FALSE(ops.empty());
    EXPECT_EQ(describe(ops.back()), "ro /");
    b.rootfs_readonly = false;
    ops = plan_bundle_mounts(b, v1_view(), false, true);
    EXPECT_EQ(find_op(ops, MountOpKind::ReadOnly, "/"), nullptr);
}

// ---- validate_bundle ----

TEST(BundlePlanValidate, RuncDefaultIsValid) {
    BundleSpec b = runc_default();
    b.mounts.push_back(
        mount_entry("/data..old", "bind", "/srv/data", {"rbind"}));  // ".." inside a name is fine
    b.rootfs_propagation = "rslave";
    b.sysctl = {{"net.ipv4.ip_forward", "1"}};
    auto st = validate_bundle(b);
    EXPECT_TRUE(st.ok()) << st.error().message;
}

TEST(BundlePlanValidate, RelativeRootIsRefused) {
    BundleSpec b = runc_default();
    b.rootfs = "rootfs";
    auto st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "root.path");
}

TEST(BundlePlanValidate, RelativeDestinationIsRefused) {
    BundleSpec b = runc_default();
    b.mounts[1].destination = "dev";
    auto st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "mounts[1].destination");
    b.mounts[1].destination = "";
    st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "mounts[1].destination");
}

TEST(BundlePlanValidate, DotDotInDestinationIsRefused) {
    for (const std::string dest : {"/mnt/../etc", "/mnt/..", "/.."}) {
        BundleSpec b = with_mounts(
            {mount_entry("/tmp", "tmpfs", "tmpfs"), mount_entry(dest, "tmpfs", "tmpfs")});
        auto st = validate_bundle(b);
        ASSERT_FALSE(st.ok()) << dest;
        expect_error(st.error(), ErrorKind::Invalid, "mounts[1].destination");
    }
}

TEST(BundlePlanValidate, BindWithoutAbsoluteSourceIsRefused) {
    for (const auto& m :
         {mount_entry("/data", "bind", "data", {}), mount_entry("/data", "none", "", {"rbind"}),
          mount_entry("/data", "", "srv/data", {"bind"})}) {
        auto st = validate_bundle(with_mounts({m}));
        ASSERT_FALSE(st.ok()) << m.source;
        expect_error(st.error(), ErrorKind::Invalid, "mounts[0].source");
    }
}

TEST(BundlePlanValidate, FilesystemMountWithoutTypeIsRefused) {
    auto st = validate_bundle(with_mounts({mount_entry("/tmp", "", "tmpfs", {"nosuid"})}));
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "mounts[0].type");
}

TEST(BundlePlanValidate, UnknownRootfsPropagationIsRefused) {
    BundleSpec b = runc_default();
    b.rootfs_propagation = "rprivat";
    auto st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "linux.rootfsPropagation");
    for (const char* ok : {"private", "rprivate", "slave", "rslave", "shared", "rshared"}) {
        b.rootfs_propagation = ok;
        EXPECT_TRUE(validate_bundle(b).ok()) << ok;
    }
}

TEST(BundlePlanValidate, SysctlNameWithSlashOrDotDotIsRefused) {
    for (const std::string key : {"net/ipv4/ip_forward", "net..ipv4", ""}) {
        BundleSpec b = runc_default();
        b.sysctl = {{"kernel.domainname", "x"}, {key, "1"}};
        auto st = validate_bundle(b);
        ASSERT_FALSE(st.ok()) << key;
        expect_error(st.error(), ErrorKind::Invalid, "linux.sysctl");
    }
}

TEST(BundlePlanValidate, RelativeMaskedOrReadonlyPathIsRefused) {
    BundleSpec b = runc_default();
    b.masked_paths.push_back("proc/kcore");
    auto st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "linux.maskedPaths");
    b = runc_default();
    b.readonly_paths.push_back("proc/sys");
    st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "linux.readonlyPaths");
}

TEST(BundlePlanValidate, NamespaceRefusalsPassThrough) {
    BundleSpec b = runc_default();
    b.namespaces.push_back({"bogus", ""});
    auto st = validate_bundle(b);
    ASSERT_FALSE(st.ok());
    expect_error(st.error(), ErrorKind::Invalid, "linux.namespaces[5].type");
}

// ---- rlimit_resource ----

TEST(BundlePlanRlimit, KnownNames) {
    EXPECT_EQ(rlimit_resource("RLIMIT_NOFILE"), std::optional<int>(RLIMIT_NOFILE));
    EXPECT_EQ(rlimit_resource("RLIMIT_NPROC"), std::optional<int>(RLIMIT_NPROC));
    EXPECT_EQ(rlimit_resource("RLIMIT_CORE"), std::optional<int>(RLIMIT_CORE));
    EXPECT_EQ(rlimit_resource("RLIMIT_MEMLOCK"), std::optional<int>(RLIMIT_MEMLOCK));
    EXPECT_EQ(rlimit_resource("RLIMIT_RTTIME"), std::optional<int>(RLIMIT_RTTIME));
}

TEST(BundlePlanRlimit, UnknownNames) {
    EXPECT_EQ(rlimit_resource("RLIMIT_BOGUS"), std::nullopt);
    EXPECT_EQ(rlimit_resource("nofile"), std::nullopt);
    EXPECT_EQ(rlimit_resource("NOFILE"), std::nullopt);
    EXPECT_EQ(rlimit_resource(""), std::nullopt);
}

}  // namespace
}  // namespace lxbox::runtime
