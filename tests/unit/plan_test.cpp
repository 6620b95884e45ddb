// spec → plan: the pure decisions of the runtime.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>

#include "runtime/plan/idmap.hpp"
#include "runtime/plan/plan.hpp"

namespace lxbox::runtime {
namespace {

ContainerSpec sample() {
    ContainerSpec s;
    s.name = "deb";
    s.image_rootfs = "/store/images/debian/rootfs";
    s.container_dir = "/store/containers/deb";
    return s;
}

TEST(PlanOverlay, PersistentContainerKeepsLayersInItsDir) {
    auto p = plan_overlay(sample());
    EXPECT_EQ(p.merged, "/store/containers/deb/rootfs");
    EXPECT_EQ(p.upper, "/store/containers/deb/upper");
    EXPECT_EQ(p.options,
              "lowerdir=/store/images/debian/rootfs,upperdir=/store/containers/deb/upper,workdir=/store/containers/deb/work");
}

TEST(PlanOverlay, EphemeralContainerPutsLayersInTheScratchTmpfs) {
    auto s = sample();
    s.ephemeral = true;
    auto p = plan_overlay(s);
    EXPECT_EQ(p.scratch, s.container_dir);
    EXPECT_EQ(p.merged, s.container_dir);
    EXPECT_EQ(p.upper, s.container_dir + "/upper");
}

TEST(PlanOverlay, FuseOverlayfsGetsARootBesideAThrowawayContainersLayers) {
    // Its daemon reaches upper and work by path: under the mount it serves, it would wait on itself.
    auto s = sample();
    s.ephemeral = true;
    const auto fuse = fuse_overlay_plan(plan_overlay(s));
    EXPECT_EQ(fuse.merged, s.container_dir + "/root");
    EXPECT_EQ(fuse.upper, s.container_dir + "/upper");
    EXPECT_EQ(fuse.options, plan_overlay(s).options);
    // A kept container's layers are beside its rootfs/ already.
    const auto kept = plan_overlay(sample());
    EXPECT_EQ(fuse_overlay_plan(kept).merged, kept.merged);
}

TEST(PlanOverlay, EscapesSeparatorsInPaths) {
    EXPECT_EQ(overlay_escape("/a,b:c\\d"), "/a\\,b\\:c\\\\d");
}

TEST(PlanSystemMounts, ProcThenSysReadOnlyThenDevWithPtsNewInstance) {
    auto ops = plan_system_mounts(sample());
    auto find = [&](const std::string& t, MountOpKind k) {
        return std::find_if(ops.begin(), ops.end(), [&](const MountOp& o) { return o.target == t && o.kind == k; });
    };
    auto sys = find("/sys", MountOpKind::Mount);
    ASSERT_NE(sys, ops.end());
    EXPECT_TRUE(sys->flags & MS_RDONLY);
    auto pts = find("/dev/pts", MountOpKind::Mount);
    ASSERT_NE(pts, ops.end());
    EXPECT_NE(pts->data.find("newinstance"), std::string::npos);
    EXPECT_NE(pts->data.find("ptmxmode=0666"), std::string::npos);
    EXPECT_LT(find("/dev", MountOpKind::Mount), find("/dev/null", MountOpKind::MakeDevice));
    EXPECT_LT(find("/dev", MountOpKind::Mount), pts);
    auto ptmx = find("/dev/ptmx", MountOpKind::Symlink);
    ASSERT_NE(ptmx, ops.end());
    EXPECT_EQ(ptmx->link, "pts/ptmx");
    for (const char* d : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"})
        EXPECT_NE(find(d, MountOpKind::MakeDevice), ops.end()) << d;
    for (const char* m : {"/proc", "/dev/shm", "/dev/mqueue"}) EXPECT_NE(find(m, MountOpKind::Mount), ops.end()) << m;
}

TEST(PlanInjectedFiles, HostnameAndHostsNameTheContainer) {
    auto s = sample();
    s.hostname = "box";
    s.resolv_conf = "nameserver 1.1.1.1\n";
    auto files = plan_injected_files(s);
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[0].target, "/etc/hostname");
    EXPECT_EQ(files[0].content, "box\n");
    EXPECT_NE(files[1].content.find("127.0.1.1\tbox"), std::string::npos);
    EXPECT_EQ(files[2].content, "nameserver 1.1.1.1\n");
    EXPECT_EQ(effective_hostname(sample()), "deb");
}

TEST(PlanEnv, CleanDefaultsThenUserValuesWin) {
    ProcessSpec p;
    p.env = {"TERM=dumb", "FOO=bar"};
    ResolvedUser u;
    u.name = "alice";
    u.home = "/home/alice";
    auto env = plan_env(p, u, "box");
    EXPECT_EQ(env[0].rfind("PATH=", 0), 0u);
    EXPECT_NE(std::find(env.begin(), env.end(), "HOME=/home/alice"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "USER=alice"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "HOSTNAME=box"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "TERM=dumb"), env.end());
    EXPECT_EQ(std::find(env.begin(), env.end(), "TERM=xterm"), env.end());
    EXPECT_EQ(env.back(), "FOO=bar");
}

TEST(PlanExec, NoCommandRunsTheLoginShellInHome) {
    ResolvedUser u;
    u.shell = "/bin/bash";
    u.home = "/root";
    auto e = plan_exec(ProcessSpec{}, u);
    EXPECT_EQ(e.file, "/bin/bash");
    EXPECT_EQ(e.argv, std::vector<std::string>{"-bash"});
    EXPECT_EQ(e.cwd, "/root");
    EXPECT_FALSE(e.cwd_required);
    ProcessSpec p;
    p.args = {"ls", "-l"};
    p.cwd = "/tmp";
    auto e2 = plan_exec(p, u);
    EXPECT_EQ(e2.file, "ls");
    EXPECT_TRUE(e2.cwd_required);
    EXPECT_EQ(e2.fallback, "");
    // An integrated launch's cwd: the container's directory of that path, else the home.
    p.cwd_or_home = true;
    auto e3 = plan_exec(p, u);
    EXPECT_EQ(e3.cwd, "/tmp");
    EXPECT_FALSE(e3.cwd_required);
    EXPECT_EQ(e3.fallback, "/root");
    p.env = {"HOME=/home/alice"};  // integration's $HOME, over the distro's passwd
    EXPECT_EQ(plan_exec(p, u).fallback, "/home/alice");
}

TEST(PlanExitCodes, DockerConventions) {
    EXPECT_EQ(exec_failure_exit_code(ENOENT), 127);
    EXPECT_EQ(exec_failure_exit_code(EACCES), 126);
    EXPECT_EQ(exec_failure_exit_code(ENOEXEC), 126);
    EXPECT_EQ(exit_code_from_siginfo(CLD_EXITED, 3), 3);
    EXPECT_EQ(exit_code_from_siginfo(CLD_KILLED, SIGKILL), 137);
    EXPECT_EQ(exit_code_from_siginfo(CLD_DUMPED, SIGSEGV), 139);
}

TEST(PlanValidate, RejectsRelativePathsAndUnknownNetwork) {
    EXPECT_TRUE(validate_spec(sample()).ok());
    auto s = sample();
    s.network = "bridge";
    EXPECT_FALSE(validate_spec(s).ok());
    s = sample();
    s.binds.push_back({"rel", "/x", false});
    EXPECT_FALSE(validate_spec(s).ok());
    s = sample();
    s.process.cwd = "tmp";
    EXPECT_FALSE(validate_spec(s).ok());
}

TEST(PlanParse, BindMounts) {
    auto b = parse_bind("/host/dir:/guest:ro");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->source, "/host/dir");
    EXPECT_EQ(b->target, "/guest");
    EXPECT_TRUE(b->readonly);
    EXPECT_FALSE(parse_bind("/a:/b")->readonly);
    EXPECT_FALSE(parse_bind("/a").ok());
    EXPECT_FALSE(parse_bind("a:/b").ok());
}

TEST(PlanParse, MemoryEnvFileAndEnvArgs) {
    EXPECT_EQ(*parse_memory("512m"), 512ull << 20);
    EXPECT_EQ(*parse_memory("1G"), 1ull << 30);
    EXPECT_EQ(*parse_memory("4096"), 4096u);
    EXPECT_FALSE(parse_memory("lots").ok());
    EXPECT_FALSE(parse_memory("5x").ok());
    const EnvLookup lookup = [](const std::string& k) -> const char* { return k == "HOMEISH" ? "/h" : nullptr; };
    auto env = parse_env_file("# comment\nA=1\n\n  B=two words\r\nHOMEISH\nMISSING\n", lookup);
    ASSERT_TRUE(env.ok());
    EXPECT_EQ(*env, (std::vector<std::string>{"A=1", "B=two words", "HOMEISH=/h"}));
    auto args = resolve_env_args({"X=1", "HOMEISH", "MISSING"}, lookup);
    ASSERT_TRUE(args.ok());
    EXPECT_EQ(*args, (std::vector<std::string>{"X=1", "HOMEISH=/h"}));
}

// An OOM kill is "out of memory" when the command ends with SIGKILL's 137, a warning that says
// the command went on otherwise, nothing without one.
TEST(PlanOom, TheNoticeSaysWhatHappenedToTheCommand) {
    EXPECT_EQ(oom_notice(137, false), "");
    EXPECT_EQ(oom_notice(0, false), "");
    EXPECT_EQ(oom_notice(137, true),
              "out of memory: the kernel killed a process of the container at its memory limit (raise --memory)");
    for (int code : {0, 1, 2, 143})
        EXPECT_EQ(oom_notice(code, true),
                  "warning: the kernel killed a process of the container at its memory limit (out of memory); the "
                  "command itself went on and exited " + std::to_string(code));
}

// -e and an env file are read by one parser: what one refuses, the other refuses too.
TEST(PlanParse, EnvArgsAndEnvFilesAgree) {
    const EnvLookup none = [](const std::string&) -> const char* { return nullptr; };
    for (const std::string bad : {"=x", "="}) {
        auto arg = resolve_env_args({bad}, none);
        auto line = parse_env_file("A=1\n" + bad + "\n", none);
        ASSERT_FALSE(arg.ok()) << bad;
        ASSERT_FALSE(line.ok()) << bad;
        EXPECT_EQ(arg.error().message, "-e '" + bad + "': no variable name");
        EXPECT_EQ(line.error().message, "line 2: '" + bad + "': no variable name");
    }
    EXPECT_FALSE(resolve_env_args({""}, none).ok());
    for (const std::string good : {"A=", "A==b", "A=b=c"}) {
        EXPECT_EQ(resolve_env_args({good}, none).value(), std::vector<std::string>{good});
        EXPECT_EQ(parse_env_file(good, none).value(), std::vector<std::string>{good});
    }
}

ContainerSpec rootless(const std::string& network, std::vector<IdMapping> gids) {
    ContainerSpec s = sample();
    s.network = network;
    s.userns.enabled = true;
    s.userns.uids = {{0, 1000, 1}};
    s.userns.gids = std::move(gids);
    return s;
}

const MountOp* find_op(const std::vector<MountOp>& ops, const std::string& target) {
    for (const auto& o : ops)
        if (o.target == target && o.kind != MountOpKind::MakeDir) return &o;
    return nullptr;
}

TEST(PlanSystemMounts, ARootlessContainerBindsHostDevicesAndMakesProcBeforePivot) {
    auto ops = plan_system_mounts(rootless("host", {{0, 1000, 1}}));
    for (const char* d : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}) {
        const MountOp* op = find_op(ops, d);
        ASSERT_NE(op, nullptr) << d;
        EXPECT_EQ(op->kind, MountOpKind::HostBind) << d;  // mknod is refused in a user namespace
        EXPECT_EQ(op->source, d);
    }
    const MountOp* proc = find_op(ops, "/proc");
    ASSERT_NE(proc, nullptr);
    EXPECT_EQ(proc->kind, MountOpKind::EarlyMount);
    EXPECT_EQ(proc->fstype, "proc");
    // The host's network namespace is not the user namespace's: its sysfs is bound, read-only.
    const MountOp* sys = find_op(ops, "/sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_EQ(sys->kind, MountOpKind::HostBind);
    EXPECT_TRUE(sys->flags & MS_RDONLY);
    // gid 5 (tty) is not mapped: devpts must not be asked for it.
    EXPECT_EQ(find_op(ops, "/dev/pts")->data.find("gid="), std::string::npos);
}

// lxbox's own /proc, /sys and /dev (and everything mounted in them) are reached through no
// symlink of the image, as root and rootless, whatever the network.
TEST(PlanSystemMounts, NoMountFollowsASymlinkOfTheImage) {
    for (const auto& spec : {sample(), rootless("host", {{0, 1000, 1}}), rootless("none", {{0, 1000, 1}})}) {
        size_t mounts = 0;
        for (const auto& op : plan_system_mounts(spec)) {
            if (op.kind != MountOpKind::Mount && op.kind != MountOpKind::EarlyMount && op.kind != MountOpKind::HostBind)
                continue;
            ++mounts;
            EXPECT_FALSE(op.follow_symlinks) << op.target;
        }
        EXPECT_GE(mounts, 6u);
    }
}

TEST(PlanSystemMounts, ARootlessContainerWithItsOwnNetworkMountsItsOwnSysfs) {
    auto ops = plan_system_mounts(rootless("none", {{0, 1000, 1}, {1, 100000, 65536}}));
    const MountOp* sys = find_op(ops, "/sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_EQ(sys->kind, MountOpKind::EarlyMount);
    EXPECT_EQ(sys->fstype, "sysfs");
    EXPECT_TRUE(sys->flags & MS_RDONLY);
    EXPECT_NE(find_op(ops, "/dev/pts")->data.find("gid=5"), std::string::npos);
}

TEST(PlanValidate, AUserNamespaceMustMapRoot) {
    auto s = rootless("host", {{0, 1000, 1}});
    EXPECT_TRUE(validate_spec(s));
    s.userns.uids = {{1, 1000, 1}};
    auto st = validate_spec(s);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("maps no root"), std::string::npos);
}

}  // namespace
}  // namespace lxbox::runtime
