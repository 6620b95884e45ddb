#include "runtime/proto/frame.hpp"

#include <cstring>

namespace lxbox::proto {

namespace {

void put_u16(unsigned char* p, uint16_t v) {
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
}

void put_u32(unsigned char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

uint16_t get_u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t get_u32(const unsigned char* p) {
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

constexpr char kMagicBytes[4] = {'L', 'X', 'B', '1'};

}  // namespace

bool is_known_type(uint16_t type) {
    return (type >= uint16_t(FrameType::Hello) && type <= uint16_t(FrameType::Notice)) ||
           (type >= uint16_t(FrameType::Stdin) && type <= uint16_t(FrameType::Stderr));
}

bool is_data_type(FrameType type) {
    return type == FrameType::Stdin || type == FrameType::Stdout || type == FrameType::Stderr;
}

const char* to_string(FrameType type) {
    switch (type) {
        case FrameType::Hello: return "hello";
        case FrameType::Ping: return "ping";
        case FrameType::Pong: return "pong";
        case FrameType::Run: return "run";
        case FrameType::Exec: return "exec";
        case FrameType::Signal: return "signal";
        case FrameType::Resize: return "resize";
        case FrameType::StdinClose: return "stdin-close";
        case FrameType::Exit: return "exit";
        case FrameType::Error: return "error";
        case FrameType::Shutdown: return "shutdown";
        case FrameType::Credit: return "credit";
        case FrameType::Attach: return "attach";
        case FrameType::Status: return "status";
        case FrameType::Remove: return "remove";
        case FrameType::Detach: return "detach";
        case FrameType::Ports: return "ports";
        case FrameType::Connect: return "connect";
        case FrameType::Notice: return "notice";
        case FrameType::Stdin: return "stdin";
        case FrameType::Stdout: return "stdout";
        case FrameType::Stderr: return "stderr";
    }
    return "unknown";
}

const char* to_string(DecodeErrorKind kind) {
    switch (kind) {
        case DecodeErrorKind::BadMagic: return "bad magic";
        case DecodeErrorKind::BadVersion: return "unsupported frame version";
        case DecodeErrorKind::UnknownType: return "unknown frame type";
        case DecodeErrorKind::Oversized: return "oversized frame";
        case DecodeErrorKind::Truncated: return "truncated frame";
    }
    return "decode error";
}

void encode_header(const FrameHeader& h, unsigned char out[kHeaderSize]) {
    put_u32(out, h.magic);
    put_u16(out + 4, h.version);
    put_u16(out + 6, h.type);
    put_u32(out + 8, h.session);
    put_u32(out + 12, h.length);
}

FrameHeader parse_header(const unsigned char in[kHeaderSize]) {
    return FrameHeader{get_u32(in), get_u16(in + 4), get_u16(in + 6), get_u32(in + 8),
                       get_u32(in + 12)};
}

bool append_frame(std::string& out, FrameType type, uint32_t session, std::string_view payload) {
    if (payload.size() > kMaxPayload) return false;
    unsigned char header[kHeaderSize];
    encode_header(FrameHeader{kMagic, kFrameVersion, uint16_t(type), session,
                              static_cast<uint32_t>(payload.size())},
                  header);
    out.append(reinterpret_cast<const char*>(header), kHeaderSize);
    out.append(payload);
    return true;
}

std::string encode_frame(const Frame& frame) {
    std::string out;
    out.reserve(kHeaderSize + frame.payload.size());
    if (!append_frame(out, frame.type, frame.session, frame.payload)) return {};
    return out;
}

std::vector<DecodeEvent> FrameDecoder::feed(std::string_view bytes) {
    buf_.append(bytes);
    std::vector<DecodeEvent> events;
    while (auto event = next()) events.push_back(std::move(*event));
    compact();
    return events;
}

std::optional<DecodeError> FrameDecoder::finish() {
    size_t left = buffered();
    bool inside = left > 0 || skip_ > 0;
    DecodeError error{DecodeErrorKind::Truncated, kConnectionSession, {}};
    if (left >= kHeaderSize) {
        auto h = parse_header(reinterpret_cast<const unsigned char*>(buf_.data() + pos_));
        if (h.magic == kMagic) error.session = h.session;
    }
    error.message = "truncated frame: the stream ended " +
                    (skip_ > 0 ? std::to_string(skip_) + " bytes before the end of a refused frame"
                               : std::to_string(left) + " bytes into a frame");
    buf_.clear();
    pos_ = 0;
    skip_ = 0;
    in_garbage_ = false;
    if (!inside) return std::nullopt;
    return error;
}

DecodeError FrameDecoder::refuse(DecodeErrorKind kind, const FrameHeader& h, std::string message) {
    // The header is trustworthy enough to skip by: drop the payload as it streams past.
    pos_ += kHeaderSize;
    skip_ = h.length;
    return DecodeError{kind, h.session, std::move(message)};
}

std::optional<DecodeEvent> FrameDecoder::resync() {
    // Out of sync (garbage, or a peer speaking another protocol): look for the next magic.
    // Reported once per run of garbage, not once per byte.
    std::string_view rest(buf_.data() + pos_ + 1, buf_.size() - pos_ - 1);
    size_t at = rest.find(std::string_view(kMagicBytes, 4));
    size_t dropped;
    if (at != std::string_view::npos) {
        dropped = at + 1;
    } else {
        // Keep the last 3 bytes: they may be the start of a magic that the next read completes.
        dropped = buf_.size() - pos_ - 3;
    }
    pos_ += dropped;
    bool report = !in_garbage_;
    in_garbage_ = true;
    if (!report) return next();
    return DecodeError{DecodeErrorKind::BadMagic, kConnectionSession,
                       "bad magic: skipped " + std::to_string(dropped) +
                           " bytes that are not a frame"};
}

std::optional<DecodeEvent> FrameDecoder::next() {
    if (skip_ > 0) {
        size_t drop = static_cast<size_t>(std::min<uint64_t>(skip_, buffered()));
        pos_ += drop;
        skip_ -= drop;
        if (skip_ > 0) return std::nullopt;
    }
    if (buffered() < kHeaderSize) return std::nullopt;
    auto h = parse_header(reinterpret_cast<const unsigned char*>(buf_.data() + pos_));
    if (h.magic != kMagic) return resync();
    in_garbage_ = false;
    if (h.version != kFrameVersion)
        return refuse(DecodeErrorKind::BadVersion, h,
                      "unsupported frame version " + std::to_string(h.version) + " (this side speaks " +
                          std::to_string(kFrameVersion) + ")");
    if (!is_known_type(h.type))
        return refuse(DecodeErrorKind::UnknownType, h,
                      "unknown frame type " + std::to_string(h.type));
    if (h.length > max_payload_)
        return refuse(DecodeErrorKind::Oversized, h,
                      "oversized frame: " + std::to_string(h.length) + " bytes of payload, at most " +
                          std::to_string(max_payload_) + " allowed");
    if (buffered() < kHeaderSize + h.length) return std::nullopt;
    Frame frame{FrameType(h.type), h.session, buf_.substr(pos_ + kHeaderSize, h.length)};
    pos_ += kHeaderSize + h.length;
    return frame;
}

void FrameDecoder::compact() {
    // Erase consumed bytes once they are the larger part, so the buffer stays ~one frame long.
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
}

}  // namespace lxbox::proto
