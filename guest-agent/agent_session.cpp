#include "guest-agent/agent_session.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "runtime/plan/plan.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::agent {

using namespace lxbox::proto;

template <class M>
void AgentSession::reply(uint32_t session, const M& m, SessionActions& out) {
    out.output += encode_frame(make_frame(session, m));
}

void AgentSession::reply_error(uint32_t session, const std::string& message, SessionActions& out) {
    // Errors end the session they name; session 0 is the connection, which stays up.
    flow_.erase(session);
    ErrorMessage error{message};
    if (error.message.size() > 4096) error.message.resize(4096);
    reply(session, error, out);
}

SessionActions AgentSession::on_bytes(std::string_view bytes) {
    SessionActions out;
    for (auto& event : decoder_.feed(bytes)) {
        if (auto* error = std::get_if<DecodeError>(&event))
            reply_error(error->session, error->message, out);
        else
            on_frame(std::get<Frame>(event), out);
    }
    return out;
}

void AgentSession::on_disconnect() {
    decoder_.finish();
    decoder_ = FrameDecoder();
    flow_ = FlowTable();
    hello_done_ = false;
    ports_sent_.reset();
    // The server ends every process of the lost connection (they have no reader left).
    running_.clear();
    busy_dirs_.clear();
    containers_.clear();
}

std::string AgentSession::refuse_mounts(const std::vector<GuestMount>& mounts) {
    for (const auto& m : mounts) {
        if (!m.serial.empty()) {
            const bool plain = m.serial.size() <= 20 && std::all_of(m.serial.begin(), m.serial.end(), [](char c) {
                                   return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                               });
            if (!plain) return "mount serial '" + m.serial + "' is not a disk serial (20 of [A-Za-z0-9._-])";
        } else if (m.device.empty() || m.device.find('/') != std::string::npos || m.device.find("..") != std::string::npos) {
            return "mount device '" + m.device + "' is not a name under /dev";
        }
        if (!m.target.starts_with("/run/lxbox/") || m.target.find("..") != std::string::npos)
            return "mount target '" + m.target + "' is not under /run/lxbox";
        if (m.fstype != "ext4" && m.fstype != "9p") return "mount type '" + m.fstype + "' is not ext4 or 9p";
    }
    return "";
}

void AgentSession::end(uint32_t session) {
    running_.erase(session);
    flow_.erase(session);
    std::erase_if(busy_dirs_, [session](const auto& entry) { return entry.second == session; });
    std::erase_if(containers_, [session](const auto& entry) { return entry.second == session; });
}

std::string AgentSession::refuse_session(uint32_t session, const char* what) const {
    if (session == kConnectionSession) return std::string(what) + " needs a session of its own (not 0)";
    if (running_.count(session)) return "session " + std::to_string(session) + " already runs a process";
    return "";
}

void AgentSession::on_run(const Frame& frame, SessionActions& out) {
    if (auto why = refuse_session(frame.session, "run"); !why.empty()) return reply_error(frame.session, why, out);
    if (!boot_failure_.empty())
        return reply_error(frame.session, "the VM did not boot cleanly (lxbox vm stop restarts it): " + boot_failure_, out);
    auto run = parse_message<Run>(frame);
    if (!run) return reply_error(frame.session, run.error().message, out);
    // A spec the runtime would refuse is refused here, on the session, before any fork.
    runtime::ContainerSpec spec;
    try {
        spec = run->spec.get<runtime::ContainerSpec>();
        if (auto valid = runtime::validate_spec(spec); !valid)
            return reply_error(frame.session, "bad container spec: " + valid.error().message, out);
    } catch (const nlohmann::json::exception& e) {
        return reply_error(frame.session, std::string("bad container spec: ") + e.what(), out);
    }
    if (auto why = refuse_mounts(run->mounts); !why.empty()) return reply_error(frame.session, why, out);
    if (busy_dirs_.count(spec.container_dir) || containers_.count(spec.container_dir))
        return reply_error(frame.session, "container '" + spec.name + "' is already running in the VM", out);
    if (!spec.ephemeral) busy_dirs_[spec.container_dir] = frame.session;
    containers_[spec.container_dir] = frame.session;
    running_.insert(frame.session);
    flow_.session(frame.session);
    out.start.push_back({frame.session, std::move(*run)});
}

void AgentSession::on_exec(const Frame& frame, SessionActions& out) {
    if (auto why = refuse_session(frame.session, "exec"); !why.empty()) return reply_error(frame.session, why, out);
    auto exec = parse_message<Exec>(frame);
    if (!exec) return reply_error(frame.session, exec.error().message, out);
    try {
        (void)exec->process.get<runtime::ProcessSpec>();
    } catch (const nlohmann::json::exception& e) {
        return reply_error(frame.session, std::string("bad process spec: ") + e.what(), out);
    }
    const auto container = containers_.find(exec->container_dir);
    if (container == containers_.end())
        return reply_error(frame.session, "no container runs in " + exec->container_dir.substr(0, 200) + " in the VM", out);
    running_.insert(frame.session);
    flow_.session(frame.session);
    out.exec.push_back({frame.session, container->second, std::move(*exec)});
}

void AgentSession::on_remove(const Frame& frame, SessionActions& out) {
    if (frame.session == kConnectionSession || running_.count(frame.session))
        return reply_error(frame.session, "remove needs a session of its own", out);
    auto remove = parse_message<Remove>(frame);
    if (!remove) return reply_error(frame.session, remove.error().message, out);
    const std::string& dir = remove->container_dir;
    if (!dir.starts_with("/run/lxbox/containers/") || dir.find("..") != std::string::npos ||
        dir.find('/', std::string_view("/run/lxbox/containers/").size()) != std::string::npos)
        return reply_error(frame.session, "remove: '" + dir + "' is not a container under /run/lxbox/containers", out);
    if (auto why = refuse_mounts(remove->mounts); !why.empty()) return reply_error(frame.session, why, out);
    if (busy_dirs_.count(dir)) return reply_error(frame.session, "remove: the container is running in the VM", out);
    busy_dirs_[dir] = frame.session;
    running_.insert(frame.session);
    out.remove.push_back({frame.session, std::move(*remove)});
}

void AgentSession::on_detach(const Frame& frame, SessionActions& out) {
    if (frame.session != kConnectionSession)
        return reply_error(frame.session, "detach is a connection message (session 0)", out);
    auto detach = parse_message<Detach>(frame);
    if (!detach) return reply_error(kConnectionSession, detach.error().message, out);
    // The disk's mount, as a Run names it: a plain serial, a target of its own under images/.
    constexpr std::string_view kImages = "/run/lxbox/images/";
    const std::string& target = detach->target;
    std::string why = refuse_mounts({GuestMount{"", target, "ext4", true, detach->serial}});
    if (why.empty() && detach->serial.empty()) why = "detach names no disk serial";
    if (why.empty() && (!target.starts_with(kImages) || target.size() == kImages.size() ||
                        target.find('/', kImages.size()) != std::string::npos))
        why = "detach target '" + target + "' is not a disk's place under " + std::string(kImages);
    if (!why.empty()) {
        detach->error = why;
        return reply(kConnectionSession, *detach, out);
    }
    out.detach.push_back(std::move(*detach));
}

std::string AgentSession::on_detached(const Detach& done) {
    return encode_frame(make_frame(kConnectionSession, done));
}

void AgentSession::on_connect(const Frame& frame, SessionActions& out) {
    if (auto why = refuse_session(frame.session, "connect"); !why.empty()) return reply_error(frame.session, why, out);
    auto connect = parse_message<Connect>(frame);
    if (!connect) return reply_error(frame.session, connect.error().message, out);
    running_.insert(frame.session);
    flow_.session(frame.session);
    out.connect.push_back({frame.session, connect->port});
}

std::string AgentSession::on_ports(const std::vector<ListeningPort>& ports) {
    if (!hello_done_ || ports_sent_ == ports) return {};
    ports_sent_ = ports;
    return encode_frame(make_frame(kConnectionSession, Ports{ports}));
}

void AgentSession::on_stdin(const Frame& frame, SessionActions& out) {
    if (!running_.count(frame.session))
        return reply_error(frame.session, "no process runs on session " + std::to_string(frame.session), out);
    if (frame.type == FrameType::StdinClose) {
        out.process.push_back({ProcessAction::CloseStdin, frame.session, {}, 0});
        return;
    }
    if (frame.type == FrameType::Signal) {
        auto sig = parse_message<proto::Signal>(frame);
        if (!sig) return reply_error(frame.session, sig.error().message, out);
        if (sig->signal <= 0 || sig->signal >= 65)
            return reply_error(frame.session, "signal " + std::to_string(sig->signal) + " is out of range", out);
        out.process.push_back({ProcessAction::Signal, frame.session, {}, sig->signal});
        return;
    }
    // The host must stay within the window we granted: one that does not ignores flow control.
    if (auto st = flow_.session(frame.session).receive.on_received(frame.payload.size()); !st)
        return reply_error(frame.session, st.error().message, out);
    out.process.push_back({ProcessAction::Stdin, frame.session, frame.payload, 0});
}

void AgentSession::on_resize(const Frame& frame, SessionActions& out) {
    if (!running_.count(frame.session))
        return reply_error(frame.session, "no process runs on session " + std::to_string(frame.session), out);
    // Checked on the JSON numbers: a uint16 field would take 70000 or -1 as some other size.
    auto j = parse_payload(frame);
    if (!j) return reply_error(frame.session, j.error().message, out);
    auto cells = [&](const char* key) -> int64_t {
        const auto it = j->find(key);
        return it != j->end() && it->is_number_integer() ? it->get<int64_t>() : -1;
    };
    const int64_t rows = cells("rows"), cols = cells("cols");
    if (rows < 1 || rows > UINT16_MAX || cols < 1 || cols > UINT16_MAX)
        return reply_error(frame.session, "resize: " + std::string(frame.payload.substr(0, 100)) +
                                              " is not a terminal size (rows and cols 1-65535)",
                           out);
    out.process.push_back(
        {ProcessAction::Resize, frame.session, {}, 0, static_cast<uint16_t>(rows), static_cast<uint16_t>(cols)});
}

size_t AgentSession::sendable(uint32_t session, size_t want) {
    if (!hello_done_) return 0;
    return flow_.session(session).send.sendable(want);
}

std::string AgentSession::on_output(uint32_t session, FrameType type, std::string_view data) {
    std::string out;
    auto& send = flow_.session(session).send;
    while (!data.empty()) {
        const size_t n = std::min({data.size(), kMaxPayload, send.sendable(data.size())});
        if (n == 0) break;
        (void)send.consume(n);
        out += encode_frame(Frame{type, session, std::string(data.substr(0, n))});
        data.remove_prefix(n);
    }
    return out;
}

std::string AgentSession::output_header(uint32_t session, FrameType type, size_t bytes) {
    if (bytes == 0 || bytes > kMaxPayload || sendable(session, bytes) < bytes) return {};
    (void)flow_.session(session).send.consume(bytes);
    FrameHeader h;
    h.type = static_cast<uint16_t>(type);
    h.session = session;
    h.length = static_cast<uint32_t>(bytes);
    unsigned char out[kHeaderSize];
    encode_header(h, out);
    return std::string(reinterpret_cast<const char*>(out), kHeaderSize);
}

std::string AgentSession::on_stdin_consumed(uint32_t session, size_t bytes) {
    if (!running_.count(session)) return {};
    auto grant = flow_.session(session).receive.on_consumed(bytes);
    if (!grant) return {};
    return encode_frame(make_frame(session, Credit{*grant}));
}

std::string AgentSession::on_exit(uint32_t session, int code) {
    end(session);
    if (!hello_done_) return {};
    return encode_frame(make_frame(session, Exit{code, 0}));
}

std::string AgentSession::on_failure(uint32_t session, const std::string& message) {
    end(session);
    SessionActions out;
    reply_error(session, message, out);
    return hello_done_ ? out.output : std::string();
}

void AgentSession::on_hello(const Frame& frame, SessionActions& out) {
    auto hello = parse_message<Hello>(frame);
    if (!hello) return reply_error(frame.session, hello.error().message, out);
    if (hello->protocol_version < 1)
        return reply_error(frame.session, "protocol version " +
                                              std::to_string(hello->protocol_version) +
                                              " is not supported (this agent speaks 1)",
                           out);
    // Both speak the lower version; a newer host talks down to us.
    peer_version_ = std::min(hello->protocol_version, kProtocolVersion);
    hello_done_ = true;
    if (hello->host_time_ns > 0) out.set_clock_ns = hello->host_time_ns;
    Hello mine{peer_version_, version_, {std::begin(kCapabilities), std::end(kCapabilities)}, 0};
    reply(frame.session, mine, out);
}

void AgentSession::on_frame(const Frame& frame, SessionActions& out) {
    if (frame.type == FrameType::Hello) return on_hello(frame, out);
    if (!hello_done_)
        return reply_error(frame.session, std::string("expected hello, got ") + to_string(frame.type), out);
    switch (frame.type) {
        case FrameType::Ping: {
            auto ping = parse_message<Ping>(frame);
            if (!ping) return reply_error(frame.session, ping.error().message, out);
            return reply(frame.session, Pong{ping->nonce}, out);
        }
        case FrameType::Error:
            // The host ended a session (its client went away): its process ends too. Never
            // answered: an error for an error could loop forever.
            if (running_.count(frame.session))
                out.process.push_back({ProcessAction::Kill, frame.session, {}, 0});
            flow_.erase(frame.session);
            return;
        case FrameType::Pong:
            return;
        case FrameType::Shutdown:
            out.power_off = true;
            return;
        case FrameType::Credit: {
            auto credit = parse_message<Credit>(frame);
            if (!credit) return reply_error(frame.session, credit.error().message, out);
            flow_.session(frame.session).send.grant(credit->bytes);
            return;
        }
        case FrameType::Run:
            return on_run(frame, out);
        case FrameType::Exec:
            return on_exec(frame, out);
        case FrameType::Remove:
            return on_remove(frame, out);
        case FrameType::Detach:
            return on_detach(frame, out);
        case FrameType::Connect:
            return on_connect(frame, out);
        case FrameType::Stdin:
        case FrameType::StdinClose:
        case FrameType::Signal:
            return on_stdin(frame, out);
        case FrameType::Resize:
            return on_resize(frame, out);
        default:
            return reply_error(frame.session, std::string(to_string(frame.type)) + " is not a message the agent takes",
                               out);
    }
}

}  // namespace lxbox::agent
