// The channel's framing: round trips, and every way a stream can be wrong.
#include <gtest/gtest.h>

#include "runtime/proto/frame.hpp"

namespace lxbox::proto {
namespace {

std::vector<Frame> frames_of(const std::vector<DecodeEvent>& events) {
    std::vector<Frame> out;
    for (auto& e : events)
        if (auto* f = std::get_if<Frame>(&e)) out.push_back(*f);
    return out;
}

std::vector<DecodeError> errors_of(const std::vector<DecodeEvent>& events) {
    std::vector<DecodeError> out;
    for (auto& e : events)
        if (auto* d = std::get_if<DecodeError>(&e)) out.push_back(*d);
    return out;
}

std::string raw_header(uint32_t magic, uint16_t version, uint16_t type, uint32_t session,
                       uint32_t length) {
    unsigned char h[kHeaderSize];
    encode_header(FrameHeader{magic, version, type, session, length}, h);
    return std::string(reinterpret_cast<char*>(h), kHeaderSize);
}

TEST(ProtoFrame, HeaderIsLittleEndianWithLxb1Magic) {
    std::string bytes = encode_frame(Frame{FrameType::Stdout, 0x01020304, "hi"});
    ASSERT_EQ(bytes.size(), kHeaderSize + 2);
    EXPECT_EQ(bytes.substr(0, 4), "LXB1");
    EXPECT_EQ(bytes[4], 1);  // version, low byte first
    EXPECT_EQ(bytes[5], 0);
    EXPECT_EQ(static_cast<unsigned char>(bytes[6]), 0x01);  // type 0x101
    EXPECT_EQ(static_cast<unsigned char>(bytes[7]), 0x01);
    EXPECT_EQ(bytes[8], 4);  // session 0x01020304
    EXPECT_EQ(bytes[11], 1);
    EXPECT_EQ(bytes[12], 2);  // length
    EXPECT_EQ(bytes.substr(16), "hi");
}

TEST(ProtoFrame, RoundTripsEveryKnownType) {
    FrameDecoder decoder;
    std::string stream;
    std::vector<Frame> sent;
    for (uint16_t t = 0; t < 0x200; ++t) {
        if (!is_known_type(t)) continue;
        sent.push_back(Frame{FrameType(t), t * 7u, std::string(t % 5, 'x')});
        stream += encode_frame(sent.back());
    }
    auto events = decoder.feed(stream);
    EXPECT_EQ(frames_of(events), sent);
    EXPECT_TRUE(errors_of(events).empty());
    EXPECT_EQ(decoder.buffered(), 0u);
    EXPECT_FALSE(decoder.finish().has_value());
}

TEST(ProtoFrame, TheKnownTypesAreTheEnumsAndNamedSo) {
    EXPECT_TRUE(is_known_type(uint16_t(FrameType::Detach)));
    EXPECT_TRUE(is_known_type(uint16_t(FrameType::Notice)));
    EXPECT_FALSE(is_known_type(uint16_t(FrameType::Notice) + 1));
    EXPECT_STREQ(to_string(FrameType::Detach), "detach");
    EXPECT_STREQ(to_string(FrameType::Ports), "ports");
    EXPECT_STREQ(to_string(FrameType::Connect), "connect");
    EXPECT_STREQ(to_string(FrameType::Notice), "notice");
    EXPECT_FALSE(is_data_type(FrameType::Detach));
    EXPECT_FALSE(opens_session(FrameType::Detach));
    // A forwarded connection is a session of its own; the port list and notices are not.
    EXPECT_TRUE(opens_session(FrameType::Connect));
    EXPECT_FALSE(opens_session(FrameType::Ports));
    EXPECT_FALSE(opens_session(FrameType::Notice));
}

TEST(ProtoFrame, FramesSplitAcrossFeedsAtEveryByte) {
    Frame a{FrameType::Hello, 0, R"({"protocol_version":1})"};
    Frame b{FrameType::Stdin, 9, std::string(300, 'z')};
    std::string stream = encode_frame(a) + encode_frame(b);
    for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
        FrameDecoder decoder;
        std::vector<Frame> got;
        for (size_t i = 0; i < stream.size(); i += chunk) {
            auto f = frames_of(decoder.feed(std::string_view(stream).substr(i, chunk)));
            got.insert(got.end(), f.begin(), f.end());
        }
        ASSERT_EQ(got, (std::vector<Frame>{a, b})) << "chunk " << chunk;
    }
}

TEST(ProtoFrame, MaximumPayloadPassesAndOneMoreIsOversized) {
    FrameDecoder decoder;
    auto ok = decoder.feed(encode_frame(Frame{FrameType::Stdout, 1, std::string(kMaxPayload, 'a')}));
    ASSERT_EQ(frames_of(ok).size(), 1u);
    EXPECT_EQ(encode_frame(Frame{FrameType::Stdout, 1, std::string(kMaxPayload + 1, 'a')}), "");
}

TEST(ProtoFrame, OversizedFrameIsRefusedAndSkippedWithoutBuffering) {
    FrameDecoder decoder;
    uint32_t huge = 64u << 20;
    auto events = decoder.feed(raw_header(kMagic, kFrameVersion, uint16_t(FrameType::Stdout), 5, huge));
    auto errors = errors_of(events);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].kind, DecodeErrorKind::Oversized);
    EXPECT_EQ(errors[0].session, 5u);
    // Stream the whole refused payload past: the decoder must not keep it.
    std::string chunk(1 << 20, 'q');
    for (uint32_t sent = 0; sent < huge; sent += chunk.size()) {
        EXPECT_TRUE(decoder.feed(chunk).empty());
        EXPECT_EQ(decoder.buffered(), 0u);
    }
    // The next frame after it decodes normally: only that session was hurt.
    auto after = frames_of(decoder.feed(encode_frame(Frame{FrameType::Ping, 0, "{}"})));
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].type, FrameType::Ping);
}

TEST(ProtoFrame, UnknownTypeIsRefusedAndTheStreamContinues) {
    FrameDecoder decoder;
    std::string stream = raw_header(kMagic, kFrameVersion, 0x7777, 3, 4) + "abcd" +
                         encode_frame(Frame{FrameType::Pong, 0, "{}"});
    auto events = decoder.feed(stream);
    ASSERT_EQ(events.size(), 2u);
    auto err = std::get<DecodeError>(events[0]);
    EXPECT_EQ(err.kind, DecodeErrorKind::UnknownType);
    EXPECT_EQ(err.session, 3u);
    EXPECT_EQ(std::get<Frame>(events[1]).type, FrameType::Pong);
}

TEST(ProtoFrame, OtherVersionIsRefusedAndTheStreamContinues) {
    FrameDecoder decoder;
    std::string stream = raw_header(kMagic, 9, uint16_t(FrameType::Ping), 2, 3) + "xyz" +
                         encode_frame(Frame{FrameType::Ping, 0, "{}"});
    auto events = decoder.feed(stream);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(std::get<DecodeError>(events[0]).kind, DecodeErrorKind::BadVersion);
    EXPECT_EQ(std::get<DecodeError>(events[0]).session, 2u);
    EXPECT_TRUE(std::holds_alternative<Frame>(events[1]));
}

TEST(ProtoFrame, BadMagicIsReportedOnceAndResyncsOnTheNextFrame) {
    FrameDecoder decoder;
    std::string stream = std::string(1000, '\x55') + encode_frame(Frame{FrameType::Ping, 0, "{}"});
    std::vector<DecodeEvent> events;
    for (size_t i = 0; i < stream.size(); i += 7) {
        auto e = decoder.feed(std::string_view(stream).substr(i, 7));
        events.insert(events.end(), e.begin(), e.end());
    }
    auto errors = errors_of(events);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].kind, DecodeErrorKind::BadMagic);
    EXPECT_EQ(errors[0].session, kConnectionSession);
    ASSERT_EQ(frames_of(events).size(), 1u);
}

TEST(ProtoFrame, TruncatedFrameAtEndOfStream) {
    FrameDecoder decoder;
    std::string bytes = encode_frame(Frame{FrameType::Stdout, 4, "hello world"});
    EXPECT_TRUE(decoder.feed(bytes.substr(0, bytes.size() - 3)).empty());
    auto err = decoder.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->kind, DecodeErrorKind::Truncated);
    EXPECT_EQ(err->session, 4u);
    // The decoder is reusable after finish (a reconnect).
    EXPECT_EQ(decoder.buffered(), 0u);
    EXPECT_EQ(frames_of(decoder.feed(bytes)).size(), 1u);
}

TEST(ProtoFrame, TruncatedHeaderAtEndOfStream) {
    FrameDecoder decoder;
    EXPECT_TRUE(decoder.feed("LXB").empty());
    auto err = decoder.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->kind, DecodeErrorKind::Truncated);
}

TEST(ProtoFrame, EmptyPayloadFrame) {
    FrameDecoder decoder;
    auto f = frames_of(decoder.feed(encode_frame(Frame{FrameType::StdinClose, 8, ""})));
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].payload, "");
}

}  // namespace
}  // namespace lxbox::proto
