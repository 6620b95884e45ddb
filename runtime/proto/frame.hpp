// The channel's framing: what one virtio-serial byte stream between host and guest agent is cut
// into. Our own code because no library frames a multiplexed stream the way we need (the
// protocol is ours, see DESIGN.md "The channel protocol").
//
// A frame is a fixed 16-byte little-endian header, then `length` bytes of payload:
//   u32 magic "LXB1" | u16 version | u16 type | u32 session | u32 length
// Control frames carry a JSON object (runtime/proto/messages.hpp); data frames (stdin,
// stdout, stderr) carry raw bytes. Session 0 is the connection itself (hello, ping, shutdown).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lxbox::proto {

// "LXB1" as it appears on the wire (bytes 'L' 'X' 'B' '1'), read as a little-endian u32.
inline constexpr uint32_t kMagic = 0x3142584cu;
// Version of the header layout; the message set is negotiated by Hello.protocol_version.
inline constexpr uint16_t kFrameVersion = 1;
inline constexpr size_t kHeaderSize = 16;
// A whole frame, header included, is at most 1 MiB: bounds the memory a peer can make us hold.
inline constexpr size_t kMaxFrameSize = 1u << 20;
inline constexpr size_t kMaxPayload = kMaxFrameSize - kHeaderSize;
// The session of connection-wide messages (hello, ping, shutdown, connection errors).
inline constexpr uint32_t kConnectionSession = 0;

enum class FrameType : uint16_t {
    Hello = 1,
    Ping = 2,
    Pong = 3,
    Run = 4,
    Exec = 5,
    Signal = 6,
    Resize = 7,
    StdinClose = 8,
    Exit = 9,
    Error = 10,
    Shutdown = 11,
    Credit = 12,
    // Between a CLI client and the VM supervisor only (host/vm/supervisor.hpp), never on the
    // virtio-serial port: the disks a session's Run needs, and the VM's status.
    Attach = 13,
    Status = 14,
    // Deletes a kept container's changes in the guest (`lxbox rm` of a vm container).
    Remove = 15,
    // Connection-wide: a distro disk the host is about to unplug (supervisor → agent, answered
    // by the agent with a Detach naming it), or the disks on file changed (CLI → supervisor).
    Detach = 16,
    // Localhost forwarding (host/vm/port_forward.hpp). Ports: agent → supervisor on session 0,
    // the guest's listening TCP ports whenever they change. Connect: supervisor → agent, opens
    // a session carrying one forwarded TCP connection (Stdin: host → guest bytes, Stdout:
    // guest → host, StdinClose: the host side's half close, Exit: the guest side closed).
    // Notice: supervisor → CLI client, a line for the user on the session it concerns (the
    // session whose container listens on a port that is not forwarded).
    Ports = 17,
    Connect = 18,
    Notice = 19,
    // Raw byte streams: the payload is the data, counted against the session's credit window.
    Stdin = 0x100,
    Stdout = 0x101,
    Stderr = 0x102,
};

// Whether a frame of this type starts a session's process (Run, Exec, Remove) or stream (Connect).
constexpr bool opens_session(FrameType type) {
    return type == FrameType::Run || type == FrameType::Exec || type == FrameType::Remove ||
           type == FrameType::Connect;
}

// Whether a type value read off the wire is one we know.
bool is_known_type(uint16_t type);
// Whether frames of this type carry raw bytes (true) or a JSON object (false).
bool is_data_type(FrameType type);
// "hello", "stdout", ... for messages and logs; "unknown" otherwise.
const char* to_string(FrameType type);

struct FrameHeader {
    uint32_t magic = kMagic;
    uint16_t version = kFrameVersion;
    uint16_t type = 0;
    uint32_t session = 0;
    uint32_t length = 0;
};

struct Frame {
    FrameType type = FrameType::Ping;
    uint32_t session = kConnectionSession;
    std::string payload;

    bool operator==(const Frame&) const = default;
};

// Pure: header fields to 16 bytes and back (no validation on parse).
void encode_header(const FrameHeader& header, unsigned char out[kHeaderSize]);
FrameHeader parse_header(const unsigned char in[kHeaderSize]);

// Pure: header + payload. The caller keeps payloads within kMaxPayload (asserted by
// encode_frame returning an empty string otherwise, which no valid frame is).
std::string encode_frame(const Frame& frame);
// Appends the encoded frame to out (avoids a copy on the hot path).
bool append_frame(std::string& out, FrameType type, uint32_t session, std::string_view payload);

enum class DecodeErrorKind {
    BadMagic,     // the stream is out of sync: bytes skipped up to the next magic
    BadVersion,   // a header version we do not speak: its payload is skipped
    UnknownType,  // a type we do not know: its payload is skipped
    Oversized,    // length beyond the maximum: its payload is skipped without buffering it
    Truncated,    // the stream ended inside a frame
};

const char* to_string(DecodeErrorKind kind);

// A frame the decoder refused. session is the header's session (kConnectionSession for
// BadMagic and Truncated-in-header), so the reply can end that session only.
struct DecodeError {
    DecodeErrorKind kind = DecodeErrorKind::BadMagic;
    uint32_t session = kConnectionSession;
    std::string message;
};

using DecodeEvent = std::variant<Frame, DecodeError>;

// Incremental decoder of a byte stream into frames. Never throws on input, never crashes,
// never holds more than one frame plus one read's worth of bytes: an oversized payload is
// counted down and dropped, not buffered.
class FrameDecoder {
public:
    explicit FrameDecoder(size_t max_payload = kMaxPayload) : max_payload_(max_payload) {}

    // Appends bytes and returns every complete frame or error they finish, in stream order.
    std::vector<DecodeEvent> feed(std::string_view bytes);
    // Call at end of stream: a Truncated error when a frame was left incomplete.
    std::optional<DecodeError> finish();
    // Bytes held for an incomplete frame.
    size_t buffered() const { return buf_.size() - pos_; }

private:
    std::optional<DecodeEvent> next();
    std::optional<DecodeEvent> resync();
    DecodeError refuse(DecodeErrorKind kind, const FrameHeader& h, std::string message);
    void compact();

    size_t max_payload_;
    std::string buf_;
    size_t pos_ = 0;
    uint64_t skip_ = 0;  // payload bytes of a refused frame still to drop
    bool in_garbage_ = false;  // a BadMagic was reported and no good header seen since
};

}  // namespace lxbox::proto
