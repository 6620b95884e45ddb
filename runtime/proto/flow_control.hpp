// Credit-based flow control for the data frames (stdin, stdout, stderr) of each session, so
// a fast producer cannot make the other side buffer without bound: the receiver grants a
// window of bytes; the sender never has more than that in flight; the receiver grants more
// (a Credit message) as its consumer drains what arrived. Pure bookkeeping, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

#include "runtime/base/error.hpp"

namespace lxbox::proto {

// Each side starts with this much credit per session and direction, without a Credit message.
// 1 MiB keeps a 100+ MB/s stream flowing at the channel's ~0.1-1 ms round trip.
inline constexpr uint64_t kInitialWindow = 1u << 20;

// The sending half: how much the peer still lets us send.
class SendWindow {
public:
    explicit SendWindow(uint64_t initial = kInitialWindow) : credit_(initial) {}
    uint64_t available() const { return credit_; }
    // How many of `want` bytes may go out now.
    size_t sendable(size_t want) const;
    // Records bytes sent; an Internal error if that exceeds the credit (a bug of ours).
    Status consume(size_t bytes);
    // The peer granted more; saturates instead of wrapping on a hostile grant.
    void grant(uint64_t bytes);

private:
    uint64_t credit_;
};

// The receiving half: what we allowed the peer to send and when to allow more.
class ReceiveWindow {
public:
    explicit ReceiveWindow(uint64_t window = kInitialWindow) : window_(window), outstanding_(window) {}
    // Records bytes that arrived; an Invalid error if the peer sent more than it was granted
    // (the session then ends: the peer ignores flow control).
    Status on_received(size_t bytes);
    // Records bytes our consumer drained; returns the credit to grant the peer once at least
    // half the window is reclaimable (batched: not one Credit message per read).
    std::optional<uint64_t> on_consumed(size_t bytes);
    // Bytes received but not yet consumed.
    uint64_t buffered() const { return buffered_; }

private:
    uint64_t window_;
    uint64_t outstanding_;  // credit the peer still holds
    uint64_t buffered_ = 0;
    uint64_t reclaimable_ = 0;  // consumed bytes not yet granted back
};

// Both directions of one session.
struct SessionFlow {
    SendWindow send;
    ReceiveWindow receive;
};

// The flow state of every open session on a connection.
class FlowTable {
public:
    explicit FlowTable(uint64_t window = kInitialWindow) : window_(window) {}
    // The session's state, created with full windows on first use.
    SessionFlow& session(uint32_t id);
    void erase(uint32_t id) { sessions_.erase(id); }
    size_t size() const { return sessions_.size(); }

private:
    uint64_t window_;
    std::map<uint32_t, SessionFlow> sessions_;
};

}  // namespace lxbox::proto
