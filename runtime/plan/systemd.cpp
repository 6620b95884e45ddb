#include "runtime/plan/systemd.hpp"

#include <errno.h>
#include <signal.h>
#include <sys/mount.h>

namespace lxbox::runtime {

std::vector<MountOp> plan_systemd_mounts() {
    std::vector<MountOp> ops;
    // As systemd mounts them on a host (and nspawn in a container): /run without exec is
    // fine for it, but Debian's /run/lock and sockets need nothing more than nosuid,nodev.
    ops.push_back({MountOpKind::Mount, "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"});
    // systemd mounts /run/lock itself unless it is a mount already, and cannot in a container
    // without CAP_SYS_ADMIN: that failure is fatal to PID 1 ("Failed to mount tmpfs at /run/lock").
    ops.push_back({MountOpKind::MakeDir, "/run/lock", "", 0, "", 01777});
    ops.push_back({MountOpKind::Mount, "/run/lock", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5242880"});
    ops.push_back({MountOpKind::Mount, "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"});
    return ops;
}

ProcessSpec systemd_process(const SecuritySpec& security) {
    ProcessSpec p;
    p.args = {kSystemdPath};
    p.user = "0";
    p.cwd = "/";
    p.env = {std::string("container=") + kContainerManager};
    p.security = security;
    return p;
}

int systemd_stop_signal() { return SIGRTMIN + 3; }

std::optional<std::string> systemd_answer(const std::string& printed) {
    std::string state = printed;
    while (!state.empty() && (state.back() == '\n' || state.back() == ' ')) state.pop_back();
    if (state.empty() || state == "offline") return std::nullopt;
    return state;
}

Status systemd_exit_status(int code) {
    const std::string exec = std::string("exec ") + kSystemdPath;
    if (code == 127) return Error::sys(ENOENT, exec, ErrorKind::NotFound);
    if (code == 126) return Error::sys(EACCES, exec, ErrorKind::Unsupported);
    if (code != 0) return Error(ErrorKind::System, "systemd exited " + std::to_string(code));
    return {};
}

std::string systemd_state_notice(const std::string& container, const std::string& state) {
    if (state == "running") return "";
    if (state == "degraded")
        return "systemd in " + container + " is degraded: some units failed (lxbox exec " + container +
               " -- systemctl --failed)";
    return "systemd in " + container + " is " + (state.empty() ? "not answering" : state);
}

}  // namespace lxbox::runtime
