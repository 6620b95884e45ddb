// Localhost forwarding's host side without a VM: the decisions (which ports, which warning, the
// add/remove diff), and the forwarder itself on real loopback sockets, with the agent's end
// played by the test through the forwarder's hooks.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include "host/vm/port_forward.hpp"
#include "tests/common/loopback.hpp"

namespace lxbox::vm {
namespace {

using namespace lxbox::proto;

TEST(VmPortForward, LowPortsAndPublishedPortsAreNotForwarded) {
    EXPECT_EQ(decide_forward(8080, {}), ForwardVerdict::Forward);
    EXPECT_EQ(decide_forward(1024, {}), ForwardVerdict::Forward);
    EXPECT_EQ(decide_forward(1023, {}), ForwardVerdict::Privileged);
    EXPECT_EQ(decide_forward(80, {}), ForwardVerdict::Privileged);
    // -p 8080:80 holds host 8080 and guest 80 already: neither is forwarded nor warned about.
    EXPECT_EQ(decide_forward(80, {80, 8080}), ForwardVerdict::Published);
    EXPECT_EQ(decide_forward(8080, {80, 8080}), ForwardVerdict::Published);
}

TEST(VmPortForward, AWarningIsOneLineNamingThePortAndTheWayOut) {
    const std::string low = forward_warning(80, ForwardVerdict::Privileged);
    EXPECT_NE(low.find("port 80 "), std::string::npos);
    EXPECT_NE(low.find("below 1024"), std::string::npos);
    EXPECT_NE(low.find("-p 8080:80"), std::string::npos);
    const std::string used = forward_warning(5432, ForwardVerdict::InUse);
    EXPECT_NE(used.find("127.0.0.1:5432"), std::string::npos);
    EXPECT_NE(used.find("already uses it"), std::string::npos);
    for (const auto& line : {low, used}) EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(forward_warning(8080, ForwardVerdict::Forward), "");
    EXPECT_EQ(forward_warning(80, ForwardVerdict::Published), "");
}

TEST(VmPortForward, TheDiffAddsNewPortsOnceAndRemovesTheGoneOnes) {
    EXPECT_EQ(diff_forwards({}, {{8080, 1}, {3000, 0}}), (ForwardChanges{{{8080, 1}, {3000, 0}}, {}}));
    EXPECT_EQ(diff_forwards({8080}, {{8080, 1}}), ForwardChanges{});
    EXPECT_EQ(diff_forwards({8080, 3000}, {{3000, 0}, {9000, 2}}), (ForwardChanges{{{9000, 2}}, {8080}}));
    EXPECT_EQ(diff_forwards({80, 8080}, {}), (ForwardChanges{{}, {80, 8080}}));
    // A port listed twice is added once.
    EXPECT_EQ(diff_forwards({}, {{8080, 1}, {8080, 2}}), (ForwardChanges{{{8080, 1}}, {}}));
}

// The agent's end of the channel as the test sees it, and a forwarder wired to it.
struct Harness {
    std::vector<Frame> to_agent;
    std::vector<std::pair<uint32_t, std::string>> warnings;
    std::vector<uint32_t> closed;
    uint32_t next = 100;
    PortForwarder forwarder{PortForwarder::Hooks{
        [this] { return next++; }, [this](uint32_t id) { closed.push_back(id); },
        [this](const Frame& f) { to_agent.push_back(f); },
        [this](uint32_t session, const std::string& line) { warnings.emplace_back(session, line); }}};

    // One poll round of the forwarder's fds, as the supervisor's loop does it.
    void turn(int timeout_ms = 2000) {
        std::vector<pollfd> fds;
        forwarder.add_poll_fds(fds);
        ASSERT_GE(::poll(fds.data(), fds.size(), timeout_ms), 0);
        forwarder.on_poll(fds.data(), fds.size());
    }
    // Turns until the agent got a frame of this type.
    Frame next_to_agent(FrameType type) {
        for (int i = 0; i < 50; ++i) {
            for (auto it = to_agent.begin(); it != to_agent.end(); ++it)
                if (it->type == type) {
                    Frame f = *it;
                    to_agent.erase(it);
                    return f;
                }
            turn(200);
        }
        ADD_FAILURE() << "no " << to_string(type) << " frame reached the agent";
        return {};
    }
};

using test::connect_loopback;
using test::free_loopback_port;

TEST(VmPortForward, AConnectionToAForwardedPortIsCarriedBothWaysAndClosedByTheGuest) {
    Harness h;
    const uint16_t port = free_loopback_port();
    h.forwarder.on_ports({{port, 1}}, {});
    EXPECT_EQ(h.forwarder.forwarded(), std::vector<uint16_t>{port});
    EXPECT_TRUE(h.warnings.empty());
    UniqueFd client = connect_loopback(port);
    ASSERT_TRUE(client);
    const Frame connect = h.next_to_agent(FrameType::Connect);
    EXPECT_EQ(parse_message<Connect>(connect)->port, port);
    const uint32_t session = connect.session;
    // Host → guest.
    ASSERT_EQ(::send(client.get(), "ping", 4, 0), 4);
    EXPECT_EQ(h.next_to_agent(FrameType::Stdin).payload, "ping");
    // Guest → host, then the guest's side closes: the client reads the bytes, then EOF.
    h.forwarder.on_agent_frame(Frame{FrameType::Stdout, session, "pong"});
    h.forwarder.on_agent_frame(make_frame(session, Exit{0, 0}));
    char buf[16];
    ASSERT_EQ(::recv(client.get(), buf, sizeof buf, MSG_WAITALL), 4);
    EXPECT_EQ(std::string(buf, 4), "pong");
    EXPECT_EQ(h.forwarder.connections(), 0u);
    EXPECT_EQ(::recv(client.get(), buf, sizeof buf, 0), 0);
}

TEST(VmPortForward, TheHostsEofIsAHalfCloseAndAnAgentErrorEndsTheConnection) {
    Harness h;
    const uint16_t port = free_loopback_port();
    h.forwarder.on_ports({{port, 1}}, {});
    UniqueFd client = connect_loopback(port);
    ASSERT_TRUE(client);
    const uint32_t session = h.next_to_agent(FrameType::Connect).session;
    ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
    EXPECT_EQ(h.next_to_agent(FrameType::StdinClose).session, session);
    EXPECT_EQ(h.forwarder.connections(), 1u);  // the guest's answer may still come
    h.forwarder.on_agent_frame(make_frame(session, ErrorMessage{"nothing listens on port"}));
    EXPECT_EQ(h.forwarder.connections(), 0u);
    char c;
    EXPECT_LE(::recv(client.get(), &c, 1, 0), 0);
}

TEST(VmPortForward, AForwardGoesWhenThePortStopsListeningAndComesBackWhenItListensAgain) {
    Harness h;
    const uint16_t port = free_loopback_port();
    h.forwarder.on_ports({{port, 1}}, {});
    ASSERT_TRUE(connect_loopback(port));
    h.forwarder.on_ports({}, {});
    EXPECT_TRUE(h.forwarder.forwarded().empty());
    EXPECT_FALSE(connect_loopback(port));  // refused: nothing listens on the host's side either
    h.forwarder.on_ports({{port, 1}}, {});
    EXPECT_TRUE(connect_loopback(port));
    // The VM stopped: everything goes.
    h.forwarder.clear();
    EXPECT_FALSE(connect_loopback(port));
}

TEST(VmPortForward, APortTheHostUsesIsWarnedAboutOnceToItsSessionAndNotForwarded) {
    Harness h;
    // Something on the host listens on the port already.
    uint16_t port = 0;
    UniqueFd taken = test::listen_loopback(port);
    ASSERT_TRUE(taken);
    h.forwarder.on_ports({{80, 8}, {443, 0}, {port, 7}}, {443});
    EXPECT_TRUE(h.forwarder.forwarded().empty());
    ASSERT_EQ(h.warnings.size(), 2u);
    EXPECT_EQ(h.warnings[0].first, 8u);  // 80: below 1024 (ports ascending as the agent sends them)
    EXPECT_NE(h.warnings[0].second.find("below 1024"), std::string::npos);
    EXPECT_EQ(h.warnings[1].first, 7u);
    EXPECT_NE(h.warnings[1].second.find("already uses it"), std::string::npos);
    // The same report again: nothing new is said.
    h.forwarder.on_ports({{80, 8}, {port, 7}, {443, 0}}, {443});
    EXPECT_EQ(h.warnings.size(), 2u);
    // The server stopped and listens again: one more warning, for that new start.
    h.forwarder.on_ports({}, {});
    h.forwarder.on_ports({{port, 7}}, {});
    EXPECT_EQ(h.warnings.size(), 3u);
}

}  // namespace
}  // namespace lxbox::vm
