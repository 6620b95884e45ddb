#include "runtime/proto/flow_control.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace lxbox::proto {

size_t SendWindow::sendable(size_t want) const {
    return static_cast<size_t>(std::min<uint64_t>(want, credit_));
}

Status SendWindow::consume(size_t bytes) {
    if (bytes > credit_)
        return Error(ErrorKind::Internal, "flow control: sending " + std::to_string(bytes) +
                                              " bytes with only " + std::to_string(credit_) +
                                              " bytes of credit");
    credit_ -= bytes;
    return {};
}

void SendWindow::grant(uint64_t bytes) {
    uint64_t room = std::numeric_limits<uint64_t>::max() - credit_;
    credit_ += std::min(bytes, room);
}

Status ReceiveWindow::on_received(size_t bytes) {
    if (bytes > outstanding_)
        return Error(ErrorKind::Invalid, "flow control: the peer sent " + std::to_string(bytes) +
                                             " bytes with only " + std::to_string(outstanding_) +
                                             " bytes of credit");
    outstanding_ -= bytes;
    buffered_ += bytes;
    return {};
}

std::optional<uint64_t> ReceiveWindow::on_consumed(size_t bytes) {
    uint64_t drained = std::min<uint64_t>(bytes, buffered_);
    buffered_ -= drained;
    reclaimable_ += drained;
    if (reclaimable_ == 0 || reclaimable_ < window_ / 2) return std::nullopt;
    uint64_t grant = reclaimable_;
    reclaimable_ = 0;
    outstanding_ += grant;
    return grant;
}

SessionFlow& FlowTable::session(uint32_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end())
        it = sessions_.emplace(id, SessionFlow{SendWindow(window_), ReceiveWindow(window_)}).first;
    return it->second;
}

}  // namespace lxbox::proto
