// The agent's side of the channel protocol for one host connection, without I/O: bytes from
// the host in, bytes to the host out, plus what PID 1 must do (set the clock, power off).
// Pure so the protocol behaviour is unit-tested on the host (tests/vm/agent_session_test.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/proto/flow_control.hpp"
#include "runtime/proto/frame.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::agent {

// What the agent announces in its hello.
inline constexpr const char* kCapabilities[] = {"ping", "shutdown", "credit", "run",   "remove",      "serial-disks",
                                                "pty",  "exec",     "detach", "ports", "boot-command"};

// A container to start on a session (the session's frames then carry its stdio).
struct StartRun {
    uint32_t session = 0;
    proto::Run run;
};

// Another process to start in a running container: the one the Run on container_session
// started (the session's frames then carry the new process's stdio).
struct StartExec {
    uint32_t session = 0;
    uint32_t container_session = 0;
    proto::Exec exec;
};

// A kept container's changes to delete on a session (answered with Exit 0 or an Error).
struct StartRemove {
    uint32_t session = 0;
    proto::Remove remove;
};

// A forwarded TCP connection to open on a session: to the guest's port (host/vm/port_forward.hpp).
struct StartConnect {
    uint32_t session = 0;
    uint16_t port = 0;
};

// What the server must do for a running session's process. Kill: the host gave up on the
// session (its client went away): the process and its container end. Resize: the host's
// terminal changed size (a session without a pty has nothing to resize).
struct ProcessAction {
    enum Kind { Stdin, CloseStdin, Signal, Kill, Resize } kind = Stdin;
    uint32_t session = 0;
    std::string data;  // Stdin: the bytes
    int signal = 0;    // Signal
    uint16_t rows = 0, cols = 0;  // Resize
};

struct SessionActions {
    std::string output;                 // bytes to write to the host, in order
    std::optional<int64_t> set_clock_ns;  // CLOCK_REALTIME from the host's hello
    bool power_off = false;             // the host asked for shutdown
    std::vector<StartRun> start;        // containers to start
    std::vector<StartExec> exec;        // processes to start in running containers
    std::vector<StartRemove> remove;    // kept containers' changes to delete
    std::vector<proto::Detach> detach;  // distro disks to unmount before the host unplugs them
    std::vector<StartConnect> connect;  // forwarded connections to open
    std::vector<ProcessAction> process; // stdin, its end, signals for running sessions
};

class AgentSession {
public:
    explicit AgentSession(std::string agent_version) : version_(std::move(agent_version)) {}

    // Handles bytes read from the port. Never throws on hostile input: a bad frame gets an
    // Error reply on its session and the connection goes on.
    SessionActions on_bytes(std::string_view bytes);
    // The host disconnected: forget the handshake and any partial frame.
    void on_disconnect();
    bool handshake_done() const { return hello_done_; }
    // What failed while the VM booted (its early mounts), "" when nothing did: every Run is
    // then refused with it, so the host shows why instead of a container that cannot work.
    void set_boot_failure(std::string failure) { boot_failure_ = std::move(failure); }

    // The running sessions' side. How many of `want` output bytes the host lets us send now.
    size_t sendable(uint32_t session, size_t want);
    // A process's stdout or stderr bytes (at most sendable()) as frames to the host.
    std::string on_output(uint32_t session, proto::FrameType type, std::string_view data);
    // The header of one such frame whose `bytes` (1 to min(sendable(), kMaxPayload)) the server
    // sends itself right after it (from its read buffer, without a copy): the credit is taken
    // here. "" when that many may not be sent now.
    std::string output_header(uint32_t session, proto::FrameType type, size_t bytes);
    // The server wrote `bytes` of the session's stdin to the process: maybe a Credit frame.
    std::string on_stdin_consumed(uint32_t session, size_t bytes);
    // The session's process ended: its Exit frame; the session is closed.
    std::string on_exit(uint32_t session, int code);
    // The session failed before or instead of an exit: an Error frame; the session is closed.
    std::string on_failure(uint32_t session, const std::string& message);
    // A Detach was carried out (error "") or not: the answer to the host.
    std::string on_detached(const proto::Detach& done);
    // The guest's listening ports now: a Ports frame when they differ from what the host was
    // last told since its hello, "" otherwise (and before the hello).
    std::string on_ports(const std::vector<proto::ListeningPort>& ports);
    // What the host was last told (nullopt: nothing since its hello).
    const std::optional<std::vector<proto::ListeningPort>>& ports_sent() const { return ports_sent_; }

private:
    void on_frame(const proto::Frame& frame, SessionActions& out);
    void on_hello(const proto::Frame& frame, SessionActions& out);
    void on_run(const proto::Frame& frame, SessionActions& out);
    void on_stdin(const proto::Frame& frame, SessionActions& out);
    void on_resize(const proto::Frame& frame, SessionActions& out);
    void on_exec(const proto::Frame& frame, SessionActions& out);
    void on_remove(const proto::Frame& frame, SessionActions& out);
    void on_detach(const proto::Frame& frame, SessionActions& out);
    void on_connect(const proto::Frame& frame, SessionActions& out);
    // Why a new process cannot start on session ("" when it can).
    std::string refuse_session(uint32_t session, const char* what) const;
    // Why these mounts are refused ("" when they are fine).
    static std::string refuse_mounts(const std::vector<proto::GuestMount>& mounts);
    void end(uint32_t session);
    void reply_error(uint32_t session, const std::string& message, SessionActions& out);
    template <class M>
    void reply(uint32_t session, const M& m, SessionActions& out);

    std::string version_;
    std::string boot_failure_;
    proto::FrameDecoder decoder_;
    proto::FlowTable flow_;
    bool hello_done_ = false;
    uint32_t peer_version_ = 0;
    std::set<uint32_t> running_;  // sessions with a process
    // The kept containers in use, by directory, with their session: a second Run or a
    // Remove of one is refused (ephemeral containers have a directory of their own each).
    std::map<std::string, uint32_t> busy_dirs_;
    // Every running container (kept or not) by directory, with its Run's session: what an
    // Exec names.
    std::map<std::string, uint32_t> containers_;
    std::optional<std::vector<proto::ListeningPort>> ports_sent_;
};

}  // namespace lxbox::agent
