// The agent's I/O loop: the virtio-serial port (opened once, kept open: bytes the guest has
// taken in are lost if it closes the port) and a signalfd for SIGCHLD, driving AgentSession.
#pragma once

#include <functional>
#include <vector>

#include "guest-agent/agent_session.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::agent {

// Serves the port until an I/O error (returned) — the caller restarts it; never returns on
// success. signal_fd delivers SIGCHLD (children are reaped here). Sessions that run a
// container get a runner process each (guest-agent/runner.hpp), forked once prepare returned:
// it blocks until the modules those mounts need (disks, ext4, overlay; 9p for a share; the
// SCSI stack for a hot-plugged disk) are loaded and the network is up.
using PrepareMounts = std::function<void(const std::vector<proto::GuestMount>&)>;
Status serve_port(int port_fd, int signal_fd, AgentSession& session, const PrepareMounts& prepare);

// One line on the console (the VM's serial log): "lxbox-agent: <message>".
void log_line(const std::string& message);

}  // namespace lxbox::agent
