#include "host/vm/channel_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

namespace lxbox::vm {

using Clock = std::chrono::steady_clock;

Result<ChannelClient> ChannelClient::connect(const std::string& socket_path, Millis timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path)
        return Error(ErrorKind::Invalid, "socket path too long: " + socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    auto deadline = Clock::now() + timeout;
    for (;;) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) return Error::last("socket");
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            return ChannelClient(std::move(fd));
        // QEMU creates the socket a few ms after it starts: keep trying until the deadline.
        if ((errno != ENOENT && errno != ECONNREFUSED) || Clock::now() >= deadline)
            return Error::last("connect " + socket_path);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

Status ChannelClient::send(const proto::Frame& frame) {
    std::string bytes = proto::encode_frame(frame);
    if (bytes.empty()) return Error(ErrorKind::Invalid, "frame payload too large");
    return send_raw(bytes);
}

Status ChannelClient::send_raw(std::string_view bytes) {
    return write_all(fd_.get(), bytes.data(), bytes.size()).context("write to the agent channel");
}

Result<proto::Frame> ChannelClient::receive(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    char buf[1 << 16];
    while (pending_.empty()) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return Error(ErrorKind::System, "no answer from the agent within " +
                                                           std::to_string(timeout.count()) + " ms");
        pollfd p{fd_.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, int(left));
        if (ready < 0 && errno != EINTR) return Error::last("poll the agent channel");
        if (ready <= 0) continue;
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::last("read the agent channel");
        if (n == 0) {
            closed_ = true;
            return Error(ErrorKind::System, "the agent channel closed");
        }
        for (auto& e : decoder_.feed(std::string_view(buf, size_t(n)))) pending_.push_back(std::move(e));
    }
    auto event = std::move(pending_.front());
    pending_.pop_front();
    if (auto* error = std::get_if<proto::DecodeError>(&event))
        return Error(ErrorKind::Refused, "from the agent: " + error->message);
    return std::get<proto::Frame>(std::move(event));
}

Result<proto::Hello> ChannelClient::hello(Millis timeout) {
    proto::Hello mine;
    mine.agent_version = "lxbox-host";
    mine.capabilities = {"ping", "credit"};
    mine.host_time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    LXBOX_TRY(send(proto::make_frame(proto::kConnectionSession, mine)));
    peer_ = LXBOX_TRY(receive_message<proto::Hello>(timeout).context("hello"));
    return peer_;
}

bool ChannelClient::peer_can(const std::string& capability) const {
    return std::find(peer_.capabilities.begin(), peer_.capabilities.end(), capability) != peer_.capabilities.end();
}

Result<std::chrono::nanoseconds> ChannelClient::ping(Millis timeout) {
    uint64_t nonce = next_nonce_++;
    auto start = Clock::now();
    LXBOX_TRY(send(proto::make_frame(proto::kConnectionSession, proto::Ping{nonce})));
    auto pong = LXBOX_TRY(receive_message<proto::Pong>(timeout).context("ping"));
    auto took = Clock::now() - start;
    if (pong.nonce != nonce)
        return Error(ErrorKind::Invalid, "ping: pong for nonce " + std::to_string(pong.nonce) +
                                             ", expected " + std::to_string(nonce));
    return std::chrono::duration_cast<std::chrono::nanoseconds>(took);
}

}  // namespace lxbox::vm
