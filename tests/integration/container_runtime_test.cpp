// The native runtime for real: namespaces, overlay root, init, exit codes, users, isolation.
#include <sys/mount.h>
#include <sys/wait.h>

#include <fstream>

#include "runtime/base/unique_fd.hpp"
#include "tests/integration/container_fixture.hpp"

namespace lxbox::test {
namespace {

using ContainerRuntime = ContainerFixture;

TEST_F(ContainerRuntime, CommandRunsAsChildOfInitAndSeesOnlyItsOwnProcesses) {
    auto r = sh(spec("pid"), "echo $$; cat /proc/1/comm; ls /proc | grep -c '^[0-9]'");
    EXPECT_EQ(r.code, 0);
    // $$ is 2: PID 1 is lxbox's init; /proc holds init, the shell and grep's pipeline only.
    std::istringstream in(r.out);
    int pid = 0, count = 0;
    std::string comm;
    in >> pid >> comm >> count;
    EXPECT_EQ(pid, 2);
    EXPECT_LE(count, 4) << r.out;
}

TEST_F(ContainerRuntime, WithoutInitTheCommandIsPid1) {
    auto s = spec("noinit");
    s.init = false;
    EXPECT_EQ(sh(s, "echo $$").out, "1\n");
}

TEST_F(ContainerRuntime, HostnameIsTheContainerNameOrTheOneAsked) {
    EXPECT_EQ(sh(spec("boxname"), "hostname; cat /etc/hostname").out, "boxname\nboxname\n");
    auto s = spec("other");
    s.hostname = "custom";
    EXPECT_EQ(sh(s, "hostname; grep -c custom /etc/hosts").out, "custom\n1\n");
}

TEST_F(ContainerRuntime, NoHostMountIsVisibleAndNoContainerMountLeaks) {
    const std::string marker = dir / "host-marker";
    ::mkdir(marker.c_str(), 0755);
    ASSERT_EQ(::mount("lxbox-marker", marker.c_str(), "tmpfs", 0, nullptr), 0);
    const std::string before = read_file("/proc/self/mountinfo").value();
    // (the marker is unmounted right after the run, so compare before it comes off)
    auto s = spec("mnt");
    s.process.security.cap_add = {"SYS_ADMIN"};  // to mount inside (a default container may not)
    auto r = sh(s, "cat /proc/self/mountinfo; mkdir -p /mnt/x; mount -t tmpfs inner /mnt/x && echo mounted");
    const std::string after = read_file("/proc/self/mountinfo").value();
    ::umount(marker.c_str());
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out.find("lxbox-marker"), std::string::npos) << r.out;
    // The overlay's options name the host's lowerdir; no mount point may be a host path.
    EXPECT_EQ(r.out.find(" " + dir.path()), std::string::npos) << "a host path is visible:\n" << r.out;
    EXPECT_NE(r.out.find("mounted"), std::string::npos);
    EXPECT_EQ(before, after);
}

TEST_F(ContainerRuntime, ChangesStayInTheirContainerAndPersistAcrossRuns) {
    auto a = spec("a", false), b = spec("b", false);
    EXPECT_EQ(sh(a, "echo from-a > /etc/marker && rm /bin/vi").code, 0);
    EXPECT_EQ(sh(a, "cat /etc/marker; test -e /bin/vi || echo vi-gone").out, "from-a\nvi-gone\n");
    EXPECT_EQ(sh(b, "cat /etc/marker 2>/dev/null || echo none; test -e /bin/vi && echo vi-here").out,
              "none\nvi-here\n");
    struct stat st;
    EXPECT_NE(::stat((image + "/etc/marker").c_str(), &st), 0) << "the image was changed";
    EXPECT_EQ(::lstat((image + "/bin/vi").c_str(), &st), 0);
    auto ephemeral = spec("e");
    EXPECT_EQ(sh(ephemeral, "echo x > /etc/marker").code, 0);
    EXPECT_EQ(sh(ephemeral, "cat /etc/marker 2>/dev/null || echo gone").out, "gone\n");
}

// The generated /etc files are bind-mounted over the image's own: the image's files must not
// be copied up into the container's layer on the way (as opening them to write would).
TEST_F(ContainerRuntime, InjectedEtcFilesLeaveTheContainersLayerAlone) {
    for (const char* f : {"hosts", "hostname", "resolv.conf"})
        std::ofstream(image + "/etc/" + f) << "from the image\n";
    auto s = spec("inject", false);
    s.hostname = "injected";
    EXPECT_EQ(sh(s, "cat /etc/hostname; grep -l 'from the image' /etc/hosts /etc/resolv.conf || echo generated").out,
              "injected\ngenerated\n");
    struct stat st;
    for (const char* f : {"hosts", "hostname", "resolv.conf"}) {
        EXPECT_NE(::lstat((s.container_dir + "/upper/etc/" + f).c_str(), &st), 0) << f << " was copied up";
        EXPECT_EQ(read_file(image + "/etc/" + f).value(), "from the image\n");
    }
}

TEST_F(ContainerRuntime, ExitStatusPassesThroughAndSignalsGive128PlusN) {
    EXPECT_EQ(sh(spec("x"), "exit 7").code, 7);
    EXPECT_EQ(sh(spec("x"), "kill -9 $$").code, 137);
    EXPECT_EQ(sh(spec("x"), "kill -TERM $$").code, 143);
    auto s = spec("x");
    s.init = false;
    EXPECT_EQ(sh(s, "exit 3").code, 3);
}

TEST_F(ContainerRuntime, MissingOrUnexecutableCommandGives127Or126) {
    auto r = run_in(spec("x"), {"no-such-command"});
    EXPECT_EQ(r.code, 127);
    ASSERT_TRUE(r.exec_error);
    EXPECT_EQ(r.exec_error->message, "exec no-such-command: No such file or directory");
    auto r2 = run_in(spec("x"), {"/etc/passwd"});
    EXPECT_EQ(r2.code, 126);
    ASSERT_TRUE(r2.exec_error);
    EXPECT_EQ(r2.exec_error->message, "exec /etc/passwd: Permission denied");
}

TEST_F(ContainerRuntime, SetupFailureIsAnErrorNotAnExitCode) {
    auto s = spec("x");
    s.process.user = "mallory";
    s.process.args = {"true"};
    auto c = runtime::Container::start(s);
    ASSERT_TRUE(c.ok());
    auto o = c->wait();
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.error().message.find("no user 'mallory'"), std::string::npos) << o.error().message;
}

TEST_F(ContainerRuntime, UsersAndGroupsComeFromTheContainersFiles) {
    std::ofstream(image + "/etc/passwd", std::ios::app) << "alice:x:1000:1000::/home/alice:/bin/sh\n";
    std::ofstream(image + "/etc/group", std::ios::app) << "alice:x:1000:\nstaff:x:50:alice\n";
    auto s = spec("u");
    s.process.user = "alice";
    s.process.cwd = "/";
    EXPECT_EQ(sh(s, "id -u; id -g; id -G; echo $HOME $USER").out, "1000\n1000\n1000 50\n/home/alice alice\n");
    s.process.user = "1000:staff";
    EXPECT_EQ(sh(s, "id -u; id -g").out, "1000\n50\n");
    s.process.user = "4242:4343";
    EXPECT_EQ(sh(s, "id -u; id -g; pwd").out, "4242\n4343\n/\n");
}

TEST_F(ContainerRuntime, EnvironmentIsCleanPlusTheCallers) {
    ::setenv("LXBOX_TEST_HOST_ONLY", "leak", 1);
    auto s = spec("env");
    s.process.env = {"FOO=bar", "TERM=dumb"};
    auto r = sh(s, "env | sort");
    ::unsetenv("LXBOX_TEST_HOST_ONLY");
    EXPECT_EQ(r.out.find("LXBOX_TEST_HOST_ONLY"), std::string::npos);
    for (const char* want : {"FOO=bar", "TERM=dumb", "HOME=/root", "USER=root", "HOSTNAME=env", "PATH=/usr/local/sbin"})
        EXPECT_NE(r.out.find(want), std::string::npos) << want << " in\n" << r.out;
}

TEST_F(ContainerRuntime, BindMountsReadOnlyAndWorkingDirectory) {
    const std::string shared = dir / "shared";
    ::mkdir(shared.c_str(), 0755);
    std::ofstream(shared + "/hello") << "hi\n";
    auto s = spec("bind");
    s.binds = {{shared, "/data", true}, {shared, "/rw/deep", false}};
    s.process.cwd = "/data";
    auto r = sh(s, "cat hello; pwd; touch /data/x 2>/dev/null || echo ro; touch /rw/deep/y && echo rw");
    EXPECT_EQ(r.out, "hi\n/data\nro\nrw\n");
    struct stat st;
    EXPECT_EQ(::stat((shared + "/y").c_str(), &st), 0);
}

TEST_F(ContainerRuntime, NetworkNoneHasOnlyLoopbackUp) {
    auto s = spec("net");
    s.network = "none";
    auto r = sh(s, "ls /sys/class/net; ip link show lo | grep -c UP");
    EXPECT_EQ(r.out, "lo\n1\n");
}

TEST_F(ContainerRuntime, DevHasTheUsualNodesAndSysIsReadOnly) {
    auto r = sh(spec("dev"), "echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev/pts; readlink /dev/ptmx;"
                             "touch /sys/x 2>/dev/null || echo sys-ro");
    EXPECT_EQ(r.out, "4\nptmx\npts/ptmx\nsys-ro\n");
}

}  // namespace
}  // namespace lxbox::test
