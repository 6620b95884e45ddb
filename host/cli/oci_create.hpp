// `lxbox oci create` (and run's first half): a bundle's config.json made into a container that
// waits on its exec fifo, with its record saved. Shared by the lifecycle verbs in
// oci_commands.cpp, which also use the small helpers here.
#pragma once

#include <cstdint>
#include <string>

#include "host/oci/state.hpp"
#include "runtime/base/error.hpp"
#include "runtime/container/container.hpp"

namespace lxbox::cli::oci_cli {

struct OciGlobal {
    std::string root, log, log_format = "text";
    bool systemd_cgroup = false, debug = false;
    std::string rootless = "auto";
};

struct CreateOptions {
    std::string id, bundle, console_socket, pid_file;
    bool no_pivot = false, no_new_keyring = false, detach = false, keep = false;
    int preserve_fds = 0;
};

// g.root is set before any verb runs (add_oci_commands: the default, checked).
inline oci::StateDir state_dir(const OciGlobal& g) { return oci::StateDir(g.root); }

// RFC 3339 with nanoseconds, as runc writes "created" and its log lines.
std::string now_rfc3339();
// path against the cwd (an engine passes relative bundle and pid-file paths).
std::string absolute_path(const std::string& path);
// Sends a pty's master to an engine's --console-socket.
Status send_console(const std::string& socket_path, int master);
// A container set up in the caller's mount namespace leaves its root's bind there, with its
// mounts under it (runc leaves them all): detached here, but only while the mount at the path
// is still the one the container made (mount_id), not one the caller put there since.
Status detach_root_mount(const std::string& path, uint64_t mount_id);

struct Created {
    runtime::Container container;
    oci::Record record;
};
// The container set up, its process waiting on the exec fifo, its state saved; on any error
// nothing is left (state dir, fifo, root bind, cgroup).
Result<Created> create_container(const OciGlobal& g, const CreateOptions& o, bool detached);

}  // namespace lxbox::cli::oci_cli
