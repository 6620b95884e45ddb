// systemd as a container's PID 1 (the distro setting boot.systemd), as WSL, systemd-nspawn and
// podman's --systemd run it: what the container needs beyond lxbox's usual one, decided here
// (pure); the mounts are made by runtime/container/child.cpp, the boot by host/launch/systemd.cpp.
//
// systemd checks for itself where it runs: /run and /tmp must be tmpfs it may fill (it
// refuses nothing without them, but its tmpfiles and sockets then land in the container's
// layer and outlive a boot), the cgroup2 tree at /sys/fs/cgroup must be the container's own
// and writable (it creates init.scope, system.slice and a group per service there), and
// $container (or /run/systemd/container) tells it it is in a container: then it mounts no API
// filesystem, loads no module, and halts by exiting rather than by reboot(2).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// Where systemd is in Debian, Ubuntu, Fedora and Arch (/lib is /usr/lib in all of them now).
inline constexpr const char* kSystemdPath = "/lib/systemd/systemd";
// What $container and /run/systemd/container say (systemd-detect-virt prints it).
inline constexpr const char* kContainerManager = "lxbox";

// tmpfs /run and /tmp, after /dev (plan_system_mounts adds them when spec.systemd).
std::vector<MountOp> plan_systemd_mounts();
// systemd's own process: PID 1 as root in /, no terminal, $container set; security as given.
ProcessSpec systemd_process(const SecuritySpec& security);
// SIGRTMIN+3: systemd halts on it (SIGTERM makes PID 1 re-execute itself, SIGINT reboots).
int systemd_stop_signal();
// systemd's state in what `systemctl is-system-running --wait` printed: "running", "degraded",
// ...; nullopt while systemd cannot answer yet: before it has made /run/systemd/system,
// systemctl prints "offline", and before its bus (/run/systemd/private), nothing.
std::optional<std::string> systemd_answer(const std::string& printed);
// Why systemd ended, by its exit code (the VM's Exit carries no more): 127 and 126 are the
// codes of a command that could not be exec'd, not found or not executable, as natively
// (Container::wait's exec error); any other but 0 (its halt in a container) is a failure.
Status systemd_exit_status(int code);
// What to tell the user of `systemctl is-system-running`'s answer once systemd has booted:
// "" for running; a line naming the state otherwise (degraded: how to see the failed units).
std::string systemd_state_notice(const std::string& container, const std::string& state);

}  // namespace lxbox::runtime
