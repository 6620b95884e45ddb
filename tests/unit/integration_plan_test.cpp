// Integrated containers (issue 20), decided purely: the account written into the container's
// /etc, the id map that keeps the caller's uid rootless, what is shared with the host session,
// and the per-distro settings.
#include <gtest/gtest.h>

#include "host/config/distro_settings.hpp"
#include "host/launch/integrate.hpp"
#include "runtime/plan/accounts.hpp"
#include "runtime/plan/idmap.hpp"

namespace lxbox {
namespace {

runtime::AccountSpec alice() {
    return {"alice", 1000, 1000, "alice", {{27, "sudo"}, {44, "video"}, {2000, "devs"}}, "/home/alice", "/bin/bash"};
}

const char* kPasswd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";
const char* kGroup = "root:x:0:\nsudo:x:27:\nvideo:x:44:bob\n";

TEST(Accounts, FirstRunAddsTheUserTheirGroupsAndShadowAndPasswordlessSudo) {
    runtime::AccountFiles f{kPasswd, kGroup, "root:*:19000:0:99999:7:::\n", true, true, true, false};
    const auto c = runtime::plan_account(f, alice());
    ASSERT_TRUE(c.passwd);
    EXPECT_EQ(*c.passwd, std::string(kPasswd) + "alice:x:1000:1000:alice:/home/alice:/bin/bash\n");
    ASSERT_TRUE(c.group);
    EXPECT_EQ(*c.group, "root:x:0:\nsudo:x:27:alice\nvideo:x:44:bob,alice\nalice:x:1000:\ndevs:x:2000:alice\n");
    ASSERT_TRUE(c.shadow);
    EXPECT_EQ(*c.shadow, "root:*:19000:0:99999:7:::\nalice:!::0:99999:7:::\n");
    ASSERT_TRUE(c.sudoers);
    EXPECT_EQ(*c.sudoers, "alice ALL=(ALL:ALL) NOPASSWD: ALL\n");
}

TEST(Accounts, ASecondRunChangesNothing) {
    runtime::AccountFiles f{kPasswd, kGroup, "", false, true, true, false};
    const auto first = runtime::plan_account(f, alice());
    runtime::AccountFiles again{*first.passwd, *first.group, "", false, true, true, true};
    EXPECT_FALSE(runtime::plan_account(again, alice()).any());
}

TEST(Accounts, AMissingShellBecomesShAndNoSudoWithoutSudoOrForRoot) {
    runtime::AccountFiles f{kPasswd, kGroup, "", false, false, false, false};
    const auto c = runtime::plan_account(f, alice());
    EXPECT_NE(c.passwd->find("alice:x:1000:1000:alice:/home/alice:/bin/sh\n"), std::string::npos);
    EXPECT_FALSE(c.shadow);
    EXPECT_FALSE(c.sudoers);
    runtime::AccountSpec root{"root", 0, 0, "root", {}, "/root", "/bin/bash"};
    runtime::AccountFiles with_sudo{kPasswd, kGroup, "", false, true, true, false};
    EXPECT_FALSE(runtime::plan_account(with_sudo, root).any());  // root is the image's own
}

TEST(Accounts, AGroupNameTakenByAnotherGidIsNotAddedTwice) {
    runtime::AccountSpec a = alice();
    a.groups = {{3000, "sudo"}};
    runtime::AccountFiles f{kPasswd, kGroup, "", false, false, true, false};
    const auto c = runtime::plan_account(f, a);
    EXPECT_EQ(*c.group, std::string(kGroup) + "alice:x:1000:\n");
}

TEST(KeepId, TheCallersIdsStayTheirsAndTheRangeFillsAround) {
    const auto rootless = runtime::plan_rootless_userns(1000, 1000, {{100000, 65536}}, {{100000, 65536}}, true);
    const auto u = runtime::keep_id_userns(rootless, 1000, 1000);
    const std::vector<runtime::IdMapping> want = {{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}};
    EXPECT_EQ(u.uids, want);
    EXPECT_EQ(u.gids, want);
    EXPECT_TRUE(u.use_helpers);
    EXPECT_TRUE(u.join.empty());
    EXPECT_EQ(runtime::host_id(u.uids, 1000), 1000u);
    EXPECT_EQ(runtime::host_id(u.uids, 0), 100000u);
    EXPECT_EQ(runtime::mapped_count(u.uids), 65537u);
}

launch::HostSession session() {
    launch::HostSession s;
    s.user = alice();
    s.env = {{"DISPLAY", ":7"},          {"LANG", "fr_FR.UTF-8"},       {"XDG_RUNTIME_DIR", "/run/user/1000"},
             {"WAYLAND_DISPLAY", "wayland-0"}, {"DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"},
             {"XAUTHORITY", "/var/tmp/xauth-alice"}};
    s.cwd = "/home/alice/src";
    s.localtime_link = "/usr/share/zoneinfo/Europe/Paris";
    s.hosts = "127.0.0.1 localhost\n10.0.0.5 nas\n";
    s.present = {"/home/alice", "/tmp/.X11-unix", "/var/tmp/xauth-alice", "/run/user/1000",
                 "/run/user/1000/pulse/native", "/run/user/1000/bus", "/dev/dri"};
    return s;
}

TEST(Integration, SharesTheHomeDisplaySoundBusAndGpuWithTheirVariables) {
    const auto in = launch::plan_integration(session());
    std::vector<std::string> sources;
    for (const auto& b : in.binds) {
        EXPECT_EQ(b.source, b.target);
        EXPECT_FALSE(b.readonly);
        sources.push_back(b.source);
    }
    // The bus lives in the runtime dir, shared already.
    EXPECT_EQ(sources, (std::vector<std::string>{"/home/alice", "/tmp/.X11-unix", "/var/tmp/xauth-alice",
                                                 "/run/user/1000", "/dev/dri"}));
    EXPECT_EQ(in.env, (std::vector<std::string>{
                          "HOME=/home/alice", "LANG=fr_FR.UTF-8", "TZ=Europe/Paris", "DISPLAY=:7", "XAUTHORITY=/var/tmp/xauth-alice",
                          "XDG_RUNTIME_DIR=/run/user/1000", "WAYLAND_DISPLAY=wayland-0",
                          "PULSE_SERVER=unix:/run/user/1000/pulse/native",
                          "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"}));
    EXPECT_EQ(in.cwd, "/home/alice/src");
    EXPECT_TRUE(in.gpu);
    EXPECT_EQ(in.hosts, "127.0.0.1 localhost\n10.0.0.5 nas\n");
    EXPECT_EQ(in.account, alice());
}

TEST(Integration, WhatTheHostLacksIsNotSharedAndACwdOutsideTheHomeIsKeptButNotBound) {
    auto s = session();
    s.present = {"/home/alice"};
    s.cwd = "/etc";
    s.env.erase("XAUTHORITY");
    const auto in = launch::plan_integration(s);
    ASSERT_EQ(in.binds.size(), 1u);
    EXPECT_EQ(in.binds[0].source, "/home/alice");
    EXPECT_EQ(in.env, (std::vector<std::string>{"HOME=/home/alice", "LANG=fr_FR.UTF-8", "TZ=Europe/Paris"}));
    // The container's /etc, as distrobox keeps a cwd the container has (else the home).
    EXPECT_EQ(in.cwd, "/etc");
    EXPECT_FALSE(in.gpu);
    runtime::ProcessSpec p;
    launch::integrate_process(p, in);
    EXPECT_EQ(p.cwd, "/etc");
    EXPECT_TRUE(p.cwd_or_home);
}

TEST(Integration, InTheVmOnlyTheHomeIsSharedNotTheSessionsSockets) {
    const auto in = launch::plan_integration(launch::vm_session(session()));
    ASSERT_EQ(in.binds.size(), 1u);
    EXPECT_EQ(in.binds[0].source, "/home/alice");
    EXPECT_EQ(in.env, (std::vector<std::string>{"HOME=/home/alice", "LANG=fr_FR.UTF-8", "TZ=Europe/Paris"}));
    EXPECT_EQ(in.cwd, "/home/alice/src");
    EXPECT_FALSE(in.gpu);
    EXPECT_EQ(in.account, alice());
    // Rootless without a subordinate range still works there: the guest agent is root of its VM.
    runtime::ContainerSpec spec;
    spec.userns = runtime::plan_rootless_userns(1000, 1000, {}, {}, true);
    ASSERT_TRUE(launch::integrate(spec, session(), true));
    EXPECT_EQ(spec.account, alice());
    EXPECT_EQ(spec.binds.size(), 1u);
}

TEST(Integration, TheVmHostMountIsTheHomeOrTheHostsRootUnderADirectory) {
    EXPECT_TRUE(launch::host_mount_binds("none", "/home/alice").empty());
    const auto home = launch::host_mount_binds("home", "/home/alice");
    ASSERT_EQ(home.size(), 1u);
    EXPECT_EQ(home[0].source, "/home/alice");
    EXPECT_EQ(home[0].target, "/home/alice");
    EXPECT_FALSE(home[0].readonly);
    EXPECT_TRUE(launch::host_mount_binds("home", "/").empty());  // no home to share
    const auto root = launch::host_mount_binds("/mnt/host", "/home/alice");
    ASSERT_EQ(root.size(), 1u);
    EXPECT_EQ(root[0].source, "/");
    EXPECT_EQ(root[0].target, "/mnt/host");
}

TEST(Integration, TheProcessRunsAsTheUserUnlessToldAndTheUsersEnvWins) {
    runtime::ProcessSpec p;
    p.env = {"LANG=C"};
    launch::integrate_process(p, launch::plan_integration(session()));
    EXPECT_EQ(p.user, "alice");
    EXPECT_EQ(p.env.back(), "LANG=C");
    EXPECT_EQ(p.cwd, "/home/alice/src");
    runtime::ProcessSpec q;
    q.user = "root";
    q.cwd = "/";
    launch::integrate_process(q, launch::plan_integration(session()));
    EXPECT_EQ(q.user, "root");
    EXPECT_EQ(q.cwd, "/");
}

TEST(Integration, RootlessWithoutARangeIsRefusedAndWithOneKeepsTheUid) {
    runtime::ContainerSpec spec;
    spec.userns = runtime::plan_rootless_userns(1000, 1000, {}, {}, true);
    auto st = launch::integrate(spec, session());
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("subordinate id range"), std::string::npos);
    runtime::ContainerSpec ranged;
    ranged.userns = runtime::plan_rootless_userns(1000, 1000, {{100000, 65536}}, {{100000, 65536}}, true);
    ASSERT_TRUE(launch::integrate(ranged, session()));
    EXPECT_EQ(runtime::host_id(ranged.userns.uids, 1000), 1000u);
    EXPECT_EQ(ranged.process.security.no_new_privs, false);
    ASSERT_TRUE(ranged.account);
    EXPECT_EQ(ranged.binds.front().source, "/home/alice");
}

TEST(Integration, TimezoneFromTheLocaltimeLink) {
    EXPECT_EQ(launch::timezone_from_link("/usr/share/zoneinfo/America/New_York"), "America/New_York");
    EXPECT_EQ(launch::timezone_from_link("../usr/share/zoneinfo/Etc/UTC"), "Etc/UTC");
    EXPECT_EQ(launch::timezone_from_link(""), "");
    EXPECT_EQ(launch::timezone_from_link("/etc/foo"), "");
}

TEST(DistroSettings, RoundTripThroughSetListAndUnset) {
    config::DistroValues v;
    for (const auto& [k, val] : std::vector<std::pair<std::string, std::string>>{
             {"user.default", "alice"}, {"integration", "true"}, {"boot.command", "touch /run/booted"},
             {"boot.systemd", "true"}, {"vm.host-mount", "/mnt/host"}}) {
        auto set = config::set_distro_key(v, k, val);
        ASSERT_TRUE(set) << k << ": " << set.error().message;
        v = *set;
    }
    const auto s = config::parse_distro_settings(v);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->default_user, "alice");
    EXPECT_TRUE(s->integration);
    EXPECT_EQ(s->boot_command, "touch /run/booted");
    EXPECT_TRUE(s->systemd);
    EXPECT_EQ(s->host_mount, "/mnt/host");
    for (const auto& row : config::distro_settings_view(v)) EXPECT_FALSE(row.is_default) << row.key;
    v = *config::unset_distro_key(v, "integration");
    EXPECT_FALSE(config::parse_distro_settings(v)->integration);
    EXPECT_TRUE(config::distro_settings_view(v)[1].is_default);
}

TEST(DistroSettings, BadValuesAndKeysAreRefusedInOneLine) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"user.default", "al ice"}, {"user.default", ""},          {"user.default", "-x"},
        {"integration", "yes"},     {"boot.command", ""},          {"boot.command", "a\nb"},
        {"boot.systemd", "yes"},    {"boot.systemd", "1"},         {"vm.host-mount", "mnt"},
        {"vm.host-mount", "/"},     {"vm.host-mount", "/usr/host"}, {"vm.host-mount", "/mnt/../etc"},
        {"nope", "1"}};
    for (const auto& [k, val] : bad) {
        auto r = config::set_distro_key({}, k, val);
        ASSERT_FALSE(r) << k << "=" << val;
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    }
    EXPECT_EQ(config::set_distro_key({}, "boot.systemd", "on").error().message, "'on' is not true or false");
    auto broken = config::parse_distro_settings({{"integration", "maybe"}});
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().message, "integration: 'maybe' is not true or false");
}

}  // namespace
}  // namespace lxbox
