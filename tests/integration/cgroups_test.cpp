// Cgroups on the real kernel (root): limits that bite, membership, teardown that leaves
// nothing. Runs on whatever layout the host has (v1, v2 or hybrid); the pure-v2 code path is
// also driven on a cgroup2 mount made here, which on a hybrid host has no controllers.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "runtime/base/unique_fd.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::cgroups {
namespace {

std::string unique_name(const char* what) {
    static int counter = 0;
    return std::string("lxbox-test-") + what + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(++counter);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::string slurp(const std::string& path) {
    auto text = read_file(path);
    return text ? *text : std::string("<unreadable: ") + text.error().message + ">";
}

CgroupMounts host_mounts() {
    return parse_cgroup_mounts(slurp("/proc/self/mountinfo"));
}

// The cgroup's directory in the hierarchy mounted at `mount`, "" if it has none there.
std::string path_under(const Cgroup& cg, const std::string& mount) {
    for (const auto& p : cg.paths())
        if (p.starts_with(mount + "/")) return p;
    return "";
}

// Where the hierarchy that holds `controller` is mounted: its v1 mount, else the v2 tree.
std::string mount_of(const std::string& controller) {
    auto m = host_mounts();
    auto it = m.v1_controllers.find(controller);
    return it != m.v1_controllers.end() ? it->second : m.v2_path;
}

// A forked child that waits for a go byte (sent once it is in the cgroup), then runs body and
// _exits with its result. Killed and reaped if the test ends early.
class Child {
  public:
    template <class Body>
    explicit Child(Body body) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(fds[1]);
            char go;
            if (::read(fds[0], &go, 1) != 1) ::_exit(99);
            ::_exit(body());
        }
        ::close(fds[0]);
        go_.reset(fds[1]);
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            wait();
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    void go() {
        char g = 'g';
        ASSERT_EQ(::write(go_.get(), &g, 1), 1);
        go_.reset();
    }
    // The raw wait status.
    int wait() {
        int status = -1;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return status;
    }

  private:
    pid_t pid_ = -1;
    UniqueFd go_;
};

int sleep_forever() {
    for (;;) ::pause();
}

class CgroupsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!test::is_root()) LXBOX_SKIP("needs root");
        if (host_mounts().layout == Layout::None) LXBOX_SKIP("no cgroup hierarchy mounted");
    }
    // create(), skipping (visibly) when this host cannot give the limits at all.
    std::optional<Cgroup> create_or_skip(const std::string& name, const Limits& limits) {
        auto cg = Cgroup::create(name, limits);
        if (!cg.ok() && cg.error().kind == ErrorKind::Unsupported) {
            skip_reason_ = cg.error().message;
            return std::nullopt;
        }
        EXPECT_TRUE(cg.ok()) << cg.error().message;
        if (!cg.ok()) return std::nullopt;
        return std::move(cg).value();
    }
    std::string skip_reason_;
};

TEST_F(CgroupsTest, CreateLimitAddRemoveLeavesNothing) {
    const std::string name = unique_name("basic");
    auto cg = create_or_skip(name, Limits{32ull << 20, 0.5, 64});
    if (!cg) LXBOX_SKIP(skip_reason_);
    auto paths = cg->paths();
    ASSERT_FALSE(paths.empty());
    for (const auto& p : paths) EXPECT_TRUE(exists(p)) << p;

    Child child([] { return 7; });
    ASSERT_TRUE(cg->add_process(child.pid()).ok());
    // Every hierarchy of the cgroup lists the child (and so does /proc/<pid>/cgroup).
    for (const auto& p : paths)
        EXPECT_EQ(slurp(p + "/cgroup.procs"), std::to_string(child.pid()) + "\n") << p;
    std::string proc = slurp("/proc/" + std::to_string(child.pid()) + "/cgroup");
    EXPECT_NE(proc.find("/lxbox/" + name + "\n"), std::string::npos) << proc;
    child.go();
    int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    EXPECT_FALSE(cg->oom_killed());

    auto st = cg->remove();
    EXPECT_TRUE(st.ok()) << st.error().message;
    for (const auto& p : paths) EXPECT_FALSE(exists(p)) << p;
    EXPECT_TRUE(cg->paths().empty());
}

TEST_F(CgroupsTest, MemoryLimitOomKillsAndIsReported) {
    auto cg = create_or_skip(unique_name("oom"), Limits{32ull << 20, std::nullopt, std::nullopt});
    if (!cg) LXBOX_SKIP(skip_reason_);
    const std::string dir = path_under(*cg, mount_of("memory"));
    ASSERT_FALSE(dir.empty());
    EXPECT_EQ(slurp(dir + (exists(dir + "/memory.max") ? "/memory.max" : "/memory.limit_in_bytes")),
              "33554432\n");

    // 64 MiB touched page by page under a 32 MiB limit with no swap allowed.
    Child child([] {
        constexpr size_t kSize = 64u << 20;
        void* p =
            ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 2;
        std::memset(p, 0x5a, kSize);
        return 0;  // survived: the limit did not bite
    });
    ASSERT_TRUE(cg->add_process(child.pid()).ok());
    child.go();
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
    EXPECT_TRUE(cg->oom_killed());
}

TEST_F(CgroupsTest, PidsLimitStopsForkBomb) {
    // The forks outlive their parent: as their subreaper this test reaps them once cg (declared
    // after, so destroyed before) has killed them, rather than leave zombies to an init that may
    // not.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    struct Unreaper {
        ~Unreaper() {
            ::prctl(PR_SET_CHILD_SUBREAPER, 0);
            while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
            }
        }
    } unreaper;
    auto cg = create_or_skip(unique_name("pids"), Limits{std::nullopt, std::nullopt, 5});
    if (!cg) LXBOX_SKIP(skip_reason_);
    int result[2];
    ASSERT_EQ(::pipe2(result, O_CLOEXEC), 0);
    UniqueFd result_read(result[0]), result_write(result[1]);
    // 20 forks whose children stay; the child reports (forks made, errno of the first failure)
    // and stays too, so the teardown has a small tree to kill.
    Child child([fd = result_write.get()] {
        int report[2] = {0, 0};
        for (int i = 0; i < 20; ++i) {
            pid_t p = ::fork();
            if (p == 0) sleep_forever();
            if (p < 0) {
                report[1] = errno;
                break;
            }
            ++report[0];
        }
        if (::write(fd, report, sizeof report) != sizeof report) return 3;
        return sleep_forever();
    });
    result_write.reset();
    ASSERT_TRUE(cg->add_process(child.pid()).ok());
    child.go();
    int report[2] = {-1, -1};
    ASSERT_EQ(::read(result_read.get(), report, sizeof report),
              static_cast<ssize_t>(sizeof report));
#ifdef __SANITIZE_THREAD__
    // TSan starts its background thread again in every forked child: each process is two of
    // the 5 tasks, so two or three forks fit, as the children's threads and the forks race.
    EXPECT_TRUE(report[0] == 2 || report[0] == 3) << report[0];
#else
    EXPECT_EQ(report[0], 4);  // 5 tasks: the child and four of its forks
#endif
    EXPECT_EQ(report[1], EAGAIN) << std::strerror(report[1]);

    auto paths = cg->paths();
    auto st = cg->remove();  // kills all five
    EXPECT_TRUE(st.ok()) << st.error().message;
    for (const auto& p : paths) EXPECT_FALSE(exists(p)) << p;
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST_F(CgroupsTest, CpuQuotaFileShowsTheValue) {
    auto cg = create_or_skip(unique_name("cpu"), Limits{std::nullopt, 0.5, std::nullopt});
    if (!cg) LXBOX_SKIP(skip_reason_);
    const std::string dir = path_under(*cg, mount_of("cpu"));
    ASSERT_FALSE(dir.empty());
    if (exists(dir + "/cpu.max")) {
        EXPECT_EQ(slurp(dir + "/cpu.max"), "50000 100000\n");
    } else {
        EXPECT_EQ(slurp(dir + "/cpu.cfs_quota_us"), "50000\n");
        EXPECT_EQ(slurp(dir + "/cpu.cfs_period_us"), "100000\n");
    }
}

TEST_F(CgroupsTest, DestructorKillsLeftoversAndRemovesTheGroup) {
    std::vector<std::string> paths;
    Child child(sleep_forever);
    {
        auto cg = create_or_skip(unique_name("dtor"), Limits{std::nullopt, std::nullopt, 16});
        if (!cg) LXBOX_SKIP(skip_reason_);
        paths = cg->paths();
        ASSERT_TRUE(cg->add_process(child.pid()).ok());
        child.go();
        cg.reset();
    }
    for (const auto& p : paths) EXPECT_FALSE(exists(p)) << p;
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
}

TEST_F(CgroupsTest, OpenExistingJoinsWithoutOwning) {
    const std::string name = unique_name("join");
    auto cg = create_or_skip(name, Limits{std::nullopt, std::nullopt, 16});
    if (!cg) LXBOX_SKIP(skip_reason_);
    Child child(sleep_forever);
    {
        auto joined = Cgroup::open_existing(name);
        ASSERT_TRUE(joined.ok()) << joined.error().message;
        EXPECT_EQ(joined->paths(), cg->paths());
        ASSERT_TRUE(joined->add_process(child.pid()).ok());
    }  // a joined handle going away must not tear down the container's cgroup
    for (const auto& p : cg->paths()) {
        EXPECT_TRUE(exists(p)) << p;
        EXPECT_EQ(slurp(p + "/cgroup.procs"), std::to_string(child.pid()) + "\n") << p;
    }
    EXPECT_EQ(Cgroup::open_existing(name + "-nope").error().kind, ErrorKind::NotFound);
    EXPECT_TRUE(cg->remove().ok());
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(CgroupsTest, StaleEmptyGroupIsReplacedBusyOneRefused) {
    const std::string name = unique_name("stale");
    auto first = create_or_skip(name, Limits{});
    if (!first) LXBOX_SKIP(skip_reason_);
    Child child(sleep_forever);
    ASSERT_TRUE(first->add_process(child.pid()).ok());
    auto busy = Cgroup::create(name, Limits{});
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().kind, ErrorKind::Busy) << busy.error().message;
    EXPECT_TRUE(first->remove().ok());  // kills the child
    (void)child.wait();

    auto leftover = Cgroup::create(name, Limits{});
    ASSERT_TRUE(leftover.ok());
    auto paths = leftover->paths();
    leftover->release();  // as if lxbox crashed: the directories stay
    for (const auto& p : paths) EXPECT_TRUE(exists(p)) << p;
    auto again = Cgroup::create(name, Limits{});
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_TRUE(again->remove().ok());
    for (const auto& p : paths) EXPECT_FALSE(exists(p)) << p;
}

TEST_F(CgroupsTest, RootlessIsUnsupportedAndNamesTheHierarchy) {
    // As nobody, in a child so the test process keeps its identity.
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    UniqueFd out_read(out[0]), out_write(out[1]);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)
            ::_exit(2);
        auto cg = Cgroup::create(unique_name("rootless"), Limits{32ull << 20, std::nullopt, 8});
        std::string msg = cg.ok() ? "created" : cg.error().message;
        (void)!::write(out_write.get(), msg.data(), msg.size());
        ::_exit(cg.ok() ? 1 : cg.error().kind == ErrorKind::Unsupported ? 0 : 3);
    }
    out_write.reset();
    auto msg = read_all(out_read.get());
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(msg.ok());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << *msg;
    EXPECT_NE(msg->find("cannot write"), std::string::npos) << *msg;
    EXPECT_NE(msg->find("hierarchy"), std::string::npos) << *msg;
}

// The pure-v2 code path on a cgroup2 mount of our own (the test runs in a private mount
// namespace). On a hybrid host the v1 mounts hold every controller, so this tree has none:
// membership, add_process, cgroup.kill and removal are real; limits must fail clearly.
class CgroupsV2Tree : public CgroupsTest {
  protected:
    void SetUp() override {
        CgroupsTest::SetUp();
        if (IsSkipped()) return;
        if (::mount("none", scratch_.path().c_str(), "cgroup2", 0, nullptr) != 0)
            LXBOX_SKIP(std::string("cannot mount cgroup2: ") + std::strerror(errno));
        mounted_ = true;
        mounts_ = parse_cgroup_mounts(slurp("/proc/self/mountinfo"));
        // Only the tree mounted here: as if this were a pure-v2 host.
        CgroupMounts only_v2;
        only_v2.layout = Layout::V2;
        only_v2.v2_path = scratch_.path();
        only_v2.roots[scratch_.path()] = "/";
        mounts_ = only_v2;
        own_ = parse_proc_cgroup(slurp("/proc/self/cgroup"));
    }
    void TearDown() override {
        if (mounted_) ::umount2(scratch_.path().c_str(), MNT_DETACH);
    }
    test::ScratchDir scratch_;
    bool mounted_ = false;
    CgroupMounts mounts_;
    OwnCgroups own_;
};

TEST_F(CgroupsV2Tree, MembershipAndCgroupKill) {
    const std::string name = unique_name("v2");
    auto cg = Cgroup::create_in(mounts_, own_, name, Limits{});
    ASSERT_TRUE(cg.ok()) << cg.error().message;
    ASSERT_EQ(cg->paths().size(), 1u);
    const std::string dir = cg->paths()[0];
    EXPECT_TRUE(dir.starts_with(scratch_.path() + "/")) << dir;
    EXPECT_TRUE(dir.ends_with("/lxbox/" + name)) << dir;

    Child child(sleep_forever);
    Child joiner(sleep_forever);
    ASSERT_TRUE(cg->add_process(child.pid()).ok());
    auto joined = Cgroup::open_existing_in(mounts_, own_, name);
    ASSERT_TRUE(joined.ok()) << joined.error().message;
    ASSERT_TRUE(joined->add_process(joiner.pid()).ok());
    std::string proc = slurp("/proc/" + std::to_string(joiner.pid()) + "/cgroup");
    EXPECT_NE(proc.find("0::"), std::string::npos);
    EXPECT_NE(proc.find("/lxbox/" + name + "\n"), std::string::npos) << proc;
    EXPECT_NE(slurp(dir + "/cgroup.events").find("populated 1"), std::string::npos);

    ASSERT_TRUE(exists(dir + "/cgroup.kill")) << "kernel without cgroup.kill (< 5.14)";
    auto st = cg->remove();  // cgroup.kill, then rmdir
    EXPECT_TRUE(st.ok()) << st.error().message;
    EXPECT_FALSE(exists(dir));
    int a = child.wait(), b = joiner.wait();
    EXPECT_TRUE(WIFSIGNALED(a) && WTERMSIG(a) == SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(b) && WTERMSIG(b) == SIGKILL);
}

TEST_F(CgroupsV2Tree, MissingControllerFailsClearlyAndLeavesNothing) {
    const std::string name = unique_name("v2mem");
    auto cg =
        Cgroup::create_in(mounts_, own_, name, Limits{32ull << 20, std::nullopt, std::nullopt});
    if (slurp(scratch_.path() + "/cgroup.controllers").find("memory") != std::string::npos) {
        // A pure-v2 host: the controller is here, so the limit must land in memory.max.
        ASSERT_TRUE(cg.ok()) << cg.error().message;
        EXPECT_EQ(slurp(cg->paths().at(0) + "/memory.max"), "33554432\n");
        return;
    }
    ASSERT_FALSE(cg.ok());
    EXPECT_EQ(cg.error().kind, ErrorKind::Unsupported);
    EXPECT_NE(cg.error().message.find("controller memory is not available"), std::string::npos)
        << cg.error().message;
    std::string own_dir = scratch_.path() + (own_[""] == "/" ? "" : own_[""]);
    EXPECT_FALSE(exists(own_dir + "/lxbox/" + name));
}

}  // namespace
}  // namespace lxbox::cgroups

namespace lxbox::cgroups {
namespace {

// What a process may open and mknod under docker's device rules: the safe nodes, never another
// device (here /dev/loop-control, which root may open on the host), mknod of anything.
int device_probe() {
    int code = 0;
    int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) code |= 1;
    ::close(fd);
    fd = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (fd >= 0 || errno != EPERM) code |= 2;
    if (fd >= 0) ::close(fd);
    char node[64];
    std::snprintf(node, sizeof node, "/dev/shm/lxbox-probe-%d", static_cast<int>(::getpid()));
    if (::mknod(node, S_IFCHR | 0600, makedev(10, 237)) != 0) code |= 4;
    fd = ::open(node, O_RDWR | O_CLOEXEC);
    if (fd >= 0 || errno != EPERM) code |= 8;
    if (fd >= 0) ::close(fd);
    ::unlink(node);
    return code;
}

// The v2 path: the rules compiled to a BPF program on the cgroup (a hybrid host runs a v2
// cgroup's device programs as well as its v1 devices controller).
TEST_F(CgroupsV2Tree, DeviceProgramAllowsOnlyTheSafeDevices) {
    ASSERT_EQ(::access("/dev/loop-control", F_OK), 0) << "the probe needs /dev/loop-control";
    // Without the program the probe's device opens: otherwise this test would prove nothing.
    Child control(device_probe);
    control.go();
    int status = control.wait();
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status) & 2, 2) << "/dev/loop-control is not openable here at all";

    const std::string name = unique_name("v2dev");
    Limits limits;
    limits.devices = default_device_rules();
    auto cg = Cgroup::create_in(mounts_, own_, name, limits);
    ASSERT_TRUE(cg.ok()) << cg.error().message;
    Child probe(device_probe);
    ASSERT_TRUE(cg->add_process(probe.pid()).ok());
    probe.go();
    status = probe.wait();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: /dev/null refused, 2: loop-control opened, 4: mknod refused, "
                                         "8: the made node opened";
    EXPECT_TRUE(cg->remove().ok());
}

// The same rules through the host's own layout (v1 devices controller on v1 and hybrid).
TEST_F(CgroupsTest, DeviceRulesAllowOnlyTheSafeDevices) {
    const std::string name = unique_name("dev");
    Limits limits;
    limits.devices = default_device_rules();
    auto cg = create_or_skip(name, limits);
    if (!cg) LXBOX_SKIP(skip_reason_);
    Child probe(device_probe);
    ASSERT_TRUE(cg->add_process(probe.pid()).ok());
    probe.go();
    const int status = probe.wait();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: /dev/null refused, 2: loop-control opened, 4: mknod refused, "
                                         "8: the made node opened";
}

}  // namespace
}  // namespace lxbox::cgroups

namespace lxbox::cgroups {
namespace {

// `oci pause` on a pure-v2 host: cgroup.freeze, and cgroup.events reporting it.
TEST_F(CgroupsV2Tree, FreezeAndThaw) {
    const std::string name = unique_name("v2freeze");
    auto cg = Cgroup::create_in(mounts_, own_, name, Limits{});
    ASSERT_TRUE(cg.ok()) << cg.error().message;
    Child child(sleep_forever);
    ASSERT_TRUE(cg->add_process(child.pid()).ok());
    child.go();
    EXPECT_FALSE(is_frozen(cg->paths()));
    auto st = set_frozen(cg->paths(), true);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(is_frozen(cg->paths()));
    EXPECT_NE(slurp(cg->paths()[0] + "/cgroup.events").find("frozen 1"), std::string::npos);
    st = set_frozen(cg->paths(), false);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_FALSE(is_frozen(cg->paths()));
    EXPECT_TRUE(cg->remove().ok());
}

TEST_F(CgroupsTest, AGroupWithoutAFreezerCannotBePaused) {
    auto st = set_frozen({"/nonexistent/lxbox"}, true);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::Unsupported);
    EXPECT_FALSE(is_frozen({"/nonexistent/lxbox"}));
}

}  // namespace
}  // namespace lxbox::cgroups
