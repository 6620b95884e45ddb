// boot.systemd's decisions (runtime/plan/systemd.hpp, host/launch/systemd.hpp): the mounts and
// the process systemd gets as a container's PID 1, its stop signal kept with the instance and
// forwarded, when systemctl's answer is systemd's state, and what launch says of the state it
// booted to.
#include <gtest/gtest.h>
#include <errno.h>
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>

#include "host/launch/systemd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/systemd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox {
namespace {

const runtime::MountOp* find_mount(const std::vector<runtime::MountOp>& ops, const std::string& target) {
    auto it = std::find_if(ops.begin(), ops.end(), [&](const auto& op) {
        return op.kind == runtime::MountOpKind::Mount && op.target == target;
    });
    return it == ops.end() ? nullptr : &*it;
}

runtime::ContainerSpec plain_spec() {
    runtime::ContainerSpec s;
    s.name = "sd";
    s.image_rootfs = "/store/images/sd/rootfs";
    s.container_dir = "/store/containers/sd";
    s.cgroup = "lxbox-1.2-sd";
    s.process.args = {"sh"};
    s.process.user = "alice";
    s.process.tty = true;
    s.process.security.cap_add = {"SYS_PTRACE"};
    return s;
}

TEST(SystemdPlan, TheContainerGetsTmpfsRunAndTmpOnlyWithSystemd) {
    auto s = plain_spec();
    EXPECT_EQ(find_mount(runtime::plan_system_mounts(s), "/run"), nullptr);
    EXPECT_EQ(find_mount(runtime::plan_system_mounts(s), "/tmp"), nullptr);
    s.systemd = true;
    const auto ops = runtime::plan_system_mounts(s);
    const auto* run = find_mount(ops, "/run");
    const auto* tmp = find_mount(ops, "/tmp");
    ASSERT_NE(run, nullptr);
    ASSERT_NE(tmp, nullptr);
    EXPECT_EQ(run->fstype, "tmpfs");
    EXPECT_EQ(run->data, "mode=755");
    EXPECT_EQ(run->flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
    EXPECT_EQ(tmp->data, "mode=1777");
    // After /dev, before the masked paths (which need /dev/null).
    const auto at = [&](const runtime::MountOp* op) { return op - ops.data(); };
    EXPECT_GT(at(run), at(find_mount(ops, "/dev")));
}

TEST(SystemdPlan, SystemdIsPid1AsRootWithContainerSetAndTheSecurityKept) {
    const auto s = launch::systemd_spec(plain_spec());
    EXPECT_TRUE(s.systemd);
    EXPECT_FALSE(s.init);
    EXPECT_EQ(s.process.args, std::vector<std::string>{"/lib/systemd/systemd"});
    EXPECT_EQ(s.process.user, "0");
    EXPECT_EQ(s.process.cwd, "/");
    EXPECT_FALSE(s.process.tty);
    EXPECT_EQ(s.process.env, std::vector<std::string>{"container=lxbox"});
    EXPECT_EQ(s.process.security.cap_add, std::vector<std::string>{"SYS_PTRACE"});
    // The rest of the container stays as launch made it.
    EXPECT_EQ(s.cgroup, "lxbox-1.2-sd");
    EXPECT_EQ(s.container_dir, "/store/containers/sd");
    // The flag crosses the channel with the spec.
    nlohmann::json j = s;
    EXPECT_TRUE(j.get<runtime::ContainerSpec>().systemd);
    EXPECT_FALSE(nlohmann::json(plain_spec()).contains("systemd"));
}

TEST(SystemdPlan, StopHaltsSystemdWithSigrtminPlus3KeptInTheInstanceState) {
    EXPECT_EQ(runtime::systemd_stop_signal(), SIGRTMIN + 3);
    store::InstanceState st;
    st.pid = 42;
    st.start_time = 7;
    EXPECT_FALSE(nlohmann::json(st).contains("stop_signal"));  // SIGTERM, as before
    st.stop_signal = runtime::systemd_stop_signal();
    EXPECT_EQ(nlohmann::json(st).get<store::InstanceState>().stop_signal, SIGRTMIN + 3);
}

TEST(SystemdPlan, LaunchAsksAgainUntilSystemdHasItsBusAndTakesItsStateThen) {
    // Before /run/systemd/system (sd_booted), systemctl says offline; before the bus, nothing.
    EXPECT_EQ(runtime::systemd_answer("offline\n"), std::nullopt);
    EXPECT_EQ(runtime::systemd_answer(""), std::nullopt);
    EXPECT_EQ(runtime::systemd_answer("\n"), std::nullopt);
    EXPECT_EQ(runtime::systemd_answer("running\n"), "running");
    EXPECT_EQ(runtime::systemd_answer("degraded\n"), "degraded");
    EXPECT_EQ(runtime::systemd_answer("maintenance"), "maintenance");
}

TEST(SystemdPlan, SystemdsExitCodeSaysWhyItEndedWhereNoMoreCrosses) {
    EXPECT_TRUE(runtime::systemd_exit_status(0));
    const auto missing = runtime::systemd_exit_status(127);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().errno_value, ENOENT);  // launch adds the hint for it
    EXPECT_EQ(missing.error().message, "exec /lib/systemd/systemd: No such file or directory");
    EXPECT_EQ(runtime::systemd_exit_status(126).error().errno_value, EACCES);
    EXPECT_EQ(runtime::systemd_exit_status(137).error().message, "systemd exited 137");
}

TEST(SystemdPlan, ItsStopSignalIsForwardedAsTermIsToTheContainerByLaunchersAndTheGuestsRunner) {
    // `lxbox stop` signals a vm container's launcher (boot.systemd's monitor), which passes it
    // on; left out, the signal's default action would kill the launcher and the runner.
    const sigset_t set = linux_fx::forwarded_signals();
    EXPECT_EQ(sigismember(&set, runtime::systemd_stop_signal()), 1);
    EXPECT_EQ(sigismember(&set, SIGTERM), 1);
    EXPECT_EQ(sigismember(&set, SIGKILL), 0);
}

TEST(SystemdPlan, LaunchSaysWhenSystemdBootedToAnotherStateThanRunning) {
    EXPECT_EQ(runtime::systemd_state_notice("sd", "running"), "");
    EXPECT_EQ(runtime::systemd_state_notice("sd", "degraded"),
              "systemd in sd is degraded: some units failed (lxbox exec sd -- systemctl --failed)");
    EXPECT_EQ(runtime::systemd_state_notice("sd", "maintenance"), "systemd in sd is maintenance");
    EXPECT_EQ(runtime::systemd_state_notice("sd", ""), "systemd in sd is not answering");
}

}  // namespace
}  // namespace lxbox
