#include "host/vm/session_router.hpp"

namespace lxbox::vm {

uint32_t SessionRouter::open(ClientSession s) {
    if (auto known = channel_id(s)) return *known;
    while (next_ == 0 || by_channel_.count(next_)) ++next_;
    const uint32_t id = next_++;
    by_channel_[id] = s;
    by_client_[s] = id;
    return id;
}

std::optional<uint32_t> SessionRouter::channel_id(ClientSession s) const {
    auto it = by_client_.find(s);
    if (it == by_client_.end()) return std::nullopt;
    return it->second;
}

std::optional<ClientSession> SessionRouter::owner(uint32_t channel_id) const {
    auto it = by_channel_.find(channel_id);
    if (it == by_channel_.end()) return std::nullopt;
    return it->second;
}

void SessionRouter::close(uint32_t channel_id) {
    auto it = by_channel_.find(channel_id);
    if (it == by_channel_.end()) return;
    by_client_.erase(it->second);
    by_channel_.erase(it);
}

std::vector<uint32_t> SessionRouter::close_client(uint64_t client) {
    std::vector<uint32_t> ids;
    for (auto it = by_client_.lower_bound({client, 0}); it != by_client_.end() && it->first.client == client;) {
        ids.push_back(it->second);
        by_channel_.erase(it->second);
        it = by_client_.erase(it);
    }
    return ids;
}

size_t SessionRouter::count(uint64_t client) const {
    size_t n = 0;
    for (auto it = by_client_.lower_bound({client, 0}); it != by_client_.end() && it->first.client == client; ++it) ++n;
    return n;
}

std::vector<uint32_t> SessionRouter::local_ids(uint64_t client) const {
    std::vector<uint32_t> ids;
    for (auto it = by_client_.lower_bound({client, 0}); it != by_client_.end() && it->first.client == client; ++it)
        ids.push_back(it->first.local);
    return ids;
}

}  // namespace lxbox::vm
