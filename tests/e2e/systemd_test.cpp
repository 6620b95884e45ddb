// boot.systemd (issue 20) through the built CLI, with Debian's own systemd (the rootfs
// tools/fixtures/debian-systemd.sh builds: bookworm minbase with systemd, systemd-sysv and
// dbus): `launch` boots systemd in the background as the kept container's PID 1 and joins it
// with the command; `systemctl is-system-running` reaches running (degraded fails the test with
// the failed units in its message); a service enabled in one launch runs in the next; `stop`
// halts systemd cleanly (SIGRTMIN+3: the service's ExecStop ran); nothing is left behind.
#include <signal.h>
#include <unistd.h>

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/linux/process.hpp"
#include "tests/common/store_leftovers.hpp"
#include "tests/common/systemd_fixture.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

constexpr const char* kMarker = "LXBOX_SYSTEMD_TEST";

class SystemdCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string marker() const { return std::string(kMarker) + "=" + root; }

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (systemd as a container's init runs as root only)");
        auto imported = import_systemd_distro(root, "sd");
        ASSERT_TRUE(imported) << imported.error().message;
    }
    void TearDown() override {
        if (is_root()) (void)run_lxbox(root, {"stop", "sd", "-t", "0"});
    }
    // lxbox with the marker in its environment, which the monitor it leaves inherits.
    CommandResult lxbox(const std::vector<std::string>& args) { return run_lxbox_marked(root, marker(), args); }
    // The state systemd reached, with the failed units when it is not running.
    std::string system_state() { return systemd_state(root, marker(), "sd"); }
};

TEST_F(SystemdCli, SystemdIsPid1AndAServiceEnabledInOneLaunchRunsInTheNext) {
    auto first = lxbox({"launch", "sd", "--", "sh", "-c", kSystemdFirstLaunch, kSystemdTestUnit});
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_EQ(first.out, kSystemdFirstLaunchOut) << first.err;
    const std::string state = system_state();
    EXPECT_EQ(state, "running\n") << "systemd is not running cleanly; failed units:\n" << state;
    // Running in the background: ps shows it with systemd as its init.
    const auto entry = ps_entry(root, "sd");
    ASSERT_FALSE(entry.is_null());
    EXPECT_EQ(entry.value("state", ""), "running");
    const pid_t systemd = entry.value("pid", 0);
    ASSERT_GT(systemd, 0);
    const uint64_t started = linux_fx::process_start_time(systemd).value_or(0);

    auto stop = lxbox({"stop", "sd", "-t", "60"});
    ASSERT_EQ(stop.exit_code, 0) << stop.err;
    EXPECT_EQ(ps_entry(root, "sd").value("state", ""), "stopped");
    EXPECT_NE(linux_fx::process_start_time(systemd).value_or(0), started) << "systemd still runs";
    EXPECT_EQ(store_leftovers(root, marker()), "");

    // The next boot: the service enabled before runs again, and its ExecStop ran at the halt
    // (systemd stopped its units: a clean shutdown, not a kill).
    auto second = lxbox({"launch", "sd", "--", "sh", "-c", kSystemdNextLaunch});
    ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
    EXPECT_EQ(second.out, kSystemdNextLaunchOut) << second.err;
    // exec joins the same systemd, as a second launch does.
    auto exec = lxbox({"exec", "sd", "--", "systemctl", "is-active", "lxbox-test.service"});
    EXPECT_EQ(exec.out, "active\n") << exec.err;
    auto again = lxbox({"launch", "sd", "--", "cat", "/proc/1/comm"});
    EXPECT_EQ(again.out, "systemd\n") << again.err;
    ASSERT_EQ(lxbox({"stop", "sd"}).exit_code, 0);
    EXPECT_EQ(store_leftovers(root, marker()), "");
}

TEST_F(SystemdCli, AnExitStatusPassesThroughAndAThrowawayLaunchDoesNotBootSystemd) {
    EXPECT_EQ(lxbox({"launch", "sd", "--", "sh", "-c", "exit 7"}).exit_code, 7);
    // --rm: a throwaway container runs the command under lxbox's tiny init, as before.
    auto rm = lxbox({"launch", "--rm", "sd", "--", "cat", "/proc/1/comm"});
    EXPECT_EQ(rm.out, "lxbox-init\n") << rm.err;
    ASSERT_EQ(lxbox({"stop", "sd"}).exit_code, 0);
    EXPECT_EQ(store_leftovers(root, marker()), "");
}

// Without the Debian fixture (busybox has no systemd), so not in SystemdCli.
TEST(SystemdCliRefusal, ADistroWithoutSystemdIsRefusedInOneLineAndLeavesNothing) {
    if (!is_root()) LXBOX_SKIP("needs root (systemd as a container's init runs as root only)");
    ScratchDir dir;
    const std::string root = dir / "store";
    const std::string marker = std::string(kMarker) + "=" + root;
    ASSERT_EQ(run_lxbox(root, {"import", "nosd", busybox_tarball()}).exit_code, 0);
    ASSERT_EQ(run_lxbox(root, {"config", "set", "--distro", "nosd", "boot.systemd", "true"}).exit_code, 0);
    auto r = run_lxbox_marked(root, marker, {"launch", "nosd", "--", "true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(r.err, "lxbox: boot systemd in nosd: exec /lib/systemd/systemd: No such file or directory (boot.systemd "
                     "needs systemd in the distro: install it there, or lxbox config unset --distro nosd boot.systemd)\n");
    EXPECT_EQ(ps_entry(root, "nosd").value("state", ""), "stopped");
    EXPECT_EQ(store_leftovers(root, marker), "");
}

}  // namespace
}  // namespace lxbox::test
