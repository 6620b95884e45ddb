// The agent's protocol behaviour without a VM: AgentSession is bytes in, bytes out.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "guest-agent/agent_session.hpp"
#include "guest-agent/modules.hpp"
#include "guest-agent/pid1.hpp"
#include "guest-agent/runner.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::agent {
namespace {

using namespace lxbox::proto;

std::vector<Frame> decode(const std::string& bytes) {
    FrameDecoder d;
    std::vector<Frame> frames;
    for (auto& e : d.feed(bytes)) {
        EXPECT_TRUE(std::holds_alternative<Frame>(e));
        if (auto* f = std::get_if<Frame>(&e)) frames.push_back(*f);
    }
    return frames;
}

std::string hello_bytes(int64_t time_ns = 0) {
    return encode_frame(make_frame(0, Hello{1, "host", {}, time_ns}));
}

TEST(AgentSession, AnswersHelloWithItsVersionAndCapabilities) {
    AgentSession s("0.1.0");
    auto out = s.on_bytes(hello_bytes(1764300000000000000));
    auto frames = decode(out.output);
    ASSERT_EQ(frames.size(), 1u);
    auto hello = parse_message<Hello>(frames[0]);
    ASSERT_TRUE(hello.ok());
    EXPECT_EQ(hello->protocol_version, 1u);
    EXPECT_EQ(hello->agent_version, "0.1.0");
    EXPECT_EQ(out.set_clock_ns, 1764300000000000000);
    EXPECT_TRUE(s.handshake_done());
}

TEST(AgentSession, NewerHostIsAnsweredWithOurVersion) {
    AgentSession s("0.1.0");
    auto out = s.on_bytes(encode_frame(make_frame(0, Hello{7, "host", {}, 0})));
    auto hello = parse_message<Hello>(decode(out.output).at(0));
    EXPECT_EQ(hello->protocol_version, 1u);
    EXPECT_FALSE(out.set_clock_ns.has_value());
}

TEST(AgentSession, RefusesAnythingBeforeHello) {
    AgentSession s("0.1.0");
    auto frames = decode(s.on_bytes(encode_frame(make_frame(0, Ping{1}))).output);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].type, FrameType::Error);
}

TEST(AgentSession, PingGetsPongWithTheSameNonceEvenSplitByteByByte) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    std::string ping = encode_frame(make_frame(0, Ping{99}));
    std::string output;
    for (char c : ping) output += s.on_bytes(std::string_view(&c, 1)).output;
    auto frames = decode(output);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(parse_message<Pong>(frames[0])->nonce, 99u);
}

TEST(AgentSession, BadFramesGetErrorsOnTheirSessionAndServingGoesOn) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    unsigned char h[kHeaderSize];
    encode_header({kMagic, kFrameVersion, 0x4444, 12, 2}, h);
    std::string bad = std::string(reinterpret_cast<char*>(h), kHeaderSize) + "zz";
    bad += encode_frame(Frame{FrameType::Ping, 13, "[]"});
    bad += encode_frame(Frame{FrameType::Resize, 14, R"({"rows":1,"cols":1})"});
    bad += encode_frame(make_frame(0, Ping{5}));
    auto frames = decode(s.on_bytes(bad).output);
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(frames[0].type, FrameType::Error);
    EXPECT_EQ(frames[0].session, 12u);
    EXPECT_EQ(frames[1].session, 13u);
    EXPECT_EQ(frames[2].session, 14u);
    EXPECT_EQ(frames[3].type, FrameType::Pong);
}

TEST(AgentSession, ErrorFromTheHostIsNotAnsweredWithAnError) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    EXPECT_TRUE(s.on_bytes(encode_frame(make_frame(3, ErrorMessage{"bye"}))).output.empty());
}

TEST(AgentSession, ShutdownAsksForPowerOff) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    EXPECT_TRUE(s.on_bytes(encode_frame(make_frame(0, Shutdown{}))).power_off);
}

TEST(AgentSession, DisconnectForgetsTheHandshakeAndPartialFrames) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    std::string ping = encode_frame(make_frame(0, Ping{1}));
    s.on_bytes(ping.substr(0, 5));
    s.on_disconnect();
    EXPECT_FALSE(s.handshake_done());
    auto frames = decode(s.on_bytes(hello_bytes()).output);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].type, FrameType::Hello);
}

TEST(AgentPid1, ParsesTheLoadOrder) {
    auto modules = parse_load_order("virtio_ring.ko boot\nvirtio.ko boot\next4.ko later\n", "/lib/modules");
    ASSERT_EQ(modules.size(), 3u);
    EXPECT_EQ(modules[0].file, "/lib/modules/virtio_ring.ko");
    EXPECT_EQ(modules[1].phase, ModulePhase::Boot);
    EXPECT_EQ(modules[2].phase, ModulePhase::Later);
    EXPECT_TRUE(modules[2].after.empty());
    auto with_deps = parse_load_order(
        "jbd2.ko later\next4.ko later jbd2.ko,mbcache.ko\n9p.ko share\nsd_mod.ko hotplug\nx.ko someday\n", "/m");
    ASSERT_EQ(with_deps.size(), 4u) << "a line with an unknown phase is left out";
    EXPECT_EQ(with_deps[1].after, (std::vector<std::string>{"/m/jbd2.ko", "/m/mbcache.ko"}));
    EXPECT_EQ(with_deps[2].phase, ModulePhase::Share);
    EXPECT_EQ(with_deps[3].phase, ModulePhase::Hotplug);
    // No directory: the bare names, as the agent opens them relative to the module dir's fd.
    auto bare = parse_load_order("ext4.ko later jbd2.ko\n", "");
    EXPECT_EQ(bare[0].file, "ext4.ko");
    EXPECT_EQ(bare[0].after, std::vector<std::string>{"jbd2.ko"});
}

TEST(AgentPid1, AModulesWeightIsItsSizePlusTheHeaviestChainWaitingForIt) {
    auto modules = parse_load_order("crc16.ko later\njbd2.ko later\next4.ko later crc16.ko,jbd2.ko,builtin.ko\n"
                                    "virtio.ko boot\nconsole.ko boot virtio.ko\nblk.ko later virtio.ko\n",
                                    "");
    for (auto& m : modules) m.size = m.file == "ext4.ko" ? 2000 : m.file == "jbd2.ko" ? 300 : 10;
    EXPECT_EQ(chain_weights(modules), (std::vector<uint64_t>{2010, 2300, 2000, 20, 10, 10}));
}

namespace {

// A loader's view of its loads, for the tests: the order they started in, and checks that
// none started before its dependencies were done.
struct LoadLog {
    std::mutex mu;
    std::vector<std::string> started;
    std::set<std::string> loaded;
    std::atomic<int> running{0}, overlapped{0};

    ModuleLoader::Load load(std::chrono::microseconds each = std::chrono::microseconds(200)) {
        return [this, each](const ModuleToLoad& m) -> Status {
            if (running.fetch_add(1) > 0) overlapped = 1;
            {
                std::lock_guard lock(mu);
                started.push_back(m.file);
                for (const auto& dep : m.after)
                    if (dep != "builtin.ko") {
                        EXPECT_TRUE(loaded.count(dep)) << m.file << " before " << dep;
                    }
            }
            std::this_thread::sleep_for(each);
            running.fetch_sub(1);
            std::lock_guard lock(mu);
            loaded.insert(m.file);
            if (m.file == "broken.ko") return Error(ErrorKind::System, "load broken.ko: Invalid argument");
            return {};
        };
    }
};

}  // namespace

TEST(AgentPid1, ModulesLoadInParallelButNeverBeforeTheirDependencies) {
    // Two stacks sharing nothing, as the image's disk and network modules.
    auto modules = parse_load_order("a1.ko later\na2.ko later a1.ko\na3.ko later a1.ko,a2.ko\n"
                                    "b1.ko later\nb2.ko later b1.ko,builtin.ko\nbroken.ko later\nc.ko later broken.ko\n",
                                    "");
    for (int round = 0; round < 50; ++round) {
        LoadLog log;
        ModuleLoader loader(modules, 2, log.load());
        auto st = loader.wait(ModulePhase::Hotplug);
        ASSERT_FALSE(st);
        EXPECT_EQ(st.error().message, "load broken.ko: Invalid argument");
        EXPECT_EQ(log.loaded.size(), modules.size()) << "a failure stopped the rest";
        if (log.overlapped) return;  // two loads ran at once: the parallel path is exercised
    }
    ADD_FAILURE() << "no two modules were ever loaded at the same time";
}

TEST(AgentPid1, TheLoaderTakesThePhasesInOrderAndTheHeaviestChainFirstWithinOne) {
    auto modules = parse_load_order("virtio.ko boot\nconsole.ko boot virtio.ko\nblk.ko later virtio.ko\njbd2.ko later\n"
                                    "ext4.ko later jbd2.ko\n9p.ko share\nscsi.ko hotplug\n",
                                    "");
    for (auto& m : modules) m.size = m.file == "ext4.ko" ? 2000 : m.file == "jbd2.ko" ? 300 : 10;
    LoadLog log;
    // One worker: the order it picks is the whole story.
    ModuleLoader loader(modules, 1, log.load());
    ASSERT_TRUE(loader.wait(ModulePhase::Later).ok());
    EXPECT_EQ(log.started, (std::vector<std::string>{"virtio.ko", "console.ko", "jbd2.ko", "ext4.ko", "blk.ko"}))
        << "the channel first; then ext4's chain, the heaviest; nothing beyond the phase asked for";
    ASSERT_TRUE(loader.wait(ModulePhase::Share).ok());
    EXPECT_EQ(log.started.back(), "9p.ko");
    EXPECT_EQ(log.loaded.count("scsi.ko"), 0u) << "the SCSI stack waits for a hot-plugged disk";
    ASSERT_TRUE(loader.wait(ModulePhase::Hotplug).ok());
    EXPECT_EQ(log.started.back(), "scsi.ko");
    EXPECT_TRUE(loader.wait(ModulePhase::Later).ok()) << "asking again returns at once";
}

TEST(AgentPid1, OneModuleCanBeWaitedForAloneAndItsPhaseIsRequestedForIt) {
    auto modules = parse_load_order("failover.ko later\nnic.ko later failover.ko\nbroken.ko later\nscsi.ko hotplug\n", "");
    LoadLog log;
    ModuleLoader loader(modules, 1, log.load());
    EXPECT_TRUE(loader.wait_for("nic.ko").ok()) << "nothing requested yet: wait_for asks for its phase";
    {
        std::lock_guard lock(log.mu);
        EXPECT_TRUE(log.loaded.count("failover.ko") && log.loaded.count("nic.ko"));
        EXPECT_EQ(log.loaded.count("scsi.ko"), 0u);
    }
    auto broken = loader.wait_for("broken.ko");
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().message, "load broken.ko: Invalid argument");
    EXPECT_TRUE(loader.wait_for("scsi.ko").ok());
    EXPECT_TRUE(loader.wait_for("not-in-the-image.ko").ok()) << "at once";
}

TEST(AgentPid1, ALaterPhaseQueuedEarlyStillWaitsBehindTheOnesBeforeIt) {
    auto modules = parse_load_order("big.ko share\nsmall.ko later\n", "");
    modules[0].size = 1 << 20;
    modules[1].size = 1;
    LoadLog log;
    ModuleLoader loader(modules, 1, log.load(std::chrono::milliseconds(20)));
    // Both queued while the worker is idle: the later one is more urgent, though lighter.
    ASSERT_TRUE(loader.wait(ModulePhase::Share).ok());
    EXPECT_EQ(log.started, (std::vector<std::string>{"small.ko", "big.ko"}));
}

TEST(AgentPid1, TheImagesCacheEntriesAreCopiedIntoTheRuntimesCache) {
    auto dir = TempDir::make("/tmp", "lxbox-agent-test-");
    ASSERT_TRUE(dir.ok());
    const std::string image = dir->path() + "/image", to = dir->path() + "/run/lxbox/cache";
    ASSERT_EQ(::mkdir(image.c_str(), 0755), 0);
    ASSERT_TRUE(write_file_atomic(image + "/seccomp-abc.bpf", std::string(16, '\x06')).ok());
    ASSERT_TRUE(write_file_atomic(image + "/seccomp-def.bpf", "filter").ok());
    UniqueFd from(::open(image.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(from);
    ASSERT_TRUE(install_image_cache(from.get(), to).ok());
    auto abc = read_file(to + "/seccomp-abc.bpf"), def = read_file(to + "/seccomp-def.bpf");
    ASSERT_TRUE(abc.ok() && def.ok());
    EXPECT_EQ(*abc, std::string(16, '\x06'));
    EXPECT_EQ(*def, "filter");
    struct stat st {};
    ASSERT_EQ(::stat(to.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(AgentPid1, TheSerialOfAHotPluggedScsiDiskIsInItsVpdPage) {
    const std::string page = std::string("\x00\x80\x00\x12", 4) + "d-0123456789abcdef";
    EXPECT_EQ(vpd_serial(page), "d-0123456789abcdef");
    EXPECT_EQ(vpd_serial(std::string("\x00\x80\x00\x08", 4) + "abc     "), "abc");
    EXPECT_EQ(vpd_serial(std::string("\x00\x83\x00\x03", 4) + "abc"), "") << "another page";
    EXPECT_EQ(vpd_serial("\x00\x80"), "") << "torn";
}

proto::Run sample_run() {
    proto::Run run;
    run.spec = nlohmann::json{{"name", "c1"}, {"image_rootfs", "/run/lxbox/images/busybox/rootfs"},
                              {"container_dir", "/run/lxbox/containers/c1"}};
    run.mounts = {{"vda", "/run/lxbox/images/busybox", "ext4", true}};
    return run;
}

// A Run on session that is refused: the message of the one Error frame it gets on that session
// ("" and a test failure for anything else).
std::string refused_run(AgentSession& s, uint32_t session) {
    auto out = s.on_bytes(encode_frame(make_frame(session, sample_run())));
    EXPECT_TRUE(out.start.empty());
    auto frames = decode(out.output);
    if (frames.size() != 1u || frames[0].type != FrameType::Error || frames[0].session != session) {
        ADD_FAILURE() << "not one Error frame on session " << session;
        return "";
    }
    auto error = parse_message<ErrorMessage>(frames[0]);
    return error ? error->message : "";
}

TEST(AgentSessionRun, ARunStartsAContainerOnItsOwnSessionOnly) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    auto out = s.on_bytes(encode_frame(make_frame(7, sample_run())));
    ASSERT_EQ(out.start.size(), 1u);
    EXPECT_EQ(out.start[0].session, 7u);
    EXPECT_EQ(out.start[0].run.mounts, sample_run().mounts);
    EXPECT_TRUE(out.output.empty());
    // A second run on a busy session, and a run on the connection's session, are refused.
    for (uint32_t session : {7u, 0u}) EXPECT_NE(refused_run(s, session), "");
}

// A boot mount that failed was only written to the console: containers then started without
// /proc or cgroups. Every Run is answered with it instead.
TEST(AgentSessionRun, AFailedBootIsTheAnswerToEveryRun) {
    AgentSession s("0.1.0");
    s.set_boot_failure("mount cgroup2 on /sys/fs/cgroup: No such device");
    s.on_bytes(hello_bytes());
    for (uint32_t session : {7u, 8u})
        EXPECT_EQ(refused_run(s, session), "the VM did not boot cleanly (lxbox vm stop restarts it): mount cgroup2 on "
                                           "/sys/fs/cgroup: No such device");
    // A clean boot runs them.
    s.set_boot_failure("");
    EXPECT_EQ(s.on_bytes(encode_frame(make_frame(9, sample_run()))).start.size(), 1u);
}

TEST(AgentSessionRun, MountsOutsideRunLxboxOrDevicesWithPathsAreRefused) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    proto::Run bad_device = sample_run();
    bad_device.mounts[0].device = "../sda";
    proto::Run bad_target = sample_run();
    bad_target.mounts[0].target = "/etc";
    for (const proto::Run& run : {bad_device, bad_target}) {
        auto out = s.on_bytes(encode_frame(make_frame(3, run)));
        EXPECT_TRUE(out.start.empty());
        auto e = parse_message<ErrorMessage>(decode(out.output).at(0));
        ASSERT_TRUE(e);
        EXPECT_NE(e->message.find("mount"), std::string::npos) << e->message;
    }
}

TEST(AgentSessionRun, DisksNamedBySerialAreAcceptedAndOddSerialsRefused) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    proto::Run by_serial = sample_run();
    by_serial.mounts[0].device.clear();
    by_serial.mounts[0].serial = "d-0123456789abcdef";
    EXPECT_EQ(s.on_bytes(encode_frame(make_frame(1, by_serial))).start.size(), 1u);
    proto::Run odd = sample_run();
    odd.spec["container_dir"] = "/run/lxbox/containers/c2";
    odd.mounts[0].serial = "../../x";
    auto out = s.on_bytes(encode_frame(make_frame(2, odd)));
    EXPECT_TRUE(out.start.empty());
    auto e = parse_message<ErrorMessage>(decode(out.output).at(0));
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("serial"), std::string::npos) << e->message;
}

TEST(AgentSessionRun, AKeptContainerRunsOnceAtATimeAndIsRemovedOnlyWhenStopped) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    ASSERT_EQ(s.on_bytes(encode_frame(make_frame(1, sample_run()))).start.size(), 1u);
    auto again = s.on_bytes(encode_frame(make_frame(2, sample_run())));
    EXPECT_TRUE(again.start.empty());
    EXPECT_EQ(parse_message<ErrorMessage>(decode(again.output).at(0))->message,
              "container 'c1' is already running in the VM");
    proto::Remove remove{"/run/lxbox/containers/c1", {}};
    auto busy = s.on_bytes(encode_frame(make_frame(3, remove)));
    EXPECT_TRUE(busy.remove.empty());
    EXPECT_EQ(decode(busy.output).at(0).type, FrameType::Error);
    // Once its process exits, the container may run again, or be removed.
    s.on_exit(1, 0);
    auto removed = s.on_bytes(encode_frame(make_frame(4, remove)));
    ASSERT_EQ(removed.remove.size(), 1u);
    EXPECT_EQ(removed.remove[0].remove.container_dir, "/run/lxbox/containers/c1");
    // Only a container directly under /run/lxbox/containers is removable.
    for (const char* dir : {"/run/lxbox/containers", "/run/lxbox/containers/../x", "/etc", "/run/lxbox/containers/a/b"}) {
        auto out = s.on_bytes(encode_frame(make_frame(5, proto::Remove{dir, {}})));
        EXPECT_TRUE(out.remove.empty()) << dir;
        EXPECT_EQ(decode(out.output).at(0).type, FrameType::Error) << dir;
    }
}

TEST(AgentSessionDetach, ADiskIsUnmountedOnlyAtItsOwnPlaceAndTheAnswerNamesIt) {
    AgentSession s("0.1.0");
    auto hello = decode(s.on_bytes(hello_bytes()).output).at(0);
    auto caps = parse_message<Hello>(hello)->capabilities;
    EXPECT_NE(std::find(caps.begin(), caps.end(), "detach"), caps.end());
    proto::Detach d{"d-0123456789abcdef", "/run/lxbox/images/d-0123456789abcdef", "", false};
    auto out = s.on_bytes(encode_frame(make_frame(0, d)));
    ASSERT_EQ(out.detach.size(), 1u);
    EXPECT_EQ(out.detach[0].target, d.target);
    EXPECT_TRUE(out.output.empty()) << "answered once done, by the server";
    d.error = "the disk d-0123456789abcdef is in use at /run/lxbox/images/d-0123456789abcdef";
    d.busy = true;
    auto answer = parse_message<proto::Detach>(decode(s.on_detached(d)).at(0));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->serial, d.serial);
    EXPECT_TRUE(answer->busy);
    // Anything but a disk's own place under images/ is answered with why, and nothing is done.
    for (const auto& [serial, target] : std::vector<std::pair<std::string, std::string>>{
             {"d-1", "/run/lxbox/containers"},
             {"d-1", "/run/lxbox/images/"},
             {"d-1", "/run/lxbox/images/../../etc"},
             {"d-1", "/run/lxbox/images/a/b"},
             {"", "/run/lxbox/images/x"},
             {"../x", "/run/lxbox/images/x"}}) {
        auto refused = s.on_bytes(encode_frame(make_frame(0, proto::Detach{serial, target, "", false})));
        EXPECT_TRUE(refused.detach.empty()) << target;
        auto why = parse_message<proto::Detach>(decode(refused.output).at(0));
        ASSERT_TRUE(why) << target;
        EXPECT_FALSE(why->error.empty()) << target;
        EXPECT_FALSE(why->busy) << target;
    }
    // A connection message: on a session it is an error of that session.
    auto on_session = s.on_bytes(encode_frame(make_frame(7, d)));
    EXPECT_TRUE(on_session.detach.empty());
    EXPECT_EQ(decode(on_session.output).at(0).type, FrameType::Error);
}

TEST(AgentSessionExec, AnExecJoinsTheRunningContainerItNamesOnItsOwnSession) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    ASSERT_EQ(s.on_bytes(encode_frame(make_frame(1, sample_run()))).start.size(), 1u);
    proto::Exec exec{"/run/lxbox/containers/c1", nlohmann::json{{"args", {"ps"}}}, true, 24, 80};
    auto out = s.on_bytes(encode_frame(make_frame(2, exec)));
    ASSERT_EQ(out.exec.size(), 1u);
    EXPECT_EQ(out.exec[0].session, 2u);
    EXPECT_EQ(out.exec[0].container_session, 1u);
    EXPECT_TRUE(out.exec[0].exec.tty);
    EXPECT_EQ(out.exec[0].exec.rows, 24);
    EXPECT_TRUE(out.output.empty());
    // Its session carries stdin like a Run's, and takes no second process.
    EXPECT_EQ(s.on_bytes(encode_frame(Frame{FrameType::Stdin, 2, "x"})).process.size(), 1u);
    auto twice = s.on_bytes(encode_frame(make_frame(2, exec)));
    EXPECT_TRUE(twice.exec.empty());
    EXPECT_EQ(decode(twice.output).at(0).type, FrameType::Error);
    // Once the container's Run ended, an exec into it is refused on its session only.
    s.on_exit(1, 0);
    auto gone = s.on_bytes(encode_frame(make_frame(3, exec)));
    EXPECT_TRUE(gone.exec.empty());
    EXPECT_EQ(parse_message<ErrorMessage>(decode(gone.output).at(0))->message,
              "no container runs in /run/lxbox/containers/c1 in the VM");
    EXPECT_EQ(s.on_bytes(encode_frame(make_frame(0, Ping{5}))).output.empty(), false);
}

TEST(AgentSessionExec, ThrowawayContainersAreJoinableAndABadProcessIsRefused) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    proto::Run run = sample_run();
    run.spec["ephemeral"] = true;
    run.spec["container_dir"] = "/run/lxbox/ephemeral/c1-42";
    ASSERT_EQ(s.on_bytes(encode_frame(make_frame(4, run))).start.size(), 1u);
    // The same directory cannot run twice, kept or not.
    auto again = s.on_bytes(encode_frame(make_frame(5, run)));
    EXPECT_TRUE(again.start.empty());
    proto::Exec exec{"/run/lxbox/ephemeral/c1-42", nlohmann::json{{"args", {"true"}}}, false, 0, 0};
    auto out = s.on_bytes(encode_frame(make_frame(6, exec)));
    ASSERT_EQ(out.exec.size(), 1u);
    EXPECT_EQ(out.exec[0].container_session, 4u);
    exec.process = nlohmann::json{{"args", "not a list"}};
    auto bad = s.on_bytes(encode_frame(make_frame(7, exec)));
    EXPECT_TRUE(bad.exec.empty());
    auto e = parse_message<ErrorMessage>(decode(bad.output).at(0));
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("bad process spec"), std::string::npos) << e->message;
    // Not on the connection's session either.
    auto zero = s.on_bytes(encode_frame(make_frame(0, proto::Exec{"/run/lxbox/ephemeral/c1-42", {}, false, 0, 0})));
    EXPECT_TRUE(zero.exec.empty());
}

TEST(AgentSessionRun, AnErrorFromTheHostEndsTheSessionsProcess) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    s.on_bytes(encode_frame(make_frame(4, sample_run())));
    auto out = s.on_bytes(encode_frame(make_frame(4, ErrorMessage{"the client went away"})));
    ASSERT_EQ(out.process.size(), 1u);
    EXPECT_EQ(out.process[0].kind, ProcessAction::Kill);
    EXPECT_EQ(out.process[0].session, 4u);
    EXPECT_TRUE(out.output.empty());
}

TEST(AgentSessionRun, StdinSignalsAndCloseReachTheProcessWithinTheWindow) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    // Stdin for a session with no process is an error on that session.
    EXPECT_EQ(decode(s.on_bytes(encode_frame(Frame{FrameType::Stdin, 4, "x"})).output).at(0).type, FrameType::Error);
    s.on_bytes(encode_frame(make_frame(4, sample_run())));
    auto out = s.on_bytes(encode_frame(Frame{FrameType::Stdin, 4, "abc"}) + encode_frame(make_frame(4, Signal{15})) +
                          encode_frame(make_frame(4, StdinClose{})));
    ASSERT_EQ(out.process.size(), 3u);
    EXPECT_EQ(out.process[0].kind, ProcessAction::Stdin);
    EXPECT_EQ(out.process[0].data, "abc");
    EXPECT_EQ(out.process[1].kind, ProcessAction::Signal);
    EXPECT_EQ(out.process[1].signal, 15);
    EXPECT_EQ(out.process[2].kind, ProcessAction::CloseStdin);
    // Credit comes back once half the window was consumed, not per write.
    EXPECT_EQ(s.on_stdin_consumed(4, 3), "");
    // A host that sends past its window ignores flow control: the session ends.
    std::string flood;
    for (uint64_t sent = 3; sent <= kInitialWindow; sent += kMaxPayload)
        flood += encode_frame(Frame{FrameType::Stdin, 4, std::string(kMaxPayload, 'x')});
    auto frames = decode(s.on_bytes(flood).output);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.back().type, FrameType::Error);
}

TEST(AgentSessionRun, OutputStaysWithinTheHostsCreditAndExitClosesTheSession) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    s.on_bytes(encode_frame(make_frame(5, sample_run())));
    const std::string big(kInitialWindow + 100, 'o');
    EXPECT_EQ(s.sendable(5, big.size()), kInitialWindow);
    auto frames = decode(s.on_output(5, FrameType::Stdout, big));
    size_t sent = 0;
    for (const auto& f : frames) {
        EXPECT_EQ(f.type, FrameType::Stdout);
        EXPECT_LE(f.payload.size() + kHeaderSize, kMaxFrameSize);
        sent += f.payload.size();
    }
    EXPECT_EQ(sent, kInitialWindow);  // the rest waits for a Credit
    EXPECT_EQ(s.sendable(5, 1), 0u);
    s.on_bytes(encode_frame(make_frame(5, Credit{100})));
    EXPECT_EQ(s.sendable(5, 1000), 100u);
    auto exit = decode(s.on_exit(5, 3));
    ASSERT_EQ(exit.size(), 1u);
    EXPECT_EQ(parse_message<Exit>(exit[0])->code, 3);
    // The session is free again.
    EXPECT_EQ(s.on_bytes(encode_frame(make_frame(5, sample_run()))).start.size(), 1u);
}

TEST(AgentSessionRun, AHeaderForBytesSentBehindItTakesTheirCredit) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    s.on_bytes(encode_frame(make_frame(5, sample_run())));
    const std::string payload(1000, 'x');
    const std::string header = s.output_header(5, FrameType::Stderr, payload.size());
    ASSERT_EQ(header.size(), kHeaderSize);
    auto frames = decode(header + payload);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].type, FrameType::Stderr);
    EXPECT_EQ(frames[0].session, 5u);
    EXPECT_EQ(frames[0].payload, payload);
    EXPECT_EQ(s.sendable(5, kInitialWindow), kInitialWindow - payload.size());
    // Nothing beyond the window, and no empty frame.
    EXPECT_EQ(s.output_header(5, FrameType::Stdout, kInitialWindow), "");
    EXPECT_EQ(s.output_header(5, FrameType::Stdout, 0), "");
    EXPECT_EQ(s.sendable(5, kInitialWindow), kInitialWindow - payload.size());
}

TEST(AgentSessionRun, ATtyRunKeepsItsSizeForTheRunner) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    proto::Run run = sample_run();
    run.tty = true;
    run.rows = 33;
    run.cols = 101;
    auto out = s.on_bytes(encode_frame(make_frame(2, run)));
    ASSERT_EQ(out.start.size(), 1u);
    EXPECT_TRUE(out.start[0].run.tty);
    EXPECT_EQ(out.start[0].run.rows, 33);
    EXPECT_EQ(out.start[0].run.cols, 101);
}

TEST(AgentSessionRun, ARunsBootCommandReachesTheRunnerAndTheHelloSaysTheAgentRunsOne) {
    AgentSession s("0.1.0");
    auto caps = parse_message<Hello>(decode(s.on_bytes(hello_bytes()).output).at(0))->capabilities;
    EXPECT_NE(std::find(caps.begin(), caps.end(), "boot-command"), caps.end());
    proto::Run run = sample_run();
    run.boot_command = "sleep 600 & echo $! > /run/d.pid";
    auto out = s.on_bytes(encode_frame(make_frame(2, run)));
    ASSERT_EQ(out.start.size(), 1u);
    EXPECT_EQ(out.start[0].run.boot_command, run.boot_command);
}

TEST(AgentSessionRun, AResizeReachesTheRunningProcessAndABadOneEndsOnlyItsSession) {
    AgentSession s("0.1.0");
    s.on_bytes(hello_bytes());
    // A resize for a session with no process is an error on that session.
    auto none = decode(s.on_bytes(encode_frame(make_frame(4, Resize{40, 120}))).output);
    ASSERT_EQ(none.size(), 1u);
    EXPECT_EQ(none[0].type, FrameType::Error);
    EXPECT_EQ(none[0].session, 4u);
    proto::Run other = sample_run();
    other.spec["container_dir"] = "/run/lxbox/containers/c2";
    s.on_bytes(encode_frame(make_frame(4, sample_run())) + encode_frame(make_frame(5, other)));
    auto out = s.on_bytes(encode_frame(make_frame(4, Resize{40, 120})));
    EXPECT_TRUE(out.output.empty());
    ASSERT_EQ(out.process.size(), 1u);
    EXPECT_EQ(out.process[0].kind, ProcessAction::Resize);
    EXPECT_EQ(out.process[0].session, 4u);
    EXPECT_EQ(out.process[0].rows, 40);
    EXPECT_EQ(out.process[0].cols, 120);
    // Sizes no terminal has (zero, past 16 bits, negative, not numbers, missing) are refused
    // as numbers, before a uint16 could wrap them into some other size.
    for (const char* payload : {R"({"rows":0,"cols":80})", R"({"rows":24,"cols":70000})", R"({"rows":-1,"cols":80})",
                                R"({"rows":"24","cols":80})", R"({"rows":24})", R"({"rows":2.5,"cols":80})", "[]"}) {
        auto bad = s.on_bytes(encode_frame(Frame{FrameType::Resize, 4, payload}));
        EXPECT_TRUE(bad.process.empty()) << payload;
        auto frames = decode(bad.output);
        ASSERT_EQ(frames.size(), 1u) << payload;
        EXPECT_EQ(frames[0].type, FrameType::Error) << payload;
        EXPECT_EQ(frames[0].session, 4u) << payload;
    }
    // The other session and the connection go on.
    auto fine = s.on_bytes(encode_frame(make_frame(5, Resize{1, 65535})) + encode_frame(make_frame(0, Ping{8})));
    ASSERT_EQ(fine.process.size(), 1u);
    EXPECT_EQ(fine.process[0].session, 5u);
    EXPECT_EQ(fine.process[0].cols, 65535);
    auto pong = decode(fine.output);
    ASSERT_EQ(pong.size(), 1u);
    EXPECT_EQ(pong[0].type, FrameType::Pong);
}

TEST(AgentRunner, ReportsParseAndATornOneIsAFailure) {
    auto ok = parse_run_report(R"({"code":127,"message":"exec x: No such file or directory"})" "\n");
    EXPECT_EQ(ok.code, 127);
    EXPECT_EQ(ok.message, "exec x: No such file or directory");
    auto torn = parse_run_report(R"({"co)");
    EXPECT_EQ(torn.code, 125);
    EXPECT_EQ(torn.message, "the container's runner died without a report");
    // A Run's runner says first that its container is up; that line is no exit.
    const std::string started =
        R"({"started":{"pid":42,"start_time":1234,"namespaces":1879179264,"cgroup_paths":["/sys/fs/cgroup/lxbox-c1"]}})" "\n";
    EXPECT_EQ(parse_run_report(started).code, 125);
    auto exited = parse_run_report(started + R"({"code":3,"message":""})" "\n");
    EXPECT_EQ(exited.code, 3);
}

TEST(AgentRunner, TheStartedLineSaysHowToJoinTheContainer) {
    EXPECT_FALSE(parse_started(""));
    EXPECT_FALSE(parse_started(R"({"started":{"pid":42,"start_ti)"));
    EXPECT_FALSE(parse_started(R"({"code":0,"message":""})" "\n"));
    EXPECT_FALSE(parse_started(R"({"started":{"pid":0,"start_time":1,"namespaces":0,"cgroup_paths":[]}})" "\n"));
    EXPECT_FALSE(parse_started(R"({"started":{"pid":"x","start_time":1,"namespaces":0,"cgroup_paths":[]}})" "\n"));
    auto s = parse_started(R"({"started":{"pid":42,"start_time":1234,"namespaces":7,"cgroup_paths":["/a","/b"]}})" "\n"
                           R"({"code":0,"message":""})" "\n");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->pid, 42);
    EXPECT_EQ(s->start_time, 1234u);
    EXPECT_EQ(s->namespaces, 7);
    EXPECT_EQ(s->cgroup_paths, (std::vector<std::string>{"/a", "/b"}));
}

}  // namespace
}  // namespace lxbox::agent
