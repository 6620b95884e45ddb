// Rootless mode, as an ordinary user types it: real unprivileged users are created for the
// suite (one with a subordinate id range, one without) and run the copied lxbox binary with
// setpriv. No sudo, no capabilities: only the user namespace lxbox makes.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_users.hpp"

namespace lxbox::test {
namespace {

constexpr uint32_t kSubIdStart = 1500000000;

class RootlessCli : public ::testing::Test {
protected:
    static inline TestUser ranged{"lxbox-rl-" + std::to_string(::getpid()) + "a", kSubIdStart};
    static inline TestUser plain{"lxbox-rl-" + std::to_string(::getpid()) + "b", 0};
    static inline bool users_ready = false;

    static void SetUpTestSuite() {
        if (::geteuid() != 0) return;
        users_ready = make_user(ranged) && make_user(plain);
    }
    static void TearDownTestSuite() {
        delete_user(ranged);
        delete_user(plain);
    }

    ScratchDir dir;
    std::string lxbox = dir / "bin/lxbox";
    std::string tarball = dir / "share/lxbox/busybox-rootfs.tar";
    std::vector<pid_t> spawned;

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (to create the unprivileged test users)");
        ASSERT_TRUE(users_ready);
        // The users must reach the binary, the tarball and their stores wherever the build
        // tree lives: copies in a scratch dir they may traverse, owned by root.
        ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
        ASSERT_EQ(run({"install", "-D", "-m", "0755", LXBOX_BINARY, lxbox}).exit_code, 0);
        // Where an installed lxbox finds its embedded default distro.
        ASSERT_EQ(run({"install", "-D", "-m", "0644", busybox_tarball(), tarball}).exit_code, 0);
        for (const auto* u : {&ranged, &plain}) {
            const std::string store = dir / u->name;
            ASSERT_EQ(::mkdir(store.c_str(), 0700), 0);
            ASSERT_EQ(::chown(store.c_str(), u->uid, u->uid), 0);
        }
    }
    void TearDown() override {
        for (pid_t p : spawned) {
            ::kill(p, SIGKILL);
            ::waitpid(p, nullptr, 0);
        }
        // What the users left running: their stores' user namespace holders, above all.
        for (const auto* u : {&ranged, &plain}) {
            run({"pkill", "-KILL", "-u", std::to_string(u->uid)});
            for (int i = 0; i < 200 && run({"pgrep", "-u", std::to_string(u->uid)}).exit_code == 0; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            EXPECT_NE(run({"pgrep", "-u", std::to_string(u->uid)}).exit_code, 0)
                << run({"ps", "-u", std::to_string(u->uid), "-o", "pid,ppid,stat,args"}).out;
        }
    }
    // The pid in a store's user namespace holder record, 0 without one.
    int holder_pid(const TestUser& u) {
        auto text = run({"cat", dir / (u.name + "/userns-holder.json")}).out;
        auto j = nlohmann::json::parse(text, nullptr, false);
        return j.is_object() ? j.value("pid", 0) : 0;
    }

    std::vector<std::string> as(const TestUser& u, const std::vector<std::string>& args) {
        std::vector<std::string> argv = {lxbox, "--root", dir / u.name};
        argv.insert(argv.end(), args.begin(), args.end());
        return as_user(u, argv);
    }
    CommandResult lx(const TestUser& u, const std::vector<std::string>& args, const std::string& input = {}) {
        return run(as(u, args), input);
    }
    void import_busybox(const TestUser& u) {
        auto r = lx(u, {"import", "bb", tarball});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    pid_t spawn(const TestUser& u, const std::vector<std::string>& args) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            int null = ::open("/dev/null", O_RDWR);
            for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
            auto argv = as(u, args);
            std::vector<char*> c;
            for (auto& a : argv) c.push_back(a.data());
            c.push_back(nullptr);
            ::execvp(c[0], c.data());
            ::_exit(127);
        }
        spawned.push_back(pid);
        return pid;
    }
    std::string state_of(const TestUser& u, const std::string& name) {
        auto r = lx(u, {"ps", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        for (auto& c : nlohmann::json::parse(r.out))
            if (c["name"] == name) return c["state"];
        return "";
    }
    bool wait_state(const TestUser& u, const std::string& name, const std::string& state) {
        for (int i = 0; i < 500; ++i) {
            if (state_of(u, name) == state) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
};

// `lxbox oci` of a user without $XDG_RUNTIME_DIR keeps its states in /tmp/lxbox-UID: made 0700
// when missing, used only when it is the user's own and private. Anyone may make it first in
// /tmp (it was used whoever had made it, and planted states read from it).
TEST_F(RootlessCli, OciStatesOutsideXdgRuntimeDirAreInAPrivateDirectoryOfTheUsersOwn) {
    const std::string fallback = "/tmp/lxbox-" + std::to_string(plain.uid);
    run({"rm", "-rf", fallback});
    ASSERT_EQ(::mkdir(fallback.c_str(), 0777), 0);  // root's, and anyone's to write
    ASSERT_EQ(::chmod(fallback.c_str(), 0777), 0);
    auto squatted = run(as_user(plain, {lxbox, "oci", "state", "x"}));
    EXPECT_EQ(squatted.exit_code, 1);  // runc's status for its own errors
    EXPECT_EQ(squatted.err, "lxbox: " + fallback + " is not a directory of this user's that only it can use "
                            "(set XDG_RUNTIME_DIR, or --root)\n");
    ASSERT_EQ(::rmdir(fallback.c_str()), 0);
    ASSERT_EQ(::symlink(dir.path().c_str(), fallback.c_str()), 0);  // a link to elsewhere: refused too
    EXPECT_EQ(run(as_user(plain, {lxbox, "oci", "state", "x"})).exit_code, 1);
    ASSERT_EQ(::unlink(fallback.c_str()), 0);
    auto made = run(as_user(plain, {lxbox, "oci", "state", "x"}));
    EXPECT_EQ(made.err, "lxbox: state x: container 'x' does not exist\n");
    struct stat st {};
    ASSERT_EQ(::lstat(fallback.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_uid, plain.uid);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    run({"rm", "-rf", fallback});
}

TEST_F(RootlessCli, AnOrdinaryUserImportsLaunchesExecsStopsAndRemoves) {
    import_busybox(ranged);
    // Root inside is the user outside; ids 1.. are its subordinate range.
    auto r = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", "id -u; echo $(cat /proc/self/uid_map)"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "0\n0 " + std::to_string(ranged.uid) + " 1 1 " + std::to_string(kSubIdStart) + " 65536\n");

    spawn(ranged, {"launch", "bb", "--name", "c1", "--", "sh", "-c", "echo kept > /root/f; exec sleep 60"});
    ASSERT_TRUE(wait_state(ranged, "c1", "running"));
    r = lx(ranged, {"exec", "c1", "--", "sh", "-c", "cat /root/f; id -u; hostname; ps -o comm | grep -c sleep"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "kept\n0\nc1\n1\n");
    // A second launch of a running container opens another process in it, as root does.
    r = lx(ranged, {"launch", "c1", "--", "cat", "/root/f"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "kept\n");
    r = lx(ranged, {"stop", "-t", "1", "c1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(state_of(ranged, "c1"), "stopped");
    // What the container wrote persists, and stays out of the image.
    r = lx(ranged, {"launch", "c1", "--", "cat", "/root/f"});
    EXPECT_EQ(r.out, "kept\n");
    r = lx(ranged, {"launch", "bb", "--rm", "--", "ls", "/root/f"});
    EXPECT_NE(r.exit_code, 0);
    r = lx(ranged, {"rm", "c1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(run({"ls", "-A", dir / (ranged.name + "/containers")}).out, "");
}

TEST_F(RootlessCli, FilesOfTheContainersUsersGetSubordinateIdsAndRmStillRemovesThem) {
    import_busybox(ranged);
    auto r = lx(ranged, {"launch", "bb", "--name", "c2", "--", "sh", "-c",
                         "mkdir -p /home/u && echo secret > /home/u/f && chown -R 1000:1000 /home/u && chmod 700 /home/u"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat((dir / (ranged.name + "/containers/c2/upper/home/u")).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kSubIdStart + 999);  // container uid 1000 = host id start + 999
    EXPECT_EQ(st.st_gid, kSubIdStart + 999);
    r = lx(ranged, {"launch", "c2", "-u", "1000:1000", "--", "sh", "-c", "id -u; cat /home/u/f"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "1000\nsecret\n");
    // The user itself may not delete files of its subordinate ids; rm does it as root of a
    // user namespace with the container's maps.
    r = lx(ranged, {"rm", "c2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(run({"ls", "-A", dir / (ranged.name + "/containers")}).out, "");
}

TEST_F(RootlessCli, WithoutSubordinateIdsRootWorksAndAnotherUserGetsOneClearLine) {
    import_busybox(plain);
    auto r = lx(plain, {"launch", "bb", "--rm", "--", "sh", "-c", "id -u; cat /proc/self/setgroups"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "0\ndeny\n");
    r = lx(plain, {"launch", "bb", "--rm", "-u", "1000", "--", "true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(r.err, "lxbox: launch bb: user 1000 (uid 1000) has no host id in this rootless container: give "
                     "your user a range in /etc/subuid (usermod --add-subuids/--add-subgids) and install "
                     "package uidmap\n");
    // A pty works without the tty group mapped.
    r = lx(plain, {"launch", "bb", "--rm", "-t", "--", "sh", "-c", "tty"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos);
}

// boot.systemd runs as root only: systemd needs a cgroup tree of its own, which a rootless lxbox
// does not set up. A rootless launch of such a distro says so in one line and starts nothing;
// the distro stays usable once the setting is turned off.
TEST_F(RootlessCli, BootSystemdIsRefusedInOneLineAndStartsNothing) {
    import_busybox(ranged);
    ASSERT_EQ(lx(ranged, {"config", "set", "--distro", "bb", "boot.systemd", "true"}).exit_code, 0);
    auto r = lx(ranged, {"launch", "bb", "--name", "sd", "--", "true"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err, "lxbox: boot.systemd runs containers as root only so far: systemd needs a cgroup tree of its "
                     "own, which a rootless lxbox does not set up (lxbox config set --distro bb boot.systemd false, "
                     "or run lxbox as root)\n");
    EXPECT_EQ(state_of(ranged, "sd"), "") << "no container is made";
    ASSERT_EQ(lx(ranged, {"config", "set", "--distro", "bb", "boot.systemd", "false"}).exit_code, 0);
    r = lx(ranged, {"launch", "bb", "--rm", "--", "echo", "ran"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "ran\n");
}

TEST_F(RootlessCli, TheContainerIsHardenedAndTheHostStaysOutOfReach) {
    import_busybox(ranged);
    auto r = lx(ranged, {"launch", "bb", "--rm", "--network", "none", "--", "sh", "-c",
                         "grep CapEff /proc/self/status; ls /sys/class/net; echo x > /dev/null && "
                         "head -c 4 /dev/urandom | wc -c; mount -t tmpfs t /mnt 2>&1 || echo refused"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("CapEff:\t00000000a80405fb\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nlo\n4\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("refused"), std::string::npos) << r.out;
    // The host's root is not reachable, and the host's own files are not in the container.
    r = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", "ls " + dir.path() + " 2>&1; echo $?"});
    EXPECT_NE(r.out.find("No such file"), std::string::npos) << r.out;
    // Masked paths hold for a rootless container too.
    ASSERT_NE(run({"sh", "-c", "cat /proc/timer_list | wc -c"}).out, "0\n");
    r = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", "cat /proc/timer_list | wc -c"});
    EXPECT_EQ(r.out, "0\n");
}

TEST_F(RootlessCli, LimitsWithoutADelegatedCgroupAreAWarningNotAFailure) {
    import_busybox(ranged);
    auto r = lx(ranged, {"launch", "bb", "--rm", "--memory", "64m", "--", "echo", "ran"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "ran\n");
    // Where the system delegated a cgroup to the user the limit applies; elsewhere (this
    // machine: a v1/v2 hybrid with no user delegation) one warning line says it does not.
    if (r.err.empty()) {
        auto limit = lx(ranged, {"launch", "bb", "--rm", "--memory", "64m", "--", "sh", "-c",
                                 "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"});
        EXPECT_EQ(limit.out, "67108864\n");
    } else {
        EXPECT_TRUE(r.err.starts_with("lxbox: warning: no cgroup for the container (")) << r.err;
        EXPECT_TRUE(r.err.ends_with(": --memory, --cpus and --pids-limit are not applied\n")) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
    }
}

TEST_F(RootlessCli, LaunchesShareAUserNamespaceHeldForTheUserUntilShutdown) {
    import_busybox(ranged);
    const std::string probe = "readlink /proc/self/ns/user; echo $(cat /proc/self/uid_map)";
    auto first = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", probe});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_NE(first.out.find("\n0 " + std::to_string(ranged.uid) + " 1 1 " + std::to_string(kSubIdStart) + " 65536\n"),
              std::string::npos) << first.out;
    auto second = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", probe});
    EXPECT_EQ(second.out, first.out) << "a second launch made a user namespace of its own";
    // The holder: the user's own process, holding that namespace, with nothing of ours open.
    const int holder = holder_pid(ranged);
    ASSERT_GT(holder, 0);
    const std::string proc = "/proc/" + std::to_string(holder);
    EXPECT_EQ(run({"cat", proc + "/comm"}).out, "lxbox-userns\n");
    EXPECT_EQ(run({"stat", "-c", "%u", proc}).out, std::to_string(ranged.uid) + "\n");
    EXPECT_EQ(run({"readlink", proc + "/ns/user"}).out, first.out.substr(0, first.out.find('\n') + 1));
    EXPECT_EQ(run({"sh", "-c", "ls " + proc + "/fd | wc -l"}).out, "3\n");
    // A kept container in it, and an exec into that: the same namespace.
    spawn(ranged, {"launch", "bb", "--name", "k", "--", "sleep", "60"});
    ASSERT_TRUE(wait_state(ranged, "k", "running"));
    auto ex = lx(ranged, {"exec", "k", "--", "sh", "-c", probe});
    EXPECT_EQ(ex.out, first.out) << ex.err;
    // Without subordinate ids the user maps itself alone, with no setuid helper: no holder.
    import_busybox(plain);
    ASSERT_EQ(lx(plain, {"launch", "bb", "--rm", "--", "true"}).exit_code, 0);
    EXPECT_EQ(holder_pid(plain), 0);
    // shutdown ends it (the running container keeps its namespace until it stops).
    auto r = lx(ranged, {"shutdown", "-t", "1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
        gone = ::kill(holder, 0) != 0;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(gone);
    EXPECT_EQ(holder_pid(ranged), 0);
    // One killed from outside is replaced by the next launch.
    ASSERT_EQ(lx(ranged, {"launch", "bb", "--rm", "--", "true"}).exit_code, 0);
    const int next = holder_pid(ranged);
    ASSERT_GT(next, 0);
    ASSERT_EQ(::kill(next, SIGKILL), 0);
    for (int i = 0; i < 200 && ::kill(next, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", probe});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(holder_pid(ranged), next);
}

// Where the kernel refuses overlayfs in a user namespace (before Linux 5.11) a rootless
// container's root is mounted with fuse-overlayfs; storage.overlay fuse asks for that on any
// kernel, which is how this one (5.11+) is made to take that path.
TEST_F(RootlessCli, FuseOverlayfsMountsTheRootWhenAskedOrWhereOverlayfsIsRefused) {
    if (run({"sh", "-c", "command -v fuse-overlayfs"}).exit_code != 0)
        LXBOX_SKIP("needs fuse-overlayfs (tools/setup --test installs it)");
    // udev makes /dev/fuse 0666; this machine has none. A node of its own with that mode, over
    // /dev/fuse in the suite's private mount namespace only.
    struct stat fuse {};
    ASSERT_EQ(::stat("/dev/fuse", &fuse), 0);
    // Undone however the test ends (the scratch dir cannot go while the tmpfs is on it).
    struct DeviceOverlay {
        std::string dir;
        bool tmpfs = false, bound = false;
        ~DeviceOverlay() {
            if (bound) EXPECT_EQ(run({"umount", "/dev/fuse"}).exit_code, 0);
            if (tmpfs) EXPECT_EQ(run({"umount", dir}).exit_code, 0);
        }
    } device{dir / "dev"};
    if ((fuse.st_mode & 0666) != 0666) {
        ASSERT_EQ(run({"mkdir", "-p", device.dir}).exit_code, 0);
        ASSERT_EQ(run({"mount", "-t", "tmpfs", "-o", "mode=755", "lxbox-test-dev", device.dir}).exit_code, 0);
        device.tmpfs = true;
        ASSERT_EQ(run({"mknod", "-m", "666", device.dir + "/fuse", "c", "10", "229"}).exit_code, 0);
        ASSERT_EQ(run({"mount", "--bind", device.dir + "/fuse", "/dev/fuse"}).exit_code, 0);
        device.bound = true;
    }
    import_busybox(ranged);
    auto r = lx(ranged, {"config", "set", "storage.overlay", "fuse"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c",
                    "grep ' / / ' /proc/self/mountinfo | grep -o ' - [^ ]*'; echo hi > /tmp/x && cat /tmp/x"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, " - fuse.fuse-overlayfs\nhi\n");
    // A kept container: its changes land in its upper directory on disk and outlive it; the
    // container's other users reach its root too (allow_other).
    r = lx(ranged, {"launch", "bb", "--name", "f1", "--", "sh", "-c", "echo kept > /f; mkdir /home/u && chown 1000 /home/u"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = lx(ranged, {"launch", "f1", "-u", "1000", "--", "sh", "-c", "cat /f; echo mine > /home/u/g; cat /home/u/g"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "kept\nmine\n");
    struct stat st {};
    ASSERT_EQ(::stat((dir / (ranged.name + "/containers/f1/upper/home/u/g")).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kSubIdStart + 999);
    // The FUSE daemon lives in the container's pid namespace and ends with it.
    EXPECT_NE(run({"pgrep", "-u", std::to_string(ranged.uid), "fuse-overlayfs"}).exit_code, 0)
        << run({"ps", "-u", std::to_string(ranged.uid), "-o", "pid,args"}).out;
    r = lx(ranged, {"rm", "f1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // auto: the kernel's overlayfs wherever it mounts (here); a bad value is one line.
    ASSERT_EQ(lx(ranged, {"config", "set", "storage.overlay", "auto"}).exit_code, 0);
    r = lx(ranged, {"launch", "bb", "--rm", "--", "sh", "-c", "grep ' / / ' /proc/self/mountinfo | grep -o ' - [^ ]*'"});
    EXPECT_EQ(r.out, " - overlay\n") << r.err;
    r = lx(ranged, {"config", "set", "storage.overlay", "zfs"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("'zfs' is not auto, kernel or fuse"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// A rootless store's layers: whiteouts made without CAP_MKNOD (Linux 5.8), opaque directories
// marked with user.overlay.opaque, and the layer stack mounted with userxattr in the user's
// namespace.
TEST_F(RootlessCli, AnOrdinaryUserImportsAndLaunchesAnImageOfLayers) {
    OciImage img;
    img.layers.push_back({{}, TarFilter::None, tarball});
    img.layers.push_back({{dir_entry("a"), file_entry("a/x", "x"), file_entry("a/y", "y"), dir_entry("b"),
                           file_entry("b/z", "z")}});
    img.layers.push_back({{file_entry("a/.wh.x", ""), dir_entry("b"), file_entry("b/.wh..wh..opq", ""),
                           file_entry("b/new", "new")}, TarFilter::Zstd});
    const std::string layout = dir / "layout";
    write_oci_layout(layout, img);
    ASSERT_EQ(run({"chmod", "-R", "a+rX", layout}).exit_code, 0);
    auto r = lx(ranged, {"import", "img", layout});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = lx(ranged, {"launch", "--rm", "img", "--", "sh", "-c", "ls /a /b; id -u"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "/a:\ny\n\n/b:\nnew\n0\n");
}

}  // namespace
}  // namespace lxbox::test
