// The agent's I/O loop: the virtio-serial port (opened once, kept open: bytes the guest has
// taken in are lost if it closes the port) and a signalfd for SIGCHLD, driving AgentSession.
#pragma once

#include <functional>

#include "guest-agent/agent_session.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::agent {

// Serves the port until an I/O error (returned) — the caller restarts it; never returns on
// success. signal_fd delivers SIGCHLD (children are reaped here). Sessions that run a
// container get a runner process each (guest-agent/runner.hpp); wait_ready blocks until the
// modules a container needs (disk, overlay) are loaded.
Status serve_port(int port_fd, int signal_fd, AgentSession& session, const std::function<void()>& wait_ready);

// One line on the console (the VM's serial log): "lxbox-agent: <message>".
void log_line(const std::string& message);

}  // namespace lxbox::agent
