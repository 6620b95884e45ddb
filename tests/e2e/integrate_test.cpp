// Integrated containers (issue 20) through the built CLI: the command runs as the invoking host
// user (as root, and as an unprivileged user with and without a subordinate id range), with the
// home shared and files it makes owned by that user on the host; a real X client from Debian
// draws on the host's Xvfb; and the per-distro settings round-trip and refuse bad values.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <tuple>
#include <sstream>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_users.hpp"

namespace lxbox::test {
namespace {

std::string slurp(const std::string& path) {
    auto text = read_file(path);
    return text ? *text : std::string();
}

uid_t owner_of(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

class IntegrateCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (test users, Xvfb, the Debian fixture)");
        ASSERT_EQ(run_lxbox(root, {"import", "bb", busybox_tarball()}).exit_code, 0);
    }
};

TEST_F(IntegrateCli, AsRootTheCommandRunsAsRootWithTheHomeSharedAndTheHostsFiles) {
    const std::string home = dir / "roothome";
    ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
    auto r = run({"env", "HOME=" + home, "LANG=C.UTF-8", LXBOX_BINARY, "--root", root, "launch", "--rm", "--integrate",
                  "bb", "--", "sh", "-c", "id -un; id -u; id -g; echo $HOME; echo $LANG; touch $HOME/made-inside; cat /etc/hosts"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream out(r.out);
    std::string name, uid, gid, h, lang;
    out >> name >> uid >> gid >> h >> lang;
    EXPECT_EQ(name, "root");
    EXPECT_EQ(uid, "0");
    EXPECT_EQ(gid, "0");
    EXPECT_EQ(h, home);
    EXPECT_EQ(lang, "C.UTF-8");
    EXPECT_EQ(owner_of(home + "/made-inside"), 0u);
    EXPECT_NE(r.out.find(slurp("/etc/hosts")), std::string::npos) << r.out;
    // Plain launch stays isolated: the home is not there.
    auto plain = run({"env", "HOME=" + home, LXBOX_BINARY, "--root", root, "launch", "--rm", "bb", "--", "ls", home});
    EXPECT_NE(plain.exit_code, 0) << plain.out;
}

// A test user's primary group (a system user's gid need not be its uid).
gid_t gid_of(const TestUser& u) {
    const struct passwd* pw = ::getpwnam(u.name.c_str());
    return pw ? pw->pw_gid : static_cast<gid_t>(-1);
}

class IntegrateRootless : public IntegrateCli {
protected:
    static inline TestUser ranged{"lxbox-ig-" + std::to_string(::getpid()) + "a", 1600000000};
    static inline TestUser plain{"lxbox-ig-" + std::to_string(::getpid()) + "b", 0};
    static inline bool users_ready = false;
    static void SetUpTestSuite() {
        if (::geteuid() == 0) users_ready = make_user(ranged) && make_user(plain);
    }
    static void TearDownTestSuite() {
        delete_user(ranged);
        delete_user(plain);
    }
    std::string lxbox = dir / "bin/lxbox";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (to create the unprivileged test users)");
        ASSERT_TRUE(users_ready);
        ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
        ASSERT_EQ(run({"install", "-D", "-m", "0755", LXBOX_BINARY, lxbox}).exit_code, 0);
        // bb.tar to import, and where an installed lxbox finds its embedded default distro.
        ASSERT_EQ(run({"install", "-D", "-m", "0644", busybox_tarball(), dir / "bb.tar"}).exit_code, 0);
        ASSERT_EQ(run({"install", "-D", "-m", "0644", busybox_tarball(), dir / "share/lxbox/busybox-rootfs.tar"}).exit_code, 0);
        for (const auto* u : {&ranged, &plain}) {
            for (const std::string& d : {dir / u->name, dir / (u->name + "-home")}) {
                ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
                ASSERT_EQ(::chown(d.c_str(), u->uid, gid_of(*u)), 0);
            }
        }
    }
    void TearDown() override {
        for (const auto* u : {&ranged, &plain}) {
            run({"pkill", "-KILL", "-u", std::to_string(u->uid)});
            for (int i = 0; i < 200 && run({"pgrep", "-u", std::to_string(u->uid)}).exit_code == 0; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    CommandResult lx(const TestUser& u, const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"env", "HOME=" + dir / (u.name + "-home"), lxbox, "--root", dir / u.name};
        argv.insert(argv.end(), args.begin(), args.end());
        // From the home: the cwd is kept where it is shared.
        auto a = as_user(u, argv);
        a.insert(a.begin(), {"sh", "-c", "cd \"$0\" && exec \"$@\"", dir / (u.name + "-home")});
        return run(a);
    }
};

TEST_F(IntegrateRootless, AnUnprivilegedUserIsThemselvesInsideAndTheirFilesStayTheirs) {
    ASSERT_EQ(lx(ranged, {"import", "bb", dir / "bb.tar"}).exit_code, 0);
    const std::string home = dir / (ranged.name + "-home");
    auto r = lx(ranged, {"launch", "--integrate", "--name", "mine", "bb", "--", "sh", "-c",
                         "id -un; id -u; id -g; echo $HOME; pwd; touch $HOME/made-inside"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream out(r.out);
    std::string name, uid, gid, h, cwd;
    out >> name >> uid >> gid >> h >> cwd;
    EXPECT_EQ(name, ranged.name);
    EXPECT_EQ(uid, std::to_string(ranged.uid));
    EXPECT_EQ(gid, std::to_string(gid_of(ranged)));
    EXPECT_EQ(h, home);
    EXPECT_EQ(cwd, home);
    EXPECT_EQ(owner_of(home + "/made-inside"), ranged.uid);
    // The first-run account lives in the container's upper layer, never in the image.
    const std::string upper = slurp(dir / (ranged.name + "/containers/mine/upper/etc/passwd"));
    EXPECT_NE(upper.find(ranged.name + ":x:" + std::to_string(ranged.uid)), std::string::npos) << upper;
    EXPECT_EQ(slurp(dir / (ranged.name + "/images/bb/rootfs/etc/passwd")).find(ranged.name), std::string::npos);
    // A second launch finds the account made and the container's root is still root.
    auto again = lx(ranged, {"launch", "--name", "mine", "bb", "--", "id", "-un"});
    EXPECT_EQ(again.out, ranged.name + "\n") << again.err;
    auto as_root = lx(ranged, {"launch", "-u", "root", "--name", "mine", "bb", "--", "id", "-u"});
    EXPECT_EQ(as_root.out, "0\n") << as_root.err;
    // Made integrated, it stays so.
    auto isolated = lx(ranged, {"launch", "--isolated", "--name", "mine", "bb", "--", "true"});
    EXPECT_EQ(isolated.exit_code, 125);
    EXPECT_EQ(isolated.err, "lxbox: container 'mine' was made integrated: give another with --name\n");
    EXPECT_EQ(lx(ranged, {"rm", "mine"}).exit_code, 0);
}

TEST_F(IntegrateRootless, TheBootCommandRunsAsTheContainersRootBesideTheUsersCommand) {
    ASSERT_EQ(lx(ranged, {"import", "bb", dir / "bb.tar"}).exit_code, 0);
    ASSERT_EQ(lx(ranged, {"config", "set", "--distro", "bb", "boot.command", "id -u > /tmp/boot-mark"}).exit_code, 0);
    // In a user namespace of its own it runs beside the command, which waits for its mark.
    auto r = lx(ranged, {"launch", "--rm", "--integrate", "bb", "--", "sh", "-c",
                         "for i in $(seq 200); do [ -s /tmp/boot-mark ] && break; sleep 0.05; done; "
                         "cat /tmp/boot-mark; id -u"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "0\n" + std::to_string(ranged.uid) + "\n") << r.err;
}

TEST_F(IntegrateRootless, WithoutASubordinateRangeItIsRefusedInOneLine) {
    ASSERT_EQ(lx(plain, {"import", "bb", dir / "bb.tar"}).exit_code, 0);
    auto r = lx(plain, {"launch", "--rm", "--integrate", "bb", "--", "true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("subordinate id range"), std::string::npos) << r.err;
}

TEST_F(IntegrateCli, DistroSettingsRoundTripAndBadValuesAreRefused) {
    auto set = [&](const std::string& k, const std::string& v) {
        return run_lxbox(root, {"config", "set", "--distro", "bb", k, v});
    };
    ASSERT_EQ(set("user.default", "nobody").exit_code, 0);
    ASSERT_EQ(set("vm.host-mount", "/mnt/host").exit_code, 0);
    ASSERT_EQ(set("boot.command", "echo hi").exit_code, 0);
    EXPECT_EQ(run_lxbox(root, {"config", "get", "--distro", "bb", "vm.host-mount"}).out, "/mnt/host\n");
    EXPECT_EQ(run_lxbox(root, {"config", "get", "--distro", "bb", "boot.command"}).out, "echo hi\n");
    auto list = run_lxbox(root, {"config", "list", "--distro", "bb", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("\"user.default\""), std::string::npos);
    // The default user is who commands run as.
    EXPECT_EQ(run_lxbox(root, {"launch", "--rm", "bb", "--", "id", "-un"}).out, "nobody\n");
    const std::string before = slurp(root + "/registry.json");
    for (const auto& [k, v, msg] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"integration", "yes", "'yes' is not true or false"},
             {"boot.systemd", "on", "'on' is not true or false"},
             {"vm.host-mount", "/etc/host", "'/etc/host' would cover the guest's /etc"},
             {"user.default", "a b", "'a b' is not a user name or uid"}}) {
        auto r = set(k, v);
        EXPECT_EQ(r.exit_code, 125);
        EXPECT_EQ(r.err, "lxbox: config set " + k + ": " + msg + "\n");
    }
    auto unknown = run_lxbox(root, {"config", "set", "--distro", "nosuch", "integration", "true"});
    EXPECT_EQ(unknown.err, "lxbox: config set integration: no distro named 'nosuch'\n");
    EXPECT_EQ(slurp(root + "/registry.json"), before);
    ASSERT_EQ(run_lxbox(root, {"config", "unset", "--distro", "bb", "user.default"}).exit_code, 0);
    EXPECT_EQ(run_lxbox(root, {"config", "get", "--distro", "bb", "user.default"}).out, "root\n");
    // integration=true: a plain launch of the distro is integrated, --isolated is not.
    ASSERT_EQ(set("integration", "true").exit_code, 0);
    const std::string home = dir / "h";
    ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
    auto in = run({"env", "HOME=" + home, LXBOX_BINARY, "--root", root, "launch", "--rm", "bb", "--", "sh", "-c",
                   "echo $HOME; ls -d $HOME"});
    EXPECT_EQ(in.out, home + "\n" + home + "\n") << in.err;
    auto out = run({"env", "HOME=" + home, LXBOX_BINARY, "--root", root, "launch", "--rm", "--isolated", "bb", "--",
                    "ls", "-d", home});
    EXPECT_NE(out.exit_code, 0);
}

TEST_F(IntegrateCli, TheBootCommandRunsAsRootWhenAContainerStarts) {
    ASSERT_EQ(run_lxbox(root, {"config", "set", "--distro", "bb", "boot.command", "id -u > /tmp/boot-mark"}).exit_code, 0);
    ASSERT_EQ(run_lxbox(root, {"config", "set", "--distro", "bb", "user.default", "nobody"}).exit_code, 0);
    // It has run to its end when the command starts.
    auto r = run_lxbox(root, {"launch", "--rm", "bb", "--", "sh", "-c", "cat /tmp/boot-mark; id -un"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "0\nnobody\n") << r.err;
    // A failing boot command is a warning; the command still runs, however short it is.
    ASSERT_EQ(run_lxbox(root, {"config", "set", "--distro", "bb", "boot.command", "exit 3"}).exit_code, 0);
    for (int i = 0; i < 20; ++i) {
        auto w = run_lxbox(root, {"launch", "--rm", "bb", "--", "true"});
        EXPECT_EQ(w.exit_code, 0);
        EXPECT_EQ(w.err, "lxbox: warning: boot.command: 'exit 3' exited 3\n");
    }
    // A daemon it leaves in the background runs beside the command. (Its pid is written when it
    // is forked; its comm would be `sleep` only once it has exec'd, which may be later.)
    ASSERT_EQ(run_lxbox(root, {"config", "set", "--distro", "bb", "boot.command", "sleep 600 & echo $! > /tmp/d.pid"})
                  .exit_code,
              0);
    auto d = run_lxbox(root, {"launch", "--rm", "bb", "--", "sh", "-c", "test -d /proc/$(cat /tmp/d.pid) && echo up"});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    EXPECT_EQ(d.out, "up\n") << d.err;
}

TEST_F(IntegrateCli, ACwdOutsideTheHomeIsKeptWhereTheContainerHasItElseItStartsInTheHome) {
    const std::string home = dir / "cwdhome", only_here = dir / "only-on-the-host";
    ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(only_here.c_str(), 0700), 0);
    // As distrobox: the container's own /etc (the host's is not bound over it), and the home
    // for a directory the container lacks.
    for (const auto& [from, expected] : std::vector<std::pair<std::string, std::string>>{
             {"/etc", "/etc"}, {only_here, home}, {home, home}}) {
        auto r = run({"sh", "-c", "cd \"$0\" && exec \"$@\"", from, "env", "HOME=" + home, LXBOX_BINARY, "--root", root,
                      "launch", "--rm", "--integrate", "bb", "--", "pwd"});
        EXPECT_EQ(r.out, expected + "\n") << from << ": " << r.err;
    }
}

// A real X client from Debian (xmessage, x11-utils, in the fixture tools/fixtures/debian-x11.sh
// builds) draws on an Xvfb the test starts on the host; the host sees its window.
class IntegrateX11 : public IntegrateCli {
protected:
    pid_t xvfb = -1, client = -1;
    std::string display;
    void TearDown() override {
        for (pid_t p : {client, xvfb}) {
            if (p <= 0) continue;
            ::kill(p, SIGTERM);
            ::waitpid(p, nullptr, 0);
        }
    }
    pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::setpgid(0, 0);
            for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
            std::vector<char*> c;
            for (const auto& a : argv) c.push_back(const_cast<char*>(a.c_str()));
            c.push_back(nullptr);
            ::execvp(c[0], c.data());
            ::_exit(127);
        }
        return pid;
    }
    bool window_shown() {
        auto tree = run({"xwininfo", "-root", "-tree", "-display", display});
        return tree.out.find("lxbox-x11-test") != std::string::npos;
    }
};

TEST_F(IntegrateX11, AnXClientInADebianContainerDrawsOnTheHostsDisplay) {
    const std::string fixture = std::string(LXBOX_BUILD_DIR) + "/fixtures/debian-x11-rootfs.tar";
    ASSERT_EQ(run({std::string(LXBOX_SOURCE_DIR) + "/tools/fixtures/debian-x11.sh", fixture}).exit_code, 0);
    auto imp = run_lxbox(root, {"import", "dx", fixture});
    ASSERT_EQ(imp.exit_code, 0) << imp.err;
    // A display number of this test's own (the pid keeps parallel runs apart).
    display = ":" + std::to_string(200 + ::getpid() % 500);
    xvfb = spawn({"Xvfb", display, "-screen", "0", "320x240x24", "-nolisten", "tcp"}, {});
    bool up = false;
    for (int i = 0; i < 500 && !up; ++i) {
        up = run({"xwininfo", "-root", "-display", display}).exit_code == 0;
        if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(up) << "Xvfb did not start on " << display;
    // Screenshots of the whole screen as xwd dumps (header, colormap, then the pixels).
    const std::string blank = dir / "blank.xwd", shot = dir / "shot.xwd";
    ASSERT_EQ(run({"xwd", "-root", "-silent", "-display", display, "-out", blank}).exit_code, 0);
    client = spawn({LXBOX_BINARY, "--root", root, "launch", "--rm", "--integrate", "dx", "--", "xmessage", "-name",
                    "lxbox-x11-test", "-geometry", "200x100+10+10", "hello from the container"},
                   {"DISPLAY=" + display, "HOME=" + dir.path()});
    bool shown = false;
    for (int i = 0; i < 1500 && !shown; ++i) {
        shown = window_shown();
        if (!shown) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(shown) << run({"xwininfo", "-root", "-tree", "-display", display}).out;
    ASSERT_EQ(run({"xwd", "-root", "-silent", "-display", display, "-out", shot}).exit_code, 0);
    // The screenshot differs from the blank root in the window's pixels: a 200x100 window
    // with its text and border changes far more than a thousand bytes of the dump.
    auto diff = run({"sh", "-c", "cmp -l \"$0\" \"$1\" | wc -l", blank, shot});
    ASSERT_EQ(diff.exit_code, 0) << diff.err;
    EXPECT_GT(std::stol(diff.out), 1000) << diff.out;
}

}  // namespace
}  // namespace lxbox::test
