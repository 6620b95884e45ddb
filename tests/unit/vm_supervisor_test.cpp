// The VM supervisor's decisions without a VM: the session table that keeps clients' streams
// apart, the disks a reboot keeps, the paths of a VM dir, the status a client reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "host/vm/disks.hpp"
#include "host/vm/qmp.hpp"
#include "host/vm/session_router.hpp"
#include "host/vm/supervisor.hpp"

namespace lxbox::vm {
namespace {

TEST(VmDirs, EachGuestArchHasAVmDirOfItsOwn) {
    EXPECT_EQ(vm_dir_for("/s", "", "x86_64"), "/s/vm");
    EXPECT_EQ(vm_dir_for("/s", "x86_64", "x86_64"), "/s/vm");
    EXPECT_EQ(vm_dir_for("/s", "aarch64", "x86_64"), "/s/vm/aarch64");
    EXPECT_EQ(vm_dir_for("/s", "aarch64", "aarch64"), "/s/vm");
    EXPECT_NE(vm_paths(vm_dir_for("/s", "aarch64", "x86_64")).socket, vm_paths(vm_dir_for("/s", "", "x86_64")).socket);
}

TEST(SessionRouter, ClientsChoosingTheSameIdsGetDistinctChannelIds) {
    SessionRouter r;
    const uint32_t a = r.open({1, 1});
    const uint32_t b = r.open({2, 1});
    EXPECT_NE(a, b);
    EXPECT_NE(a, 0u);
    EXPECT_EQ(r.open({1, 1}), a);  // the same session keeps its id
    EXPECT_EQ(r.owner(a), (ClientSession{1, 1}));
    EXPECT_EQ(r.owner(b), (ClientSession{2, 1}));
    EXPECT_EQ(r.channel_id({2, 1}), b);
    EXPECT_FALSE(r.channel_id({2, 2}));
    EXPECT_EQ(r.size(), 2u);
    r.close(a);
    EXPECT_FALSE(r.owner(a));
    EXPECT_EQ(r.size(), 1u);
}

TEST(SessionRouter, AClientGoingAwayClosesExactlyItsSessions) {
    SessionRouter r;
    const uint32_t a1 = r.open({1, 1}), a2 = r.open({1, 2}), b1 = r.open({2, 1});
    EXPECT_EQ(r.count(1), 2u);
    EXPECT_EQ(r.local_ids(1), (std::vector<uint32_t>{1, 2}));
    auto closed = r.close_client(1);
    std::sort(closed.begin(), closed.end());
    EXPECT_EQ(closed, (std::vector<uint32_t>{a1, a2}));
    EXPECT_EQ(r.count(1), 0u);
    EXPECT_EQ(r.owner(b1), (ClientSession{2, 1}));
}

TEST(SessionRouter, IdsInUseAreNeverHandedOutTwice) {
    SessionRouter r;
    std::set<uint32_t> seen;
    for (uint32_t i = 1; i <= 1000; ++i) {
        const uint32_t id = r.open({i % 7, i});
        EXPECT_TRUE(seen.insert(id).second);
        if (i % 3 == 0) {
            r.close(id);
            seen.erase(id);
        }
    }
    EXPECT_EQ(r.size(), seen.size());
}

TEST(VmSupervisor, AReBootKeepsTheWantedDisksFirstThenTheNewestOthers) {
    using proto::AttachDisk;
    std::vector<AttachDisk> have{{"d-old", "/v/a.ext4", true}, {"d-b", "/v/b.ext4", true}, {"d-c", "/v/c.ext4", true}};
    std::vector<AttachDisk> wanted{{"d-new", "/v/a.ext4", true}};
    auto out = disks_to_boot(have, wanted, 3);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].serial, "d-new");
    EXPECT_EQ(out[1].serial, "d-c");
    EXPECT_EQ(out[2].serial, "d-b");
    // A wanted disk that is attached already is not attached twice.
    EXPECT_EQ(disks_to_boot(have, {have[1]}, 16).size(), 3u);
}

TEST(VmSupervisor, ADiskGoesOnceOffFileAndUnused) {
    const std::vector<std::string> attached{"d-kept", "d-old-build", "d-unregistered", "d-in-use"};
    // On file: the distros still imported (their newest builds); in use: a running session's.
    const std::set<std::string> on_file{"d-kept", "d-new-build"};
    auto go = disks_to_detach(attached, on_file, {"d-in-use"});
    EXPECT_EQ(go, (std::vector<std::string>{"d-old-build", "d-unregistered"}));
    // Once its session ends, the last one goes too; a disk on file never does, used or not.
    EXPECT_EQ(disks_to_detach(attached, on_file, {}).size(), 3u);
    EXPECT_TRUE(disks_to_detach({"d-kept"}, on_file, {}).empty());
    EXPECT_EQ(guest_image_dir("d-01"), "/run/lxbox/images/d-01");
}

TEST(VmSupervisor, DistroDiskSerialsFitVirtioAndChangeWithTheBuild) {
    const std::string a = distro_disk_serial("debian", "layout 2, rootfs 1 2.3\n");
    const std::string b = distro_disk_serial("debian", "layout 2, rootfs 9 2.3\n");
    EXPECT_LE(a.size(), 20u);
    EXPECT_EQ(a.rfind("d-", 0), 0u);
    EXPECT_NE(a, b);
    EXPECT_EQ(a, distro_disk_serial("debian", "layout 2, rootfs 1 2.3\n"));
}

TEST(VmSupervisor, PathsLiveInTheVmDirAndStatusRoundTrips) {
    auto p = vm_paths("/d/vm");
    EXPECT_EQ(p.socket, "/d/vm/lxbox.sock");
    EXPECT_EQ(p.channel, "/d/vm/agent.sock");
    EXPECT_EQ(p.containers_disk, "/d/vm/containers.ext4");
    VmStatus s;
    s.running = true;
    s.pid = 10;
    s.qemu_pid = 11;
    s.accel = "tcg";
    s.sessions = 3;
    s.disks = {"d-1", "d-2"};
    s.held_disks = {"d-2"};
    s.forwarded_ports = {3000, 8080};
    VmStatus back = nlohmann::json(s).get<VmStatus>();
    EXPECT_TRUE(back.running);
    EXPECT_EQ(back.qemu_pid, 11);
    EXPECT_EQ(back.accel, "tcg");
    EXPECT_EQ(back.sessions, 3u);
    EXPECT_EQ(back.disks, s.disks);
    EXPECT_EQ(back.held_disks, s.held_disks);
    EXPECT_EQ(back.forwarded_ports, s.forwarded_ports);
}

TEST(VmPublish, DockersShortFormOnTheHostsLoopback) {
    auto f = parse_publish("8080:80");
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->host_port, 8080);
    EXPECT_EQ(f->guest_port, 80);
    EXPECT_EQ(f->protocol, "tcp");
    EXPECT_EQ(hostfwd_rule(*f), "tcp:127.0.0.1:8080-:80");
    EXPECT_EQ(hostfwd_key(*f), "tcp:127.0.0.1:8080");
    auto u = parse_publish("5353:53/udp");
    ASSERT_TRUE(u);
    EXPECT_EQ(hostfwd_rule(*u), "udp:127.0.0.1:5353-:53");
}

TEST(VmPublish, BadFormsAreRefusedNamingTheValue) {
    for (const char* bad : {"80", "0:80", "8080:70000", "a:80", "1:2:3", "8080:80/sctp", "8080:", ":80"}) {
        auto f = parse_publish(bad);
        ASSERT_FALSE(f) << bad;
        EXPECT_NE(f.error().message.find(std::string("-p ") + bad), std::string::npos) << f.error().message;
    }
}

}  // namespace
}  // namespace lxbox::vm
