// boot.systemd: a kept container whose PID 1 is the distro's own systemd, as WSL runs it. The
// first `launch` boots it in the background, held by a small monitor process (as podman's
// conmon holds a container): the monitor keeps the container's lock and its instance state
// for the container's life, and when systemd ends (`lxbox stop`: SIGRTMIN+3) clears the state
// and removes the cgroup systemd filled. Every `launch` and `exec` joins the running
// container, once systemd has booted. What the container needs for systemd (tmpfs /run and
// /tmp, its cgroup2 tree, $container) is runtime/plan/systemd.hpp's.
#pragma once

#include <string>

#include "host/launch/launch.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/spec/spec.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::launch {

// How long launch waits for systemd to finish booting before it runs the command anyway, and
// after how long it says on a terminal that it is waiting.
inline constexpr int kSystemdBootWaitSeconds = 120;
inline constexpr int kSystemdBootNoticeSeconds = 2;

// The container's spec with systemd as its PID 1 (made: launch's spec of the container, whose
// mounts, binds, limits, integration and security it keeps). Pure.
runtime::ContainerSpec systemd_spec(runtime::ContainerSpec made);

// Starts spec's container under a monitor process of its own, which takes over lock (the
// container's, held by the caller) and outlives this lxbox. Returns the running instance once
// systemd has been exec'd; the reason when it could not be (no systemd in the distro...).
Result<store::InstanceState> boot_in_background(store::Store& store, const runtime::ContainerSpec& spec,
                                                const std::string& container, UniqueFd lock);

// Waits until the container's systemd has booted (`systemctl is-system-running --wait` in it,
// saying so on a terminal after kSystemdBootNoticeSeconds) and returns its state: "running",
// "degraded", ...; "" when it did not finish within kSystemdBootWaitSeconds.
Result<std::string> wait_for_systemd(const store::Store& store, const store::InstanceState& instance,
                                     const std::string& container);

}  // namespace lxbox::launch
