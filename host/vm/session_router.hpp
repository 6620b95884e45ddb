// The VM supervisor's session table (pure): every CLI client numbers its sessions from 1 on
// its own connection; on the one channel to the agent each session needs a number no other
// client uses. The router hands out channel-wide ids and maps them back, so a frame from the
// agent reaches exactly the client and session it belongs to (no crossed streams).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace lxbox::vm {

// A client's session: the client's connection number and the id the client chose.
struct ClientSession {
    uint64_t client = 0;
    uint32_t local = 0;
    bool operator==(const ClientSession&) const = default;
    auto operator<=>(const ClientSession&) const = default;
};

class SessionRouter {
public:
    // The channel id of a client's session, made on first use (never 0, never reused while
    // the previous holder lives; wraps around skipping ids in use).
    uint32_t open(ClientSession s);
    // The channel id of a known session.
    std::optional<uint32_t> channel_id(ClientSession s) const;
    // Whose session a channel id is.
    std::optional<ClientSession> owner(uint32_t channel_id) const;
    // The session ended (its Exit or Error went by).
    void close(uint32_t channel_id);
    // A client went away: its sessions' channel ids (closed here), for the agent to end them.
    std::vector<uint32_t> close_client(uint64_t client);
    size_t size() const { return by_channel_.size(); }
    // Sessions of one client: how many, and the ids it chose for them.
    size_t count(uint64_t client) const;
    std::vector<uint32_t> local_ids(uint64_t client) const;

private:
    uint32_t next_ = 1;
    std::map<uint32_t, ClientSession> by_channel_;
    std::map<ClientSession, uint32_t> by_client_;
};

}  // namespace lxbox::vm
