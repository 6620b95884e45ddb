#include "host/vm/port_forward.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/base/log.hpp"

namespace lxbox::vm {

using namespace lxbox::proto;

namespace {

// Binding a port below this needs CAP_NET_BIND_SERVICE on most hosts: the supervisor runs as
// the user and asks for no privilege to expose a guest's port 80; -p 8080:80 does it.
constexpr uint16_t kFirstUnprivilegedPort = 1024;

// A listening socket on address:port, or the errno that refused it.
Result<UniqueFd> listen_tcp(const std::string& address, uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1)
        return Error(ErrorKind::Invalid, address + " is not an IPv4 address");
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Error::last("socket");
    // Past connections in TIME_WAIT do not hold the port; a listener does (EADDRINUSE still).
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::last("listen on " + address + ":" + std::to_string(port));
    if (::listen(fd.get(), 128) != 0) return Error::last("listen on " + address + ":" + std::to_string(port));
    return fd;
}

}  // namespace

ForwardVerdict decide_forward(uint16_t port, const std::set<uint16_t>& published) {
    if (published.count(port)) return ForwardVerdict::Published;
    if (port < kFirstUnprivilegedPort) return ForwardVerdict::Privileged;
    return ForwardVerdict::Forward;
}

std::string forward_warning(uint16_t port, ForwardVerdict verdict) {
    const std::string p = std::to_string(port);
    switch (verdict) {
        case ForwardVerdict::Privileged:
            return "port " + p + " in the VM is not forwarded to the host's 127.0.0.1: ports below 1024 need privileges "
                   "there (publish it on another port with -p 8080:" + p + ")";
        case ForwardVerdict::InUse:
            return "port " + p + " in the VM is not forwarded to the host's 127.0.0.1:" + p +
                   ": the host already uses it (publish it on another port with -p PORT:" + p + ")";
        case ForwardVerdict::Forward:
        case ForwardVerdict::Published:
            return "";
    }
    return "";
}

ForwardChanges diff_forwards(const std::set<uint16_t>& known, const std::vector<ListeningPort>& listening) {
    ForwardChanges out;
    std::set<uint16_t> now;
    for (const auto& l : listening) {
        if (!now.insert(l.port).second) continue;
        if (!known.count(l.port)) out.add.push_back(l);
    }
    for (uint16_t port : known)
        if (!now.count(port)) out.remove.push_back(port);
    return out;
}

void PortForwarder::on_ports(const std::vector<ListeningPort>& ports, const std::set<uint16_t>& published) {
    std::set<uint16_t> known = refused_;
    for (const auto& [port, fd] : listeners_) known.insert(port);
    const ForwardChanges changes = diff_forwards(known, ports);
    for (uint16_t port : changes.remove) {
        if (listeners_.erase(port)) spdlog::info("port {}: no longer listening in the VM, forward removed", port);
        refused_.erase(port);
    }
    for (const auto& port : changes.add) forward(port, published);
}

void PortForwarder::forward(const ListeningPort& port, const std::set<uint16_t>& published) {
    ForwardVerdict verdict = decide_forward(port.port, published);
    if (verdict == ForwardVerdict::Forward) {
        auto fd = listen_tcp(address_, port.port);
        if (fd) {
            spdlog::info("port {}: forwarded from the host's {}", port.port, address_);
            listeners_[port.port] = std::move(*fd);
            return;
        }
        if (fd.error().errno_value != EADDRINUSE) {
            // Not a decision but a failure (out of fds, say): said in the log, tried again when
            // the port next appears.
            spdlog::warn("port {}: {}", port.port, fd.error().message);
            refused_.insert(port.port);
            return;
        }
        verdict = ForwardVerdict::InUse;
    }
    // Published ports are remembered too, so a -p session's port is not looked at each report.
    refused_.insert(port.port);
    const std::string line = forward_warning(port.port, verdict);
    if (line.empty()) return;
    spdlog::warn("{}", line);
    hooks_.warn(port.session, line);
}

void PortForwarder::add_poll_fds(std::vector<pollfd>& fds) const {
    for (const auto& [port, fd] : listeners_) fds.push_back({fd.get(), POLLIN, 0});
    for (const auto& [session, s] : streams_) {
        short events = 0;
        if (s.reading && s.flow.send.available() > 0) events |= POLLIN;
        if (!s.out.empty()) events |= POLLOUT;
        // Polled even with no events: a reset by the host's side shows as POLLERR/POLLHUP.
        fds.push_back({s.fd.get(), events, 0});
    }
}

void PortForwarder::on_poll(const pollfd* fds, size_t count) {
    // Matched by fd, not by position: frames from the agent handled earlier in the same loop
    // turn may have ended connections or added listeners since add_poll_fds.
    std::map<int, short> revents;
    for (size_t i = 0; i < count; ++i)
        if (fds[i].revents) revents[fds[i].fd] = fds[i].revents;
    if (revents.empty()) return;
    auto events_of = [&](int fd) {
        auto it = revents.find(fd);
        return it == revents.end() ? short(0) : it->second;
    };
    std::vector<std::pair<uint32_t, short>> active;
    for (const auto& [session, s] : streams_)
        if (short e = events_of(s.fd.get())) active.emplace_back(session, e);
    std::vector<std::pair<uint16_t, int>> ready;
    for (const auto& [port, fd] : listeners_)
        if (events_of(fd.get()) & POLLIN) ready.emplace_back(port, fd.get());
    for (const auto& [session, e] : active) {
        auto it = streams_.find(session);
        if (it != streams_.end() && (e & POLLOUT)) write_host(session, it->second);
        it = streams_.find(session);
        if (it != streams_.end() && (e & (POLLIN | POLLHUP | POLLERR))) read_host(session, it->second);
    }
    for (const auto& [port, fd] : ready) accept_on(port, fd);
}

void PortForwarder::accept_on(uint16_t port, int listener) {
    for (;;) {
        UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) return;
        const uint32_t session = hooks_.open_session();
        streams_[session].fd = std::move(fd);
        hooks_.to_agent(make_frame(session, Connect{port}));
    }
}

void PortForwarder::read_host(uint32_t session, Stream& s) {
    if (!s.reading) {
        // Only an error or hang-up is left to see on a half-closed connection.
        char probe;
        if (::recv(s.fd.get(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != EINTR)
            abort(session, std::string("the host's side: ") + std::strerror(errno));
        return;
    }
    char buf[1 << 16];
    const size_t want = s.flow.send.sendable(sizeof buf);
    if (want == 0) return;
    const ssize_t n = ::recv(s.fd.get(), buf, want, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) return abort(session, std::string("the host's side: ") + std::strerror(errno));
    if (n == 0) {
        s.reading = false;
        return hooks_.to_agent(make_frame(session, StdinClose{}));
    }
    (void)s.flow.send.consume(static_cast<size_t>(n));
    hooks_.to_agent(Frame{FrameType::Stdin, session, std::string(buf, static_cast<size_t>(n))});
}

void PortForwarder::write_host(uint32_t session, Stream& s) {
    size_t written = 0;
    while (written < s.out.size()) {
        const ssize_t n = ::send(s.fd.get(), s.out.data() + written, s.out.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            written += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        return abort(session, std::string("the host's side: ") + std::strerror(errno));
    }
    s.out.erase(0, written);
    if (auto grant = s.flow.receive.on_consumed(written)) hooks_.to_agent(make_frame(session, Credit{*grant}));
    // The guest's side closed and everything it sent is delivered: close ours (EOF to the client).
    if (s.guest_closed && s.out.empty()) streams_.erase(session);
}

void PortForwarder::on_agent_frame(const Frame& f) {
    auto it = streams_.find(f.session);
    if (it == streams_.end()) return;
    Stream& s = it->second;
    switch (f.type) {
        case FrameType::Stdout: {
            if (auto st = s.flow.receive.on_received(f.payload.size()); !st) return abort(f.session, st.error().message);
            s.out += f.payload;
            return write_host(f.session, s);
        }
        case FrameType::Credit:
            if (auto c = parse_message<Credit>(f)) s.flow.send.grant(c->bytes);
            return;
        case FrameType::Exit:
            s.guest_closed = true;
            return write_host(f.session, s);
        case FrameType::Error:
            // Nothing listens any more, or the guest's side failed: the host's side is closed.
            if (auto e = parse_message<ErrorMessage>(f)) spdlog::debug("forwarded connection: {}", e->message);
            streams_.erase(it);
            return;
        default:
            return;
    }
}

void PortForwarder::abort(uint32_t session, const std::string& why) {
    spdlog::debug("forwarded connection on session {} ends: {}", session, why);
    streams_.erase(session);
    hooks_.to_agent(make_frame(session, ErrorMessage{why}));
    hooks_.close_session(session);
}

void PortForwarder::clear() {
    streams_.clear();
    listeners_.clear();
    refused_.clear();
}

std::vector<uint16_t> PortForwarder::forwarded() const {
    std::vector<uint16_t> out;
    for (const auto& [port, fd] : listeners_) out.push_back(port);
    return out;
}

}  // namespace lxbox::vm
