// What the container verbs (launch, exec, ps, stop, rm) share: finding a container's running
// instance (registered or throwaway), and turning the process options into a ProcessSpec.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/vm/vm_run.hpp"
#include "runtime/base/error.hpp"
#include "runtime/container/container.hpp"
#include "runtime/spec/spec.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::launch {

// Options of the process to run, common to launch and exec.
struct ProcessOptions {
    std::string user, cwd;
    std::vector<std::string> env, env_files;
    bool force_tty = false, no_tty = false;
    std::vector<std::string> command;
    runtime::SecuritySpec security;
};

Result<runtime::ProcessSpec> make_process_spec(const ProcessOptions& opts);
// A process joining a running container gets the container's security settings (docker exec
// does the same) unless its own command line set some.
void inherit_security(runtime::ProcessSpec& process, const ProcessOptions& opts, const store::InstanceState& running);

// Runs opts' process in the running vm container `name` (instance: its state, with the
// container's directory in the VM) and returns its exit code: `lxbox exec`, or a second
// `launch` of it (integrated: as the user, as the container was made).
Result<int> exec_in_vm_container(const store::Store& store, const std::string& name,
                                 const store::InstanceState& instance, const ProcessOptions& opts,
                                 bool integrated = false);

// The instance of a vm container that request ran, its Run sent (VmRunRequest::started gave
// guest_dir): this lxbox (its launcher) is the instance's pid.
store::InstanceState vm_instance_state(const vm::VmRunRequest& request, const std::string& guest_dir);

// Joins a running container with j's process, its stdin and stderr on /dev/null and its
// stdout on out_fd (-1: /dev/null too): a process of lxbox's own in the container (boot.command,
// systemd's state), whose output is not the user's. The joining process takes lxbox's fds
// 0-2 at its clone, so they are swapped for that moment.
Result<runtime::Container> join_quietly(const runtime::JoinSpec& j, int out_fd = -1);

// A container as `ps` shows it.
struct ContainerView {
    std::string name, image, dir;
    bool ephemeral = false;
    std::optional<store::InstanceState> instance;  // set while it runs
    std::string backend = "native";  // where its changes live (vm: the VM's containers disk)
    std::string arch;                // what it runs as: its image's arch (its VM's, on the vm backend)
};

// Throwaway (--rm) containers live in "containers/.rm-<owner pid>-<owner start>-<name>", are
// never registered, and are removed by clean_stale() once their lxbox is gone.
inline constexpr const char* kEphemeralKind = "rm";

// Every container, registered or throwaway, with its truthful state (pid + start time checked).
Result<std::vector<ContainerView>> list_containers(const store::Store& store);
Result<ContainerView> find_container(const store::Store& store, const std::string& name);

// The cgroup name of a container (flat: one level under lxbox's own): "lxbox-<store id>-<dir>".
// Every store of a user puts its containers' cgroups in the same place (<own cgroup>/lxbox/),
// so the store's id is part of the name: `rm web` in one store must not find (and kill) the
// running "web" of another.
std::string cgroup_name(const store::Store& store, const std::string& container_dir);
// The name given before the store's id was part of it ("lxbox-<dir>"): it may belong to a
// container of any store.
std::string unscoped_cgroup_name(const std::string& container_dir);

// Removes the cgroup `name` of a container whose launcher is gone (killed -9), killing what is
// left in it; absent or not removable (rootless, no writable hierarchy: an empty group is
// harmless) is only logged.
void remove_leftover_cgroup(const std::string& name);

// Writes the instance state of an ephemeral container: temp + rename (atomic for readers) but
// no fsync — a crash makes the whole throwaway dir stale anyway.
Status write_ephemeral_state(const std::string& dir, const store::InstanceState& s, const std::string& image);

}  // namespace lxbox::launch
