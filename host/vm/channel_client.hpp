// The host's end of the agent channel: a connection to QEMU's virtio-serial chardev socket,
// framing via runtime/proto. One client at a time can hold the port (QEMU serves one), so
// the VM supervisor owns this and multiplexes; tests and benches use it directly.
#pragma once

#include <chrono>
#include <deque>
#include <string>

#include "runtime/base/unique_fd.hpp"
#include "runtime/proto/frame.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::vm {

class ChannelClient {
public:
    using Millis = std::chrono::milliseconds;

    // Connects to the unix socket, retrying until it exists and accepts or the timeout ends.
    static Result<ChannelClient> connect(const std::string& socket_path, Millis timeout);

    // Sends our hello (with the host's wall clock) and waits for the agent's.
    Result<proto::Hello> hello(Millis timeout);
    // Whether the other end's hello named capability: what an agent from an older lxbox (its
    // VM started before this one was installed) lacks. (The supervisor passes the agent's on.)
    bool peer_can(const std::string& capability) const;
    // One ping round trip; returns its duration.
    Result<std::chrono::nanoseconds> ping(Millis timeout);

    Status send(const proto::Frame& frame);
    Status send_raw(std::string_view bytes);
    // The next frame from the agent; Refused on a decode error, System on EOF (then closed()) or
    // timeout.
    Result<proto::Frame> receive(Millis timeout);
    // Like receive, returning the frame only if it carries M (an agent Error becomes an Error).
    template <class M>
    Result<M> receive_message(Millis timeout) {
        auto frame = LXBOX_TRY(receive(timeout));
        if (frame.type == proto::FrameType::Error) {
            auto e = proto::parse_message<proto::ErrorMessage>(frame);
            return Error(ErrorKind::Refused, "agent: " + (e ? e->message : frame.payload));
        }
        return proto::parse_message<M>(frame);
    }

    int fd() const { return fd_.get(); }
    // Frames (or decode errors) already read and waiting: receive() returns them at once.
    bool has_pending() const { return !pending_.empty(); }
    // The other end closed the connection (a receive() saw EOF).
    bool closed() const { return closed_; }

private:
    explicit ChannelClient(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
    proto::FrameDecoder decoder_;
    std::deque<proto::DecodeEvent> pending_;
    uint64_t next_nonce_ = 1;
    bool closed_ = false;
    proto::Hello peer_;  // the other end's hello, once hello() had it
};

}  // namespace lxbox::vm
