// The guest's listening TCP sockets, for localhost forwarding (host/vm/port_forward.hpp): what
// /proc/net/tcp{,6} says listens (pure parse), where a forwarded connection goes in, and which
// session's container holds a socket. Containers in the VM share the guest's network namespace
// (spec network "host"), so the agent's own /proc/net covers every container that has a network.
// Polled rather than watched with sock_diag: a scan is one read of two short files, done only
// while a session runs, and the parser is the part worth testing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::agent {

struct Listener {
    uint16_t port = 0;
    std::string address;  // as bound: "0.0.0.0", "127.0.0.1", "::", "::1", ...
    bool v6 = false;
    uint64_t inode = 0;   // the socket's, as /proc/PID/fd shows it ("socket:[N]")
    bool operator==(const Listener&) const = default;
};

// Pure: the sockets in LISTEN state in the text of /proc/net/tcp (v6 false) or /proc/net/tcp6.
// Addresses are read as the running kernel prints them (u32 words in its own byte order);
// lines that do not parse are skipped.
std::vector<Listener> parse_proc_net_tcp(std::string_view text, bool v6);

// Pure: the address a forwarded connection to port goes to: the loopback of a listener bound to
// every address or to loopback (IPv4 first: a dual-stack "::" listener takes 127.0.0.1 too),
// else the address it is bound to; nullopt when nothing listens on port.
std::optional<std::string> connect_address(const std::vector<Listener>& listeners, uint16_t port);

// Pure: each port once, ascending, with the session of the socket's holder (0 when unknown).
std::vector<proto::ListeningPort> listening_ports(const std::vector<Listener>& listeners,
                                                  const std::map<uint64_t, uint32_t>& session_of_inode);

// The listening sockets of the agent's network namespace (the guest's); empty if /proc/net
// cannot be read.
std::vector<Listener> read_listeners();

// Effect: a non-blocking TCP connection under way to address:port (its errors show on the
// first read or write, as a refused connection does).
Result<UniqueFd> connect_tcp(const std::string& address, uint16_t port);

// Effect: the session whose container holds each socket inode. roots maps a runner's pid to its
// session: a container's processes (daemons reparented to its init included) descend from it.
// Scans /proc/*/fd, so it is called only when a new port appears.
std::map<uint64_t, uint32_t> socket_sessions(const std::set<uint64_t>& inodes, const std::map<pid_t, uint32_t>& roots);

}  // namespace lxbox::agent
