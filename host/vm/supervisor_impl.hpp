// The VM supervisor's inside, shared by its three files (not an interface: serve() in
// supervisor.hpp is): supervisor.cpp boots, runs the loop and stops; supervisor_clients.cpp
// reads the clients' and the agent's frames; supervisor_resources.cpp keeps the distro disks
// and the forwarded ports.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "host/vm/port_forward.hpp"
#include "host/vm/qmp.hpp"
#include "host/vm/session_router.hpp"
#include "host/vm/supervisor.hpp"
#include "host/vm/vm_launcher.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/proto/frame.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::vm::supervisor_detail {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using namespace lxbox::proto;


// The guest has room for this many distro disks at once (virtio-mmio transports of microvm
// are limited; a reboot makes room).
inline constexpr size_t kMaxDistroDisks = 16;
// A client that does not read its output is cut off past this (sessions are under credit flow
// control, so only a broken client gets here).
inline constexpr size_t kMaxClientBacklog = 64u << 20;
// Heartbeat pings carry nonces with the top bit set; a client's forwarded pings never do.
inline constexpr uint64_t kHeartbeatBit = 1ull << 63;
// The router's client number of the forwarded connections (real clients count from 1).
inline constexpr uint64_t kForwarderClient = 0;
// A clock older than this is resynced when a client connects.
inline constexpr auto kClockResync = std::chrono::seconds(60);

// One end of a framed byte stream with non-blocking writes.
struct Conn {
    UniqueFd fd;
    FrameDecoder decoder = FrameDecoder();
    std::string out;
    bool closed = false;

    void queue(const Frame& f) { out += encode_frame(f); }
    // Writes what the socket takes now; false on a hard error.
    bool flush() {
        while (!out.empty()) {
            ssize_t n = ::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                out.erase(0, static_cast<size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
        return true;
    }
};

struct Client {
    uint64_t id = 0;
    Conn conn;
    bool hello = false;
    // Asked only about the VM (status, ping, stop): does not keep an idle VM up. A client that
    // has not said what it wants yet holds off the idle stop for a moment (it may be about to
    // run something).
    bool query_only = false;
    std::chrono::steady_clock::time_point connected = std::chrono::steady_clock::now();
    bool wants_stop = false;          // asked for shutdown: kept until the end, told by EOF
    std::set<uint32_t> refused;       // sessions whose Attach failed: their Run is dropped
};

// The supervisor's socket, bound under a temporary name and renamed into place.
Result<UniqueFd> listen_on(const std::string& path);

// A distro disk the VM has: booted with (virtio-mmio) or hot-plugged (SCSI), and how far
// letting it go got.
struct AttachedDisk {
    AttachDisk disk;
    bool hotplugged = false;
    enum State { Mounted, Detaching, Held } state = Mounted;  // Held: unmounted, QEMU keeps the file
};

class Supervisor {
public:
    explicit Supervisor(SupervisorOptions o)
        : opts_(std::move(o)), paths_(vm_paths(opts_.vm_dir)), forwarder_(forwarder_hooks()) {}
    Status run(const std::function<void(const Status&)>& ready);

private:
    Status boot(const std::vector<AttachDisk>& disks);
    void stop_vm(const std::string& why, bool graceful);
    void accept_clients();
    void on_client_bytes(Client& c);
    void on_client_frame(Client& c, Frame f);
    void on_connection_frame(Client& c, const Frame& f);
    void on_attach(Client& c, const Frame& f);
    void on_agent_bytes();
    void on_agent_frame(Frame f);
    void drop_client(Client& c);
    void fail_all(const std::string& why);
    void heartbeat();
    // Distro disks the running VM does not have, added on its virtio-scsi controller.
    Status hotplug(const std::vector<AttachDisk>& disks);
    // Asks the agent to unmount the attached disks no longer on file that no session uses.
    void reconcile_disks();
    // The agent's answer to a Detach: a hot-plugged disk is then unplugged.
    void on_detached(const Detach& d);
    Status unplug(const std::string& serial);
    // Answers the clients that asked for a detach once no disk is on its way out.
    void answer_detach_waiters();
    // A session (or every session of a client) ended: its ports and its hold on disks go.
    void session_ended(ClientSession s);
    void client_ended(uint64_t client);
    // QEMU's QMP, connected on first use (-p, a hot-plugged disk): its handshake waits for
    // QEMU's main loop, ~45 ms while a guest boots under TCG, which no plain launch needs.
    Result<Qmp*> qmp();
    // -p: hostfwd rules on QEMU's user network, kept while their session lives.
    Status publish(ClientSession s, const std::vector<PortForward>& ports);
    void unpublish(ClientSession s);
    void unpublish_client(uint64_t client);
    // Localhost forwarding: the forwarder's sessions on the channel and its notices to users.
    PortForwarder::Hooks forwarder_hooks();
    std::set<uint16_t> published_ports() const;
    VmStatus status() const;
    void to_agent(const Frame& f) { agent_.queue(f); }
    static void reply(Client& c, const Frame& f) { c.conn.queue(f); }
    static void reply_error(Client& c, uint32_t session, const std::string& message) {
        c.conn.queue(make_frame(session, ErrorMessage{message}));
    }
    // No session runs (clients that only ask about the VM do not count).
    bool idle() const { return router_.size() == 0; }
    // A client connected a moment ago and has not asked for anything yet.
    bool client_pending() const {
        return std::any_of(clients_.begin(), clients_.end(), [](const auto& entry) {
            const Client& c = *entry.second;
            return !c.query_only && !c.conn.closed && Clock::now() - c.connected < std::chrono::seconds(10);
        });
    }

    SupervisorOptions opts_;
    VmPaths paths_;
    std::unique_ptr<RunningVm> vm_;
    std::optional<Qmp> qmp_;
    std::map<ClientSession, std::vector<PortForward>> published_;
    PortForwarder forwarder_;
    Conn agent_;
    UniqueFd listener_;
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
    uint64_t next_client_ = 1;
    uint32_t next_forward_ = 1;  // the forwarder's local session numbers
    SessionRouter router_;
    std::vector<AttachedDisk> disks_;  // distro disks attached (the containers disk is always)
    std::map<ClientSession, std::vector<std::string>> disk_users_;  // the disks a session's Attach named
    bool reconcile_due_ = false;   // run reconcile_disks at the end of this loop turn
    bool stale_in_use_ = false;    // a disk to let go is still used: look again when a session ends
    std::vector<uint64_t> detach_waiters_;  // clients that sent a Detach, answered with a Status
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> pings_;  // our nonce → client, its nonce
    uint64_t next_nonce_ = 1;
    std::optional<uint64_t> heartbeat_nonce_;
    Clock::time_point heartbeat_sent_{}, last_pong_{}, idle_since_{}, clock_synced_{};
    std::chrono::microseconds heartbeat_rtt_{0};
    std::string started_;
    bool stopping_ = false;
    std::string stop_reason_;
};

}  // namespace lxbox::vm::supervisor_detail
