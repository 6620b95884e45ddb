// boot.systemd in the VM (issue 20 part 3), through the built CLI under QEMU, with Debian's own
// systemd (tools/fixtures/debian-systemd.sh: bookworm minbase with systemd, systemd-sysv and
// dbus), as tests/e2e/systemd_test.cpp does natively: `launch --backend vm` boots systemd as the
// kept container's PID 1 in the guest, under a monitor on the host, and joins it with the
// command; `systemctl is-system-running` reaches running (degraded fails the test with the
// failed units in its message); a service enabled in one launch runs in the next; `stop` halts
// systemd cleanly (SIGRTMIN+3, passed on to the guest: the service's ExecStop ran); after the
// test's own `vm stop` nothing is left (no QEMU, no monitor, no socket, no temp file).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "runtime/linux/process.hpp"
#include "tests/common/store_leftovers.hpp"
#include "tests/common/systemd_fixture.hpp"
#include "tests/common/test_support.hpp"
#include "tests/vm/vm_cli_suite.hpp"

namespace lxbox::test {
namespace {

constexpr const char* kMarker = "LXBOX_VM_SYSTEMD_TEST";

class VmSystemd : public VmCliSuite {
protected:
    static std::string marker() { return std::string(kMarker) + "=" + root(); }
    void SetUp() override {
        VmCliSuite::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        // Once for the suite's store (a re-import would build the distro's VM disk again).
        if (imported) return;
        auto done = import_systemd_distro(root(), "sd");
        ASSERT_TRUE(done) << done.error().message;
        imported = true;
    }
    static inline bool imported = false;
    void TearDown() override {
        if (is_root()) (void)run_lxbox(root(), {"stop", "sd", "-t", "0"});
    }
    static CommandResult lxbox(const std::vector<std::string>& args) { return run_lxbox_marked(root(), marker(), args); }
    // Whether the process pid that started at start still runs: a zombie does not (the monitor
    // is no child of lxbox's, and whoever inherited it reaps it when it gets to it).
    static bool runs(pid_t pid, uint64_t start) {
        if (linux_fx::process_start_time(pid).value_or(0) != start) return false;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        std::getline(stat, line);
        const auto close = line.rfind(')');
        return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
    }
    // The state systemd reached, with the failed units when it is not running.
    static std::string system_state() { return systemd_state(root(), marker(), "sd"); }
};

TEST_F(VmSystemd, SystemdIsPid1InTheGuestAndAServiceEnabledInOneLaunchRunsInTheNext) {
    auto first = lxbox({"launch", "--backend", "vm", "sd", "--", "sh", "-c", kSystemdFirstLaunch, kSystemdTestUnit});
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_EQ(first.out, kSystemdFirstLaunchOut) << first.err;
    // Booted to running: launch says nothing of its own.
    EXPECT_EQ(without_kvm_notice(first.err), "");
    const std::string state = system_state();
    EXPECT_EQ(state, "running\n") << "systemd is not running cleanly; failed units:\n" << state;
    // Running in the background on the vm backend: ps shows its monitor, the host's side of it.
    const auto entry = ps_entry(root(), "sd");
    ASSERT_FALSE(entry.is_null());
    EXPECT_EQ(entry.value("state", ""), "running");
    EXPECT_EQ(entry.value("backend", ""), "vm");
    const pid_t monitor = entry.value("pid", 0);
    ASSERT_GT(monitor, 0);
    const uint64_t started = linux_fx::process_start_time(monitor).value_or(0);

    auto stop = lxbox({"stop", "sd", "-t", "60"});
    ASSERT_EQ(stop.exit_code, 0) << stop.err;
    EXPECT_EQ(ps_entry(root(), "sd").value("state", ""), "stopped");
    EXPECT_FALSE(runs(monitor, started)) << "the monitor still runs";

    // The next boot, on the same backend without --backend: the service enabled before runs
    // again, and its ExecStop ran at the halt (systemd stopped its units: a clean shutdown,
    // not a kill of the guest's runner).
    auto second = lxbox({"launch", "sd", "--", "sh", "-c", kSystemdNextLaunch});
    ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
    EXPECT_EQ(second.out, kSystemdNextLaunchOut) << second.err;
    // exec joins the same systemd, as a second launch does; an exit status passes through.
    auto exec = lxbox({"exec", "sd", "--", "systemctl", "is-active", "lxbox-test.service"});
    EXPECT_EQ(exec.out, "active\n") << exec.err;
    auto again = lxbox({"launch", "sd", "--", "sh", "-c", "cat /proc/1/comm; exit 7"});
    EXPECT_EQ(again.out, "systemd\n") << again.err;
    EXPECT_EQ(again.exit_code, 7);
    ASSERT_EQ(lxbox({"stop", "sd"}).exit_code, 0);
    EXPECT_EQ(ps_entry(root(), "sd").value("state", ""), "stopped");

    // The VM powered off: no QEMU, supervisor or monitor of this store is left, nor a socket
    // or a temp file.
    auto vm_stop = run_lxbox(root(), {"vm", "stop"});
    EXPECT_EQ(vm_stop.exit_code, 0) << vm_stop.err;
    EXPECT_EQ(vm_leftovers(), "");
    EXPECT_EQ(store_leftovers(root(), marker()), "");
}

TEST_F(VmSystemd, ADistroWithoutSystemdIsRefusedInOneLineAsNativelyAndLeavesNothingRunning) {
    ASSERT_EQ(run_lxbox(root(), {"import", "nosd", busybox_tarball()}).exit_code, 0);
    ASSERT_EQ(run_lxbox(root(), {"config", "set", "--distro", "nosd", "boot.systemd", "true"}).exit_code, 0);
    // The guest's runner fails to exec systemd; the monitor says so to the launch waiting for it.
    auto r = lxbox({"launch", "--backend", "vm", "nosd", "--", "true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(without_kvm_notice(r.err),
              "lxbox: boot systemd in nosd: exec /lib/systemd/systemd: No such file or directory (boot.systemd needs "
              "systemd in the distro: install it there, or lxbox config unset --distro nosd boot.systemd)\n");
    EXPECT_EQ(ps_entry(root(), "nosd").value("state", ""), "stopped");
    // Nothing of it is left: the monitor is gone and the container can be removed at once.
    auto rm = run_lxbox(root(), {"rm", "nosd"});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    auto vm_stop = run_lxbox(root(), {"vm", "stop"});
    EXPECT_EQ(vm_stop.exit_code, 0) << vm_stop.err;
    EXPECT_EQ(vm_leftovers(), "");
    EXPECT_EQ(store_leftovers(root(), marker()), "");
}

}  // namespace
}  // namespace lxbox::test
