// The channel's control messages: plain structs, each the JSON payload of one frame type
// (runtime/proto/frame.hpp). make_frame/parse_message convert between the two without
// throwing: a payload that is not the message it claims to be is an Error, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"
#include "runtime/proto/frame.hpp"

namespace lxbox::proto {

// Version of the message set; both sides send theirs in Hello and speak the lower one.
inline constexpr uint32_t kProtocolVersion = 1;

// First message on every (re)connect, both ways. The host's carries its wall clock, which
// the agent (PID 1 of a VM without an RTC it can trust) sets as its own.
struct Hello {
    static constexpr FrameType kType = FrameType::Hello;
    uint32_t protocol_version = kProtocolVersion;
    std::string agent_version;              // lxbox version of the sender
    std::vector<std::string> capabilities;  // e.g. "run", "exec", "credit"
    int64_t host_time_ns = 0;               // CLOCK_REALTIME of the host; 0 from the agent
};

struct Ping {
    static constexpr FrameType kType = FrameType::Ping;
    uint64_t nonce = 0;
};

struct Pong {
    static constexpr FrameType kType = FrameType::Pong;
    uint64_t nonce = 0;
};

// A filesystem the agent mounts (once) before a container that needs it starts: a distro's
// disk image, say. The disk is named by the serial the host gave its virtio-blk device
// (/sys/block/*/serial in the guest; device order is not stable across machine types), or by
// a device name under /dev ("vda"), never a path.
struct GuestMount {
    std::string device;
    std::string target;        // absolute, under /run/lxbox
    std::string fstype = "ext4";
    bool readonly = true;
    std::string serial;        // when set, names the disk instead of device
    bool operator==(const GuestMount&) const = default;
};

// Starts a container process in a new session; spec is the runtime's ContainerSpec as JSON
// (kept opaque here so the protocol does not depend on the runtime's types).
struct Run {
    static constexpr FrameType kType = FrameType::Run;
    nlohmann::json spec = nlohmann::json::object();
    std::vector<GuestMount> mounts;
    bool tty = false;
    uint16_t rows = 0;
    uint16_t cols = 0;
    // The distro's boot.command: run (sh -c, as root, output dropped) in the container once it is
    // set up, before its command, which runs whatever it returns (a failure is one warning line
    // on the session's stderr). "" = none. An agent with the "boot-command" capability runs it;
    // an older one ignores the field, so the host checks the capability first.
    std::string boot_command;
};

// Starts another process in a running container (`lxbox exec`, or a second `launch` of a
// running container) in a new session: the container is the one a Run on another session
// started in container_dir; process is the runtime's ProcessSpec as JSON.
struct Exec {
    static constexpr FrameType kType = FrameType::Exec;
    std::string container_dir;
    nlohmann::json process = nlohmann::json::object();
    bool tty = false;
    uint16_t rows = 0;
    uint16_t cols = 0;
};

struct Signal {
    static constexpr FrameType kType = FrameType::Signal;
    int signal = 0;
};

struct Resize {
    static constexpr FrameType kType = FrameType::Resize;
    uint16_t rows = 0;
    uint16_t cols = 0;
};

struct StdinClose {
    static constexpr FrameType kType = FrameType::StdinClose;
};

// The session's process ended: exit code, or the signal that killed it (then code is 128+N).
struct Exit {
    static constexpr FrameType kType = FrameType::Exit;
    int code = 0;
    int signal = 0;
};

// Ends the session it is sent on (kConnectionSession: a connection-level problem).
struct ErrorMessage {
    static constexpr FrameType kType = FrameType::Error;
    std::string message;
};

// Asks the agent to sync and power off the VM.
struct Shutdown {
    static constexpr FrameType kType = FrameType::Shutdown;
};

// Host side only: a disk the VM must have attached for a session's Run (sent by a CLI client
// to the VM supervisor before the Run, on the same session). serial is at most 20 bytes.
struct AttachDisk {
    std::string serial;
    std::string path;
    bool readonly = true;
    bool operator==(const AttachDisk&) const = default;
};
// A container port published on the host's loopback for the session's life (-p).
struct PortForward {
    uint16_t host_port = 0;
    uint16_t guest_port = 0;
    std::string protocol = "tcp";  // tcp or udp
    bool operator==(const PortForward&) const = default;
};
struct Attach {
    static constexpr FrameType kType = FrameType::Attach;
    std::vector<AttachDisk> disks;
    std::vector<PortForward> ports;
};

// Deletes a kept container's directory (its changes) in the guest; answered with an Exit
// (code 0) or an Error on the session. The disk holding it is mounted first.
struct Remove {
    static constexpr FrameType kType = FrameType::Remove;
    std::string container_dir;  // absolute, under /run/lxbox/containers
    std::vector<GuestMount> mounts;
};

// On session 0. Supervisor → agent: unmount the distro disk `serial` from target (under
// /run/lxbox/images) and let its device go, so the host can unplug it. The agent answers with a
// Detach naming the same serial and target: error "" when the disk is unmounted (or was not
// mounted), else why not, with busy set when something still uses it (the host tries again
// later). CLI → supervisor, serial "": the distro disks on file changed (`unregister`):
// detach the ones no longer there that no session uses; answered with a Status once tried.
struct Detach {
    static constexpr FrameType kType = FrameType::Detach;
    std::string serial;
    std::string target;
    std::string error;
    bool busy = false;
};

// A TCP port some process in the guest listens on: session is the channel session of the
// container (its Run) the process belongs to, 0 when the agent cannot tell.
struct ListeningPort {
    uint16_t port = 0;
    uint32_t session = 0;
    bool operator==(const ListeningPort&) const = default;
};
// On session 0, agent → supervisor: every TCP port listening in the guest's network namespace
// (each port once, ascending), sent after the hello and whenever the set changes.
struct Ports {
    static constexpr FrameType kType = FrameType::Ports;
    std::vector<ListeningPort> ports;
};

// Supervisor → agent, opening a session: connect to the guest's TCP port (on the loopback
// address its listener is reachable at); the session then carries that connection's bytes.
struct Connect {
    static constexpr FrameType kType = FrameType::Connect;
    uint16_t port = 0;
};

// Supervisor → CLI client, on the session it concerns: one line the client shows its user on
// stderr, without ending anything.
struct Notice {
    static constexpr FrameType kType = FrameType::Notice;
    std::string message;
};

// Grants the peer `bytes` more data bytes on the session (runtime/proto/flow_control.hpp).
struct Credit {
    static constexpr FrameType kType = FrameType::Credit;
    uint64_t bytes = 0;
};

void to_json(nlohmann::json& j, const Hello& m);
void from_json(const nlohmann::json& j, Hello& m);
void to_json(nlohmann::json& j, const Ping& m);
void from_json(const nlohmann::json& j, Ping& m);
void to_json(nlohmann::json& j, const Pong& m);
void from_json(const nlohmann::json& j, Pong& m);
void to_json(nlohmann::json& j, const GuestMount& m);
void from_json(const nlohmann::json& j, GuestMount& m);
void to_json(nlohmann::json& j, const Run& m);
void from_json(const nlohmann::json& j, Run& m);
void to_json(nlohmann::json& j, const Exec& m);
void from_json(const nlohmann::json& j, Exec& m);
void to_json(nlohmann::json& j, const Signal& m);
void from_json(const nlohmann::json& j, Signal& m);
void to_json(nlohmann::json& j, const Resize& m);
void from_json(const nlohmann::json& j, Resize& m);
void to_json(nlohmann::json& j, const StdinClose& m);
void from_json(const nlohmann::json& j, StdinClose& m);
void to_json(nlohmann::json& j, const Exit& m);
void from_json(const nlohmann::json& j, Exit& m);
void to_json(nlohmann::json& j, const ErrorMessage& m);
void from_json(const nlohmann::json& j, ErrorMessage& m);
void to_json(nlohmann::json& j, const Shutdown& m);
void from_json(const nlohmann::json& j, Shutdown& m);
void to_json(nlohmann::json& j, const AttachDisk& m);
void from_json(const nlohmann::json& j, AttachDisk& m);
void to_json(nlohmann::json& j, const PortForward& m);
void from_json(const nlohmann::json& j, PortForward& m);
void to_json(nlohmann::json& j, const Attach& m);
void from_json(const nlohmann::json& j, Attach& m);
void to_json(nlohmann::json& j, const Remove& m);
void from_json(const nlohmann::json& j, Remove& m);
void to_json(nlohmann::json& j, const Detach& m);
void from_json(const nlohmann::json& j, Detach& m);
void to_json(nlohmann::json& j, const ListeningPort& m);
void from_json(const nlohmann::json& j, ListeningPort& m);
void to_json(nlohmann::json& j, const Ports& m);
void from_json(const nlohmann::json& j, Ports& m);
void to_json(nlohmann::json& j, const Connect& m);
void from_json(const nlohmann::json& j, Connect& m);
void to_json(nlohmann::json& j, const Notice& m);
void from_json(const nlohmann::json& j, Notice& m);
void to_json(nlohmann::json& j, const Credit& m);
void from_json(const nlohmann::json& j, Credit& m);

// Pure: the frame carrying message m on a session.
template <class M>
Frame make_frame(uint32_t session, const M& m) {
    return Frame{M::kType, session, nlohmann::json(m).dump()};
}

// Parses a control payload as JSON object; the error says what is wrong with it.
Result<nlohmann::json> parse_payload(const Frame& frame);

// Pure: the message a frame carries; an Invalid error when the type differs, the payload is
// not JSON, or a field is missing or of the wrong type.
template <class M>
Result<M> parse_message(const Frame& frame) {
    if (frame.type != M::kType)
        return Error(ErrorKind::Invalid, std::string("expected a ") + to_string(M::kType) +
                                             " frame, got " + to_string(frame.type));
    auto j = LXBOX_TRY(parse_payload(frame));
    try {
        return j.template get<M>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid,
                     std::string("bad ") + to_string(M::kType) + " message: " + e.what());
    }
}

}  // namespace lxbox::proto
