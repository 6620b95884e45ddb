// The agent's side of the channel protocol for one host connection, without I/O: bytes from
// the host in, bytes to the host out, plus what PID 1 must do (set the clock, power off).
// Pure so the protocol behaviour is unit-tested on the host (tests/vm/agent_session_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/proto/flow_control.hpp"
#include "runtime/proto/frame.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::agent {

// What the agent announces in its hello.
inline constexpr const char* kCapabilities[] = {"ping", "shutdown", "credit"};

struct SessionActions {
    std::string output;                 // bytes to write to the host, in order
    std::optional<int64_t> set_clock_ns;  // CLOCK_REALTIME from the host's hello
    bool power_off = false;             // the host asked for shutdown
};

class AgentSession {
public:
    explicit AgentSession(std::string agent_version) : version_(std::move(agent_version)) {}

    // Handles bytes read from the port. Never throws on hostile input: a bad frame gets an
    // Error reply on its session and the connection goes on.
    SessionActions on_bytes(std::string_view bytes);
    // The host disconnected: forget the handshake and any partial frame.
    void on_disconnect();
    bool handshake_done() const { return hello_done_; }

private:
    void on_frame(const proto::Frame& frame, SessionActions& out);
    void on_hello(const proto::Frame& frame, SessionActions& out);
    void reply_error(uint32_t session, const std::string& message, SessionActions& out);
    template <class M>
    void reply(uint32_t session, const M& m, SessionActions& out);

    std::string version_;
    proto::FrameDecoder decoder_;
    proto::FlowTable flow_;
    bool hello_done_ = false;
    uint32_t peer_version_ = 0;
};

}  // namespace lxbox::agent
