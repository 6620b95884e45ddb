// Sockets on the host's 127.0.0.1 for the tests of localhost forwarding (header-only: the
// agent's unit tests link no test support library). The network the tests touch is loopback only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "runtime/base/unique_fd.hpp"

namespace lxbox::test {

inline sockaddr_in loopback_address(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// A listening socket on 127.0.0.1 at a port the kernel picked (port is set to it); empty on failure.
inline UniqueFd listen_loopback(uint16_t& port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = loopback_address(0);
    socklen_t len = sizeof addr;
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd.get(), 8) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return UniqueFd();
    port = ntohs(addr.sin_port);
    return fd;
}

// A port nothing on the host listens on now (the kernel's pick for a socket just closed).
inline uint16_t free_loopback_port() {
    uint16_t port = 0;
    (void)listen_loopback(port);
    return port;
}

// A connection to 127.0.0.1:port; empty when refused.
inline UniqueFd connect_loopback(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = loopback_address(port);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
    return fd;
}

}  // namespace lxbox::test
