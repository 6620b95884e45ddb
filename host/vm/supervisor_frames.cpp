// The VM supervisor's connections: clients' frames (hello, attach, sessions) routed to the
// agent, and the agent's frames routed back.
#include "host/vm/supervisor_impl.hpp"

#include <unistd.h>

#include <cstring>

#include "host/vm/disks.hpp"
#include "runtime/base/log.hpp"

namespace lxbox::vm::supervisor_detail {

void Supervisor::accept_clients() {
    for (;;) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) return;
        auto c = std::make_unique<Client>();
        c->id = next_client_++;
        c->conn.fd = std::move(fd);
        clients_[c->id] = std::move(c);
    }
}

void Supervisor::drop_client(Client& c) {
    client_ended(c.id);
    // Its sessions' processes would run on with nobody reading them: the agent ends them.
    for (uint32_t id : router_.close_client(c.id)) to_agent(make_frame(id, ErrorMessage{"the client went away"}));
    c.conn.closed = true;
}

void Supervisor::on_client_bytes(Client& c) {
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(c.conn.fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) return drop_client(c);
        for (auto& event : c.conn.decoder.feed(std::string_view(buf, static_cast<size_t>(n)))) {
            if (auto* e = std::get_if<DecodeError>(&event)) {
                reply_error(c, e->session, e->message);
                continue;
            }
            on_client_frame(c, std::get<Frame>(std::move(event)));
        }
        if (static_cast<size_t>(n) < sizeof buf) return;
    }
}

void Supervisor::on_connection_frame(Client& c, const Frame& f) {
    switch (f.type) {
        case FrameType::Hello: {
            auto hello = parse_message<Hello>(f);
            if (!hello) return reply_error(c, 0, hello.error().message);
            c.hello = true;
            Hello mine = vm_ ? vm_->hello() : Hello{};
            mine.protocol_version = std::min(hello->protocol_version, kProtocolVersion);
            mine.capabilities.push_back("supervisor");
            reply(c, make_frame(0, mine));
            // The host may have slept since: the guest's clock is set again from this hello's.
            if (hello->host_time_ns > 0 && Clock::now() - clock_synced_ > kClockResync) {
                to_agent(make_frame(0, Hello{kProtocolVersion, "lxbox-supervisor", {"ping", "credit"}, hello->host_time_ns}));
                clock_synced_ = Clock::now();
            }
            return;
        }
        case FrameType::Ping: {
            c.query_only = c.query_only || router_.count(c.id) == 0;
            auto ping = parse_message<Ping>(f);
            if (!ping) return reply_error(c, 0, ping.error().message);
            const uint64_t nonce = next_nonce_++ & ~kHeartbeatBit;
            pings_[nonce] = {c.id, ping->nonce};
            return to_agent(make_frame(0, Ping{nonce}));
        }
        case FrameType::Status:
            c.query_only = true;
            return reply(c, Frame{FrameType::Status, 0, nlohmann::json(status()).dump()});
        case FrameType::Detach:
            // `unregister` removed a disk: let it go (answered once tried).
            c.query_only = true;
            detach_waiters_.push_back(c.id);
            reconcile_due_ = true;
            return;
        case FrameType::Shutdown:
            c.query_only = true;
            c.wants_stop = true;
            stopping_ = true;
            stop_reason_ = "the VM is shutting down (lxbox vm stop)";
            return;
        default:
            return reply_error(c, 0, std::string(to_string(f.type)) + " is not a connection message");
    }
}

void Supervisor::on_attach(Client& c, const Frame& f) {
    auto attach = parse_message<Attach>(f);
    if (!attach) {
        c.refused.insert(f.session);
        return reply_error(c, f.session, attach.error().message);
    }
    std::vector<AttachDisk> missing;
    for (const auto& d : attach->disks) {
        auto have = std::find_if(disks_.begin(), disks_.end(),
                                 [&](const AttachedDisk& a) { return a.disk.serial == d.serial; });
        if (have != disks_.end() && have->state == AttachedDisk::Detaching) {
            c.refused.insert(f.session);
            return reply_error(c, f.session, "the distro's disk " + d.serial +
                                                 " is being detached (re-imported or unregistered meanwhile): try again");
        }
        if (have == disks_.end() || have->state == AttachedDisk::Held) missing.push_back(d);
    }
    auto publish_ports = [&] {
        if (auto st = publish({c.id, f.session}, attach->ports); !st) {
            unpublish({c.id, f.session});
            c.refused.insert(f.session);
            return reply_error(c, f.session, st.error().message);
        }
        // The session holds its disks until it ends.
        auto& held = disk_users_[{c.id, f.session}];
        for (const auto& d : attach->disks) held.push_back(d.serial);
    };
    if (missing.empty()) return publish_ports();
    // A disk is plugged under the serial of the build on file only: the file at a distro's path
    // is its newest build, and a client that read an older serial raced a re-import.
    const auto on_file = built_distro_disks(opts_.vm_dir);
    for (const auto& d : missing)
        if (std::none_of(on_file.begin(), on_file.end(), [&](const AttachDisk& f) { return f.serial == d.serial; })) {
            c.refused.insert(f.session);
            return reply_error(c, f.session, "the distro's disk " + d.serial +
                                                 " is not the one on file (re-imported or unregistered meanwhile): try again");
        }
    // A re-imported distro's new disk comes in: its old one may go.
    reconcile_due_ = true;
    // A distro imported or replaced after the VM started: its disk is hot-plugged (a SCSI disk
    // on the VM's virtio-scsi controller; virtio-mmio has no hotplug), as WSL attaches a VHD.
    auto plugged = hotplug(missing);
    if (plugged) return publish_ports();
    spdlog::warn("hot-plug: {}", plugged.error().message);
    if (router_.size() > 0) {
        c.refused.insert(f.session);
        return reply_error(c, f.session,
                           "a distro was imported or replaced after the VM started and its disk could not be added (" +
                               plugged.error().message + "): it can be used once the VM's " +
                               std::to_string(router_.size()) + " running session(s) end, or after `lxbox vm stop`");
    }
    // Nothing runs: reboot with the disk.
    stop_vm("a new distro disk", true);
    // The disks on file now: an unregistered distro's is gone, a re-imported one's rebuilt.
    if (auto booted = boot(disks_to_boot(built_distro_disks(opts_.vm_dir), attach->disks, kMaxDistroDisks));
        !booted) {
        c.refused.insert(f.session);
        stopping_ = true;
        stop_reason_ = booted.error().message;
        return reply_error(c, f.session, booted.error().message);
    }
    publish_ports();
}

void Supervisor::on_client_frame(Client& c, Frame f) {
    if (f.session == kConnectionSession) return on_connection_frame(c, f);
    if (!c.hello) return reply_error(c, f.session, std::string("expected hello, got ") + to_string(f.type));
    c.query_only = false;
    idle_since_ = Clock::now();
    if (f.type == FrameType::Attach) return on_attach(c, f);
    if (c.refused.count(f.session)) {
        // Its Attach failed and the client was told; what it sent after is dropped, once.
        if (opens_session(f.type)) c.refused.erase(f.session);
        return;
    }
    if (opens_session(f.type)) {
        if (router_.channel_id({c.id, f.session}))
            return reply_error(c, f.session, "session " + std::to_string(f.session) + " is already open");
        f.session = router_.open({c.id, f.session});
        return to_agent(f);
    }
    auto id = router_.channel_id({c.id, f.session});
    // Credit or stdin racing the session's end: nothing to do.
    if (!id) return;
    if (f.type == FrameType::Error) {
        router_.close(*id);
        session_ended({c.id, f.session});
    }
    f.session = *id;
    to_agent(f);
}

void Supervisor::on_agent_frame(Frame f) {
    if (f.session == kConnectionSession) {
        if (f.type == FrameType::Pong) {
            auto pong = parse_message<Pong>(f);
            if (!pong) return;
            if (heartbeat_nonce_ && pong->nonce == *heartbeat_nonce_) {
                heartbeat_nonce_.reset();
                last_pong_ = Clock::now();
                heartbeat_rtt_ = std::chrono::duration_cast<std::chrono::microseconds>(last_pong_ - heartbeat_sent_);
                return;
            }
            auto it = pings_.find(pong->nonce);
            if (it == pings_.end()) return;
            auto [client, nonce] = it->second;
            pings_.erase(it);
            last_pong_ = Clock::now();
            if (auto c = clients_.find(client); c != clients_.end()) reply(*c->second, make_frame(0, Pong{nonce}));
            return;
        }
        if (f.type == FrameType::Error) {
            auto e = parse_message<ErrorMessage>(f);
            spdlog::warn("agent: {}", e ? e->message : f.payload);
        }
        if (f.type == FrameType::Ports) {
            if (auto p = parse_message<Ports>(f)) return forwarder_.on_ports(p->ports, published_ports());
            spdlog::warn("agent: a bad port list: {}", f.payload.substr(0, 200));
            return;
        }
        if (f.type == FrameType::Detach) {
            if (auto d = parse_message<Detach>(f)) return on_detached(*d);
            spdlog::warn("agent: a bad detach answer: {}", f.payload.substr(0, 200));
        }
        return;  // a Hello answering a clock resync
    }
    auto owner = router_.owner(f.session);
    if (!owner) return;  // the client went away; the agent was told to end the session
    if (f.type == FrameType::Exit || f.type == FrameType::Error) {
        router_.close(f.session);
        session_ended(*owner);
    }
    if (owner->client == kForwarderClient) return forwarder_.on_agent_frame(f);
    auto c = clients_.find(owner->client);
    if (c == clients_.end()) return;
    f.session = owner->local;
    reply(*c->second, f);
}

void Supervisor::on_agent_bytes() {
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(agent_.fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            agent_.closed = true;
            return;
        }
        for (auto& event : agent_.decoder.feed(std::string_view(buf, static_cast<size_t>(n)))) {
            if (auto* e = std::get_if<DecodeError>(&event)) {
                spdlog::warn("from the agent: {}", e->message);
                continue;
            }
            on_agent_frame(std::get<Frame>(std::move(event)));
        }
        if (static_cast<size_t>(n) < sizeof buf) return;
    }
}

}  // namespace lxbox::vm::supervisor_detail
