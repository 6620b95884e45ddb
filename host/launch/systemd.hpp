// boot.systemd: a kept container whose PID 1 is the distro's own systemd, as WSL runs it. The
// first `launch` boots it in the background, held by a small monitor process (as podman's
// conmon holds a container): the monitor keeps the container's lock and its instance state
// for the container's life, and when systemd ends (`lxbox stop`: SIGRTMIN+3) clears the state
// and removes the cgroup systemd filled. Every `launch` and `exec` joins the running
// container, once systemd has booted. What the container needs for systemd (tmpfs /run and
// /tmp, its cgroup2 tree, $container) is runtime/plan/systemd.hpp's.
//
// In the VM the monitor is the container's launcher, as a vm launch is: it holds the session
// whose Run the guest agent started systemd for, and is the instance's pid (`stop` signals it,
// and it passes SIGRTMIN+3 on to the guest).
#pragma once

#include <functional>
#include <string>

#include "host/launch/launch.hpp"
#include "host/vm/vm_run.hpp"
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

// The container's life as its monitor runs it: starts the container, calls started once (with
// its instance written to the store, or why it did not start) and returns when it has ended:
// why, when systemd failed (runtime::systemd_exit_status).
using Started = std::function<void(const Status&)>;
using ContainerLife = std::function<Status(const Started& started)>;

// Natively: spec's container, started by the monitor (systemd its child); started once systemd
// has been exec'd; its cgroup removed when it ends.
ContainerLife native_life(store::Store& store, runtime::ContainerSpec spec, std::string container);
// In the VM: request's container, run by the guest agent for the monitor's session (the VM
// running already: vm::start_vm); started once the Run is sent.
ContainerLife vm_life(store::Store& store, vm::VmRunRequest request, std::string container);

// A container its monitor has started.
struct Booted {
    store::InstanceState instance;
    // Where the monitor says why the container ended (a wait that saw it end reads it).
    UniqueFd ends;
};

// Runs life under a monitor process of its own, which takes over lock (the container's, held
// by the caller), outlives this lxbox and clears the instance when the container has ended.
// Returns the running instance once life has started it; the reason when it could not (no
// systemd in the distro...).
Result<Booted> boot_in_background(store::Store& store, const std::string& container, UniqueFd lock,
                                  const ContainerLife& life);

// Waits until the container's systemd has booted (`systemctl is-system-running --wait` in it,
// saying so on a terminal after kSystemdBootNoticeSeconds) and returns its state: "running",
// "degraded", ...; "" when it did not finish within kSystemdBootWaitSeconds. When systemd ends
// meanwhile, the error is why, as the monitor said on ends (Booted::ends; -1: a launch that
// joins a running container, which has no word of its monitor's).
Result<std::string> wait_for_systemd(const store::Store& store, const store::InstanceState& instance,
                                     const std::string& container, int ends = -1);
// The same for a vm container (instance.backend "vm"), asked through the guest agent.
Result<std::string> wait_for_systemd_in_vm(const store::Store& store, const store::InstanceState& instance,
                                           const std::string& container, int ends = -1);

}  // namespace lxbox::launch
