// The agent's half of localhost forwarding without a VM: /proc/net/tcp{,6} parsing, where a
// forwarded connection goes in, and what the session tells the host (Ports only on change,
// Connect as a session of its own).
#include <gtest/gtest.h>

#include <algorithm>

#include "guest-agent/agent_session.hpp"
#include "guest-agent/listeners.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/common/loopback.hpp"

namespace lxbox::agent {
namespace {

using namespace lxbox::proto;

// As a kernel prints it (x86-64, little-endian): a listener on 127.0.0.1:8080, one on
// 0.0.0.0:5432, an established connection (state 01) and a TIME_WAIT (06), which are not.
constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   1: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 23456 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   2: 0F02000A:0016 0202000A:C350 01 00000000:00000000 02:0000A3D7 00000000     0        0 34567 4 "
    "0000000000000000 20 4 29 10 -1\n"
    "   3: 0100007F:1F90 0100007F:D431 06 00000000:00000000 03:00001770 00000000     0        0 0 3 "
    "0000000000000000\n";

// ::1 port 3000, :: port 8080, and ::ffff:10.0.2.15 port 9000 (bound to the NIC's address).
constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0\n"
    "   2: 0000000000000000FFFF00000F02000A:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 779 1 0000000000000000 100 0 0 10 0\n";

TEST(AgentPorts, ParsesTheListeningSocketsOfProcNetTcp) {
    const auto v4 = parse_proc_net_tcp(kTcp, false);
    ASSERT_EQ(v4.size(), 2u);
    EXPECT_EQ(v4[0], (Listener{8080, "127.0.0.1", false, 12345}));
    EXPECT_EQ(v4[1], (Listener{5432, "0.0.0.0", false, 23456}));
    const auto v6 = parse_proc_net_tcp(kTcp6, true);
    ASSERT_EQ(v6.size(), 3u);
    EXPECT_EQ(v6[0], (Listener{3000, "::1", true, 777}));
    EXPECT_EQ(v6[1], (Listener{8080, "::", true, 778}));
    EXPECT_EQ(v6[2], (Listener{9000, "::ffff:10.0.2.15", true, 779}));
}

TEST(AgentPorts, SkipsLinesThatDoNotParse) {
    EXPECT_TRUE(parse_proc_net_tcp("", false).empty());
    EXPECT_TRUE(parse_proc_net_tcp("garbage\n\n   0: zz:1F90 00000000:0000 0A 0 0 0 0 0 1\n", false).empty());
    // A v6 address in the v4 file (wrong width), port 0, and an inode that is not a number.
    EXPECT_TRUE(parse_proc_net_tcp("0: 00000000000000000000000001000000:0BB8 0:0 0A a b c d e 1\n", false).empty());
    EXPECT_TRUE(parse_proc_net_tcp("0: 0100007F:0000 0:0 0A a b c d e 1\n", false).empty());
    EXPECT_TRUE(parse_proc_net_tcp("0: 0100007F:1F90 0:0 0A a b c d e x\n", false).empty());
    // No trailing newline on the last line is fine.
    EXPECT_EQ(parse_proc_net_tcp("0: 0100007F:1F90 0:0 0A a b c d e 5", false).size(), 1u);
}

TEST(AgentPorts, TheRunningKernelsOwnTableHasOurListener) {
    // The parser against this machine's /proc/net/tcp: a listener on 127.0.0.1 (loopback only).
    uint16_t port = 0;
    UniqueFd fd = test::listen_loopback(port);
    ASSERT_TRUE(fd);
    const auto all = read_listeners();
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const Listener& l) {
        return l.port == port && l.address == "127.0.0.1" && !l.v6 && l.inode != 0;
    }));
    EXPECT_EQ(connect_address(all, port), "127.0.0.1");
    // And a connection to it, as a forwarded one is made.
    auto c = connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(c.ok()) << c.error().message;
}

TEST(AgentPorts, AForwardedConnectionGoesToLoopbackWhenTheServerTakesIt) {
    const auto all = [] {
        auto v = parse_proc_net_tcp(kTcp, false);
        auto v6 = parse_proc_net_tcp(kTcp6, true);
        v.insert(v.end(), v6.begin(), v6.end());
        return v;
    }();
    EXPECT_EQ(connect_address(all, 8080), "127.0.0.1");  // v4 loopback before the v6 any
    EXPECT_EQ(connect_address(all, 5432), "127.0.0.1");  // bound to every address
    EXPECT_EQ(connect_address(all, 3000), "::1");
    EXPECT_EQ(connect_address(all, 9000), "::ffff:10.0.2.15");  // only where it is bound
    EXPECT_EQ(connect_address(all, 1), std::nullopt);
    EXPECT_EQ(connect_address({{7000, "::", true, 1}}, 7000), "::1");
}

TEST(AgentPorts, EachPortOnceAscendingWithTheSessionOfItsHolder) {
    auto all = parse_proc_net_tcp(kTcp, false);
    auto v6 = parse_proc_net_tcp(kTcp6, true);
    all.insert(all.end(), v6.begin(), v6.end());
    // 8080 is held twice (v4 by an unknown process, v6 by session 3's container).
    const auto ports = listening_ports(all, {{778, 3}, {777, 5}});
    EXPECT_EQ(ports, (std::vector<ListeningPort>{{3000, 5}, {5432, 0}, {8080, 3}, {9000, 0}}));
}

std::vector<Frame> decode(const std::string& bytes) {
    FrameDecoder d;
    std::vector<Frame> frames;
    for (auto& e : d.feed(bytes))
        if (auto* f = std::get_if<Frame>(&e)) frames.push_back(*f);
    return frames;
}

TEST(AgentPorts, TheHostIsToldThePortsAfterItsHelloAndOnlyWhenTheyChange) {
    AgentSession s("0.1.0");
    EXPECT_EQ(s.on_ports({{8080, 1}}), "");  // no host yet
    (void)s.on_bytes(encode_frame(make_frame(0, Hello{1, "host", {}, 0})));
    auto first = decode(s.on_ports({{8080, 1}}));
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].session, 0u);
    EXPECT_EQ(parse_message<Ports>(first[0])->ports, (std::vector<ListeningPort>{{8080, 1}}));
    EXPECT_EQ(s.on_ports({{8080, 1}}), "");
    auto gone = decode(s.on_ports({}));
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_TRUE(parse_message<Ports>(gone[0])->ports.empty());
    // A reconnected host knows nothing: it is told again, the empty list included.
    s.on_disconnect();
    (void)s.on_bytes(encode_frame(make_frame(0, Hello{1, "host", {}, 0})));
    EXPECT_EQ(decode(s.on_ports({})).size(), 1u);
}

TEST(AgentPorts, ConnectOpensASessionThatCarriesStdinAndIsRefusedOnZeroOrOutOfRange) {
    AgentSession s("0.1.0");
    (void)s.on_bytes(encode_frame(make_frame(0, Hello{1, "host", {}, 0})));
    auto out = s.on_bytes(encode_frame(make_frame(4, Connect{8080})));
    ASSERT_EQ(out.connect.size(), 1u);
    EXPECT_EQ(out.connect[0].session, 4u);
    EXPECT_EQ(out.connect[0].port, 8080);
    auto in = s.on_bytes(encode_frame(Frame{FrameType::Stdin, 4, "GET /"}));
    ASSERT_EQ(in.process.size(), 1u);
    EXPECT_EQ(in.process[0].data, "GET /");
    // A second Connect on a busy session, one on session 0, and port 0 are refused.
    for (const auto& bad : {make_frame(4, Connect{8080}), make_frame(0, Connect{8080}),
                            Frame{FrameType::Connect, 6, R"({"port":0})"}}) {
        auto refused = s.on_bytes(encode_frame(bad));
        EXPECT_TRUE(refused.connect.empty());
        auto frames = decode(refused.output);
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_EQ(frames[0].type, FrameType::Error);
    }
    // The guest's side closed: Exit, and the session's frames are refused after.
    EXPECT_EQ(decode(s.on_exit(4, 0)).at(0).type, FrameType::Exit);
    EXPECT_EQ(decode(s.on_bytes(encode_frame(Frame{FrameType::Stdin, 4, "x"})).output).at(0).type, FrameType::Error);
}

}  // namespace
}  // namespace lxbox::agent
