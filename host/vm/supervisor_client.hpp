// A CLI command's side of the VM supervisor (host/vm/supervisor.hpp): connect to the running
// one, or start one detached (`lxbox vm serve`, its own session, stdio to supervisor.log) and
// wait until its VM answered; ask for its status; ask it to power the VM off.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "host/vm/channel_client.hpp"
#include "host/vm/supervisor.hpp"

namespace lxbox::vm {

struct SupervisorStart {
    std::string root;                  // the store root, passed on as --root
    std::string arch;                  // the guest's, passed on as vm serve --arch ("" = the host's)
    std::string exe = "/proc/self/exe";  // the lxbox binary that serves
    // A first boot may build nothing (the client builds the guest image first) but can wait
    // out a hanging KVM before TCG: generous.
    std::chrono::milliseconds timeout{120000};
    std::function<void(const std::string&)> notice;  // the supervisor's notices while it boots
    // Run before a supervisor is started (not when one runs): builds what the boot needs with
    // the user's terminal at hand for progress (the supervisor has none).
    std::function<Status()> prepare;
};

// A connection to the VM's supervisor, hello done, starting one first when none runs.
Result<ChannelClient> connect_supervisor(const std::string& vm_dir, const SupervisorStart& start);

// A connection to a running supervisor, hello done; nullopt when none runs.
Result<std::optional<ChannelClient>> connect_running(const std::string& vm_dir);

// The running VM's status (running = false when no supervisor runs).
Result<VmStatus> query_status(const std::string& vm_dir);

// Asks a running supervisor to let go of the distro disks no longer on file (after
// `unregister`, or a disk rebuilt for a re-imported distro) that no session uses; its status
// once it tried (disks it still holds stay listed). VmStatus{} when none runs.
Result<VmStatus> detach_removed_disks(const std::string& vm_dir);

// Asks the supervisor to power the VM off and waits until the supervisor has exited. false
// when none ran.
Result<bool> stop_supervisor(const std::string& vm_dir, std::chrono::milliseconds timeout);

}  // namespace lxbox::vm
