// The channel's control messages: JSON round trips and refusal of payloads that lie.
#include <gtest/gtest.h>

#include "runtime/proto/messages.hpp"

namespace lxbox::proto {
namespace {

template <class M>
M round_trip(const M& m) {
    Frame f = make_frame(7, m);
    EXPECT_EQ(f.type, M::kType);
    FrameDecoder decoder;
    auto events = decoder.feed(encode_frame(f));
    EXPECT_EQ(events.size(), 1u);
    auto parsed = parse_message<M>(std::get<Frame>(events.at(0)));
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
    return parsed.value();
}

TEST(ProtoMessages, HelloRoundTrips) {
    Hello h{1, "0.1.0", {"run", "credit"}, 1764300000123456789};
    Hello back = round_trip(h);
    EXPECT_EQ(back.protocol_version, 1u);
    EXPECT_EQ(back.agent_version, "0.1.0");
    EXPECT_EQ(back.capabilities, (std::vector<std::string>{"run", "credit"}));
    EXPECT_EQ(back.host_time_ns, 1764300000123456789);
}

TEST(ProtoMessages, EveryMessageRoundTrips) {
    EXPECT_EQ(round_trip(Ping{42}).nonce, 42u);
    EXPECT_EQ(round_trip(Pong{~0ull}).nonce, ~0ull);
    proto::Run run{nlohmann::json{{"args", {"uname", "-a"}}}, {{"vda", "/run/lxbox/images/deb", "ext4", true}},
                   true, 24, 80, "sleep 600 &"};
    proto::Run r = round_trip(run);
    EXPECT_EQ(r.boot_command, "sleep 600 &");
    // Without one the field is left out: what an agent from before it reads.
    EXPECT_FALSE(nlohmann::json(proto::Run{}).contains("boot_command"));
    EXPECT_EQ(r.spec, run.spec);
    EXPECT_EQ(r.mounts, run.mounts);
    EXPECT_TRUE(r.tty);
    EXPECT_EQ(r.rows, 24);
    EXPECT_EQ(r.cols, 80);
    proto::Exec exec{"/run/lxbox/containers/dev", nlohmann::json{{"args", {"ps"}}}, true, 30, 100};
    proto::Exec x = round_trip(exec);
    EXPECT_EQ(x.container_dir, exec.container_dir);
    EXPECT_EQ(x.process, exec.process);
    EXPECT_TRUE(x.tty);
    EXPECT_EQ(x.rows, 30);
    EXPECT_EQ(x.cols, 100);
    EXPECT_EQ(round_trip(Signal{15}).signal, 15);
    Resize rs = round_trip(Resize{50, 132});
    EXPECT_EQ(rs.rows, 50);
    EXPECT_EQ(rs.cols, 132);
    round_trip(StdinClose{});
    Exit e = round_trip(Exit{137, 9});
    EXPECT_EQ(e.code, 137);
    EXPECT_EQ(e.signal, 9);
    EXPECT_EQ(round_trip(ErrorMessage{"no such container"}).message, "no such container");
    round_trip(Shutdown{});
    EXPECT_EQ(round_trip(Credit{1 << 20}).bytes, 1u << 20);
    Detach d = round_trip(Detach{"d-01", "/run/lxbox/images/d-01", "in use", true});
    EXPECT_EQ(d.serial, "d-01");
    EXPECT_EQ(d.target, "/run/lxbox/images/d-01");
    EXPECT_EQ(d.error, "in use");
    EXPECT_TRUE(d.busy);
    // A client's "the disks on file changed" is an empty Detach.
    Detach empty = round_trip(Detach{});
    EXPECT_TRUE(empty.serial.empty() && empty.error.empty() && !empty.busy);
    Ports ports = round_trip(Ports{{{8080, 3}, {65535, 0}}});
    EXPECT_EQ(ports.ports, (std::vector<ListeningPort>{{8080, 3}, {65535, 0}}));
    EXPECT_EQ(round_trip(Connect{8080}).port, 8080);
    EXPECT_EQ(round_trip(Notice{"port 80 is not forwarded"}).message, "port 80 is not forwarded");
}

TEST(ProtoMessages, PortsOutOfRangeAreRefused) {
    EXPECT_FALSE(parse_message<Connect>(Frame{FrameType::Connect, 1, R"({"port":70000})"}).ok());
    EXPECT_FALSE(parse_message<Ports>(Frame{FrameType::Ports, 0, R"({"ports":[{"port":-1}]})"}).ok());
}

TEST(ProtoMessages, OptionalFieldsMayBeMissing) {
    auto h = parse_message<Hello>(Frame{FrameType::Hello, 0, R"({"protocol_version":3})"});
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->protocol_version, 3u);
    EXPECT_TRUE(h->capabilities.empty());
}

TEST(ProtoMessages, RefusesPayloadThatIsNotJson) {
    auto p = parse_message<Ping>(Frame{FrameType::Ping, 0, "{not json"});
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().kind, ErrorKind::Invalid);
    EXPECT_NE(p.error().message.find("not JSON"), std::string::npos);
}

TEST(ProtoMessages, RefusesNonObjectMissingFieldAndWrongType) {
    EXPECT_FALSE(parse_message<Ping>(Frame{FrameType::Ping, 0, "[1,2]"}).ok());
    EXPECT_FALSE(parse_message<Ping>(Frame{FrameType::Ping, 0, "{}"}).ok());
    EXPECT_FALSE(parse_message<Ping>(Frame{FrameType::Ping, 0, R"({"nonce":"x"})"}).ok());
    EXPECT_FALSE(parse_message<proto::Run>(Frame{FrameType::Run, 1, R"({"spec":3})"}).ok());
    EXPECT_FALSE(parse_message<proto::Exec>(Frame{FrameType::Exec, 1, R"({"container_dir":"/x","process":[]})"}).ok());
    EXPECT_FALSE(parse_message<proto::Exec>(Frame{FrameType::Exec, 1, R"({"process":{}})"}).ok());
    EXPECT_FALSE(parse_message<Hello>(Frame{FrameType::Hello, 0, R"({"agent_version":"1"})"}).ok());
}

TEST(ProtoMessages, RefusesFrameOfAnotherType) {
    auto p = parse_message<Ping>(Frame{FrameType::Pong, 0, R"({"nonce":1})"});
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().message.find("expected a ping frame, got pong"), std::string::npos);
}

}  // namespace
}  // namespace lxbox::proto
