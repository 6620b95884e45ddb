// libFuzzer target for the channel decoder: arbitrary bytes, fed in arbitrary chunks, through
// FrameDecoder and every message parser. Besides "no crash, no leak, no UB" (ASan under
// clang), it checks the decoder's promises: frames stay within the size limit, a decoded frame
// re-encodes to bytes that decode to the same frame, and the buffer never outgrows one frame
// plus one chunk. Built by clang with -fsanitize=fuzzer; replayed over corpus/ by GCC builds.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/proto/frame.hpp"
#include "runtime/proto/messages.hpp"

namespace {

using namespace lxbox::proto;

#define FUZZ_CHECK(cond) \
    do {                 \
        if (!(cond)) std::abort(); \
    } while (0)

template <class M>
void try_parse(const Frame& frame) {
    auto m = parse_message<M>(frame);
    if (m.ok()) {
        // Whatever parsed must serialize again and parse to an equal payload.
        Frame again = make_frame(frame.session, m.value());
        FUZZ_CHECK(parse_message<M>(again).ok());
    } else {
        FUZZ_CHECK(!m.error().message.empty());
    }
}

void parse_control(const Frame& frame) {
    switch (frame.type) {
        case FrameType::Hello: return try_parse<Hello>(frame);
        case FrameType::Ping: return try_parse<Ping>(frame);
        case FrameType::Pong: return try_parse<Pong>(frame);
        case FrameType::Run:
        case FrameType::Exec: return try_parse<Run>(Frame{FrameType::Run, frame.session, frame.payload});
        case FrameType::Signal: return try_parse<Signal>(frame);
        case FrameType::Resize: return try_parse<Resize>(frame);
        case FrameType::StdinClose: return try_parse<StdinClose>(frame);
        case FrameType::Exit: return try_parse<Exit>(frame);
        case FrameType::Error: return try_parse<ErrorMessage>(frame);
        case FrameType::Shutdown: return try_parse<Shutdown>(frame);
        case FrameType::Credit: return try_parse<Credit>(frame);
        case FrameType::Attach: return try_parse<Attach>(frame);
        case FrameType::Remove: return try_parse<Remove>(frame);
        case FrameType::Detach: return try_parse<Detach>(frame);
        default: return;
    }
}

void check_frame(const Frame& frame, size_t max_payload) {
    FUZZ_CHECK(frame.payload.size() <= max_payload);
    FrameDecoder again;
    auto events = again.feed(encode_frame(frame));
    FUZZ_CHECK(events.size() == 1);
    FUZZ_CHECK(std::get<Frame>(events[0]) == frame);
    if (!is_data_type(frame.type)) parse_control(frame);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    // Byte 0: chunk size of the feeds; byte 1: small or real payload limit (reaches the
    // oversized path with small inputs).
    size_t chunk = size_t(data[0]) + 1;
    size_t max_payload = (data[1] & 1) ? kMaxPayload : 64;
    std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
    FrameDecoder decoder(max_payload);
    for (size_t i = 0; i < stream.size(); i += chunk) {
        for (auto& event : decoder.feed(stream.substr(i, chunk))) {
            if (auto* frame = std::get_if<Frame>(&event))
                check_frame(*frame, max_payload);
            else
                FUZZ_CHECK(!std::get<DecodeError>(event).message.empty());
        }
        FUZZ_CHECK(decoder.buffered() <= kHeaderSize + max_payload + chunk);
    }
    if (auto err = decoder.finish()) FUZZ_CHECK(err->kind == DecodeErrorKind::Truncated);
    FUZZ_CHECK(decoder.buffered() == 0);
    return 0;
}
