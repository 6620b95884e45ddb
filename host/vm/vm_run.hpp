// `lxbox launch --backend vm` and `lxbox exec` into a vm container: a container run by the
// guest agent in the shared VM (host/vm/supervisor.hpp), with the same spec and the same
// runtime/ as natively. The distro reaches the guest as a read-only ext4 disk image built
// once per imported distro (research: 4-20x faster than 9p), an OCI image as one disk of its
// layers merged (image_disk.hpp); a kept container's changes live
// on the VM's containers disk, a throwaway one's in the guest's memory; stdio crosses the
// channel as frames under credit-based flow control.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "host/vm/disks.hpp"
#include "runtime/base/error.hpp"
#include "runtime/proto/messages.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::vm {

// Pure: the spec as the guest runs it and the Run message carrying it. The distro's disk is
// mounted at a place named by its serial (a rebuilt distro is a new place); a kept
// container's changes live on the containers disk, a throwaway one's in a directory of its own
// (`unique` tells concurrent launches apart). Host paths (binds) cannot cross yet: an error
// names them.
Result<proto::Run> guest_run(const runtime::ContainerSpec& host_spec, const DistroDisk& disk,
                             const std::string& unique);

// Pure: the Remove that deletes a kept vm container's changes.
proto::Remove guest_remove(const std::string& container);

struct VmRunRequest {
    runtime::ContainerSpec spec;  // as the native path would run it
    std::string image;            // the distro's name
    DistroDisk disk;              // its disk: ensure_distro_disk's, or ensure_image_disk's
    std::string root;             // the store root ($LXBOX_ROOT)
    std::string arch;             // the guest's: the image's ("" = the host's); its own VM
    std::function<void(const std::string&)> notice;  // one-line notices (the KVM fallback)
    // Called once the Run is sent (the container is running), with the container's directory in
    // the guest: what an exec into it names (VmExecRequest::guest_dir).
    std::function<void(const std::string& guest_dir)> started;
    std::vector<proto::PortForward> ports;  // -p: published on the host's loopback
};

// Runs the container in the shared VM (started when none runs) with lxbox's stdin, stdout and
// stderr; returns its exit code. With spec.process.tty its pty is made in the guest and relayed,
// lxbox's terminal raw meanwhile and its size changes following, as natively.
Result<int> run_in_vm(const VmRunRequest& request);

struct VmExecRequest {
    std::string root;             // the store root
    std::string arch;             // the VM it runs in (InstanceState::arch; "" = the host's)
    std::string container;        // its name, for messages
    std::string guest_dir;        // as VmRunRequest::started gave it
    runtime::ProcessSpec process; // as natively (user, cwd, env, security, tty)
    // Set: a process of lxbox's own (the wait for systemd), as join_quietly's natively: its
    // stdout is kept here, its stdin is empty and its stderr dropped (process.tty is ignored).
    std::string* output = nullptr;
    // With output: when the process has not ended by then, lxbox leaves it (a Busy error) and
    // the session's end ends it in the guest.
    std::optional<std::chrono::steady_clock::time_point> deadline;
};

// Runs another process in a running vm container (`lxbox exec`, a second `launch`) with
// lxbox's stdio, as run_in_vm does; returns its exit code. Never starts a VM: without one the
// container is not running.
Result<int> exec_in_vm(const VmExecRequest& request);

// Starts the VM of arch when none runs (building its image first), with its notices through
// notice: what a launch whose container another process runs (boot.systemd's monitor, without
// a terminal) does first, so that the user sees the boot.
Status start_vm(const std::string& root, const std::string& arch, const std::function<void(const std::string&)>& notice);

// Deletes a kept vm container's changes in the VM of arch (starting it when none runs).
Status remove_in_vm(const std::string& root, const std::string& arch, const std::string& container,
                    const std::function<void(const std::string&)>& notice);

}  // namespace lxbox::vm
