// Boots the utility VM: QEMU as a managed child (Boost.Process) with the agent channel,
// QMP and the console log in the VM dir, waits for the agent's hello with a deadline, and
// falls back from a KVM that hangs to TCG (saying so once, remembering it per host).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "host/vm/channel_client.hpp"
#include "host/vm/host_facts.hpp"
#include "host/vm/qemu_command.hpp"

namespace lxbox::vm {

struct BootRequest {
    VmConfig config;       // kernel/initrd set; sockets and log default into vm_dir
    VmPlatform facts;
    std::string vm_dir;    // $LXBOX_ROOT/vm: sockets, console.log, qemu.log, kvm-verdict.json
    // Under KVM the hello must come within this, else KVM is declared hanging (a good KVM
    // boot takes well under a second; TCG here takes ~2 s).
    std::chrono::milliseconds kvm_budget{6000};
    // The TCG boot deadline: a boot can hang under TCG too (measurements.md), so it ends.
    std::chrono::milliseconds boot_deadline{30000};
    std::function<void(const std::string&)> notice;  // one-line notices for the user
};

class RunningVm {
public:
    ~RunningVm();  // kills QEMU if it still runs
    RunningVm(const RunningVm&) = delete;
    RunningVm& operator=(const RunningVm&) = delete;

    Accel accel() const { return accel_; }
    const proto::Hello& hello() const { return hello_; }
    std::chrono::milliseconds boot_time() const { return boot_time_; }  // QEMU start → hello
    ChannelClient& channel() { return channel_; }
    int pid() const;
    bool running();
    // Asks the agent to power off and waits for QEMU to exit; kills it after the timeout.
    Status shutdown(std::chrono::milliseconds timeout);
    // Waits for QEMU to exit by itself (true) or the timeout (false).
    bool wait_exit(std::chrono::milliseconds timeout);
    void kill();

    struct Process;  // the QEMU child (Boost.Process), kept out of this header

private:
    friend Result<std::unique_ptr<RunningVm>> boot_vm(BootRequest request);
    RunningVm(std::unique_ptr<Process> process, ChannelClient channel);
    std::unique_ptr<Process> process_;
    ChannelClient channel_;
    Accel accel_ = Accel::Tcg;
    proto::Hello hello_;
    std::chrono::milliseconds boot_time_{0};
};

// Boots and completes the hello; on a KVM hang, retries once with TCG.
Result<std::unique_ptr<RunningVm>> boot_vm(BootRequest request);

}  // namespace lxbox::vm
