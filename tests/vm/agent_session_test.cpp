// The agent's protocol behaviour without a VM: AgentSession is bytes in, bytes out.
#include <gtest/gtest.h>

#include "guest-agent/agent_session.hpp"
#include "guest-agent/pid1.hpp"

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
    bad += encode_frame(Frame{FrameType::Run, 14, R"({"spec":{}})"});
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
    EXPECT_TRUE(modules[1].boot);
    EXPECT_FALSE(modules[2].boot);
}

}  // namespace
}  // namespace lxbox::agent
