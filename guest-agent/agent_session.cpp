#include "guest-agent/agent_session.hpp"

#include <algorithm>

namespace lxbox::agent {

using namespace lxbox::proto;

template <class M>
void AgentSession::reply(uint32_t session, const M& m, SessionActions& out) {
    out.output += encode_frame(make_frame(session, m));
}

void AgentSession::reply_error(uint32_t session, const std::string& message, SessionActions& out) {
    // Errors end the session they name; session 0 is the connection, which stays up.
    flow_.erase(session);
    ErrorMessage error{message};
    if (error.message.size() > 4096) error.message.resize(4096);
    reply(session, error, out);
}

SessionActions AgentSession::on_bytes(std::string_view bytes) {
    SessionActions out;
    for (auto& event : decoder_.feed(bytes)) {
        if (auto* error = std::get_if<DecodeError>(&event))
            reply_error(error->session, error->message, out);
        else
            on_frame(std::get<Frame>(event), out);
    }
    return out;
}

void AgentSession::on_disconnect() {
    decoder_.finish();
    decoder_ = FrameDecoder();
    flow_ = FlowTable();
    hello_done_ = false;
}

void AgentSession::on_hello(const Frame& frame, SessionActions& out) {
    auto hello = parse_message<Hello>(frame);
    if (!hello) return reply_error(frame.session, hello.error().message, out);
    if (hello->protocol_version < 1)
        return reply_error(frame.session, "protocol version " +
                                              std::to_string(hello->protocol_version) +
                                              " is not supported (this agent speaks 1)",
                           out);
    // Both speak the lower version; a newer host talks down to us.
    peer_version_ = std::min(hello->protocol_version, kProtocolVersion);
    hello_done_ = true;
    if (hello->host_time_ns > 0) out.set_clock_ns = hello->host_time_ns;
    Hello mine{peer_version_, version_, {std::begin(kCapabilities), std::end(kCapabilities)}, 0};
    reply(frame.session, mine, out);
}

void AgentSession::on_frame(const Frame& frame, SessionActions& out) {
    if (frame.type == FrameType::Hello) return on_hello(frame, out);
    if (!hello_done_)
        return reply_error(frame.session, std::string("expected hello, got ") + to_string(frame.type), out);
    switch (frame.type) {
        case FrameType::Ping: {
            auto ping = parse_message<Ping>(frame);
            if (!ping) return reply_error(frame.session, ping.error().message, out);
            return reply(frame.session, Pong{ping->nonce}, out);
        }
        case FrameType::Error:
            // The host ended a session; answering an error with an error could loop forever.
            flow_.erase(frame.session);
            return;
        case FrameType::Pong:
            return;
        case FrameType::Shutdown:
            out.power_off = true;
            return;
        case FrameType::Credit: {
            auto credit = parse_message<Credit>(frame);
            if (!credit) return reply_error(frame.session, credit.error().message, out);
            flow_.session(frame.session).send.grant(credit->bytes);
            return;
        }
        default:
            // run/exec and the stdio streams arrive with the native runtime (a later slice).
            return reply_error(frame.session, std::string(to_string(frame.type)) +
                                                  " is not supported by this agent yet",
                               out);
    }
}

}  // namespace lxbox::agent
