// Localhost forwarding for the VM (issue 20 part 4), as WSL and Lima do it: a server listening
// in a vm container is reachable on the host's 127.0.0.1 at the same port, without -p. The agent
// reports the guest's listening TCP ports (a Ports message, guest-agent/listeners.hpp); the
// supervisor hands them to a PortForwarder, which listens on 127.0.0.1:PORT on the host and
// carries each connection it accepts over the channel as a session of its own (Connect, then
// Stdin/Stdout under the channel's credit flow control), which the agent connects to the server
// inside the guest. Carried over the channel rather than QEMU's user-net hostfwd because
// hostfwd reaches only servers bound to the guest's NIC address, and a server bound to the
// guest's 127.0.0.1 (the common "dev server on localhost") would be left out; docs/vm.md has
// the measured cost of each path (tools/bench/vm-portfwd.sh).
//
// Ports below 1024 and ports the host already uses are not forwarded: the user of the
// container that listens gets one line saying so, once per time the server starts listening.
#pragma once

#include <poll.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "runtime/proto/flow_control.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::vm {

enum class ForwardVerdict {
    Forward,     // try to listen on the host's 127.0.0.1 at the port
    Published,   // a session's -p already names the port: nothing to add, nothing to say
    Privileged,  // below 1024: the host would need privileges lxbox does not take for this
    InUse,       // the host already listens there (known only once the bind failed)
};

// Pure: what to do with a port the guest listens on, before any bind; published holds the host
// and guest ports of every -p of a running session.
ForwardVerdict decide_forward(uint16_t port, const std::set<uint16_t>& published);

// Pure: the line the user sees for a port that is not forwarded ("" for Forward and Published).
std::string forward_warning(uint16_t port, ForwardVerdict verdict);

struct ForwardChanges {
    std::vector<proto::ListeningPort> add;  // listening now, not known before
    std::vector<uint16_t> remove;           // known before (forwarded or refused), gone now
    bool operator==(const ForwardChanges&) const = default;
};

// Pure: the changes from the ports known (forwarded or refused with a warning) to the ports the
// guest listens on now. A refused port is decided once: it is not tried (or warned about) again
// until it stops listening and listens anew.
ForwardChanges diff_forwards(const std::set<uint16_t>& known, const std::vector<proto::ListeningPort>& listening);

// The forwards and their connections, driven by the supervisor's poll loop.
class PortForwarder {
public:
    struct Hooks {
        std::function<uint32_t()> open_session;       // a channel session id for a connection
        std::function<void(uint32_t)> close_session;  // one the forwarder gave up on itself
        std::function<void(const proto::Frame&)> to_agent;
        // A port is not forwarded: tell the user of the listener's session (0: not known).
        std::function<void(uint32_t session, const std::string& line)> warn;
    };
    explicit PortForwarder(Hooks hooks, std::string address = "127.0.0.1")
        : hooks_(std::move(hooks)), address_(std::move(address)) {}

    // The agent's port list: forwards are added and removed to match it.
    void on_ports(const std::vector<proto::ListeningPort>& ports, const std::set<uint16_t>& published);
    // A frame from the agent on a session of the forwarder's (Stdout, Credit, Exit, Error).
    void on_agent_frame(const proto::Frame& f);
    // Appends what to poll; on_poll then takes those entries back with their revents.
    void add_poll_fds(std::vector<pollfd>& fds) const;
    void on_poll(const pollfd* fds, size_t count);
    // The VM stopped: every listener and connection goes (the sessions went with the channel).
    void clear();
    // The host ports forwarded now (`lxbox vm status`, tests).
    std::vector<uint16_t> forwarded() const;
    size_t connections() const { return streams_.size(); }

private:
    struct Stream {
        UniqueFd fd;
        std::string out;           // bytes from the guest not yet taken by the host's side
        proto::SessionFlow flow;   // send: host → guest; receive: guest → host
        bool reading = true;       // the host's side has not sent EOF yet
        bool guest_closed = false; // the agent's Exit: close once out is written
    };
    void forward(const proto::ListeningPort& port, const std::set<uint16_t>& published);
    void accept_on(uint16_t port, int listener);
    void read_host(uint32_t session, Stream& s);
    void write_host(uint32_t session, Stream& s);
    // Ends a connection from the host's side (an error, or the agent broke flow control).
    void abort(uint32_t session, const std::string& why);

    Hooks hooks_;
    std::string address_;
    std::map<uint16_t, UniqueFd> listeners_;
    std::set<uint16_t> refused_;
    std::map<uint32_t, Stream> streams_;
};

}  // namespace lxbox::vm
