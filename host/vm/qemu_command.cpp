#include "host/vm/qemu_command.hpp"

namespace lxbox::vm {

const char* to_string(HostOs os) {
    switch (os) {
        case HostOs::Linux: return "linux";
        case HostOs::Darwin: return "darwin";
        case HostOs::Windows: return "windows";
    }
    return "unknown";
}

const char* to_string(Arch arch) { return arch == Arch::Aarch64 ? "aarch64" : "x86_64"; }

Arch arch_from_string(const std::string& arch) { return arch == "aarch64" ? Arch::Aarch64 : Arch::X86_64; }

const char* build_arch() {
#if defined(__aarch64__)
    return "aarch64";
#else
    return "x86_64";
#endif
}

std::vector<std::string> guest_arches(const std::string& host_arch) {
    if (host_arch == "x86_64") return {"x86_64", "aarch64"};
    if (host_arch == "aarch64") return {"aarch64"};
    return {};
}

const char* to_string(Accel accel) {
    switch (accel) {
        case Accel::Kvm: return "kvm";
        case Accel::Hvf: return "hvf";
        case Accel::Whpx: return "whpx";
        case Accel::Tcg: return "tcg";
    }
    return "tcg";
}

std::string choose_machine(const VmPlatform& host, Accel accel) {
    if (host.arch == Arch::Aarch64) return "virt";
    if (accel == Accel::Hvf || accel == Accel::Whpx) return "q35";
    if (accel == Accel::Tcg && host.tsc_khz == 0) return "q35";
    return "microvm";
}

std::string qemu_binary(const VmPlatform& host) {
    if (!host.qemu_path.empty()) return host.qemu_path;
    std::string name = host.arch == Arch::Aarch64 ? "qemu-system-aarch64" : "qemu-system-x86_64";
    if (host.os == HostOs::Windows) name += ".exe";
    return name;
}

namespace {

// microvm has no HPET and no ACPI PM timer: when the kernel's PIT calibration fails under TCG
// the boot hangs for good after "Marking TSC unstable" (6 of 8 boots measured). Handing it the
// host's TSC rate skips calibration (300+ boots, no hang). Under TCG the guest TSC is the
// host TSC, so the host's rate is the right one. lpj = khz * 1000 / HZ (Debian: HZ=250).
std::string calibration_flags(uint64_t tsc_khz) {
    return " tsc_early_khz=" + std::to_string(tsc_khz) + " lpj=" + std::to_string(tsc_khz * 4) +
           " tsc=reliable no_timer_check";
}

}  // namespace

std::string kernel_cmdline(const VmConfig& config, const VmPlatform& host, Accel accel) {
    std::string cmdline = host.arch == Arch::Aarch64 ? "console=ttyAMA0" : "console=ttyS0";
    // panic=-1 with QEMU's -no-reboot: a dead agent ends QEMU instead of hanging the VM.
    cmdline += " quiet loglevel=1 panic=-1";
    if (host.arch == Arch::X86_64 && accel == Accel::Tcg && host.tsc_khz != 0)
        cmdline += calibration_flags(host.tsc_khz);
    // Measured under TCG: cryptomgr.notests saves ~0.84 s (algorithm self-tests); the rest
    // trims smaller initcalls (see research/vm-feasibility.md 2.3).
    cmdline += " cryptomgr.notests random.trust_cpu=on rcupdate.rcu_expedited=1 audit=0"
               " init_on_alloc=0 init_on_free=0";
    if (host.arch == Arch::X86_64)
        cmdline += " noreplace-smp 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.nopnp"
                   " i8042.dumbkbd";
    if (config.mitigations_off) cmdline += " mitigations=off";
    if (!config.extra_cmdline.empty()) cmdline += " " + config.extra_cmdline;
    return cmdline;
}

namespace {

void add_cpu(std::vector<std::string>& argv, const VmPlatform& host, Accel accel) {
    if (host.arch == Arch::Aarch64) {
        // virt's default CPU is a 32-bit cortex-a15: name a 64-bit one. Under TCG an ARMv8.0
        // cortex-a57, not max: max's pointer authentication is emulated with the architected
        // QARMA cipher, and a bare boot of Debian's arm64 kernel measured 5.7-5.9 s with max,
        // 2.4 s with max,pauth-impdef=on and 1.6-1.7 s with cortex-a57 (Debian's arm64 baseline
        // is ARMv8.0: nothing in the guest needs more).
        argv.insert(argv.end(), {"-cpu", accel == Accel::Tcg ? "cortex-a57" : "host"});
    } else if (accel == Accel::Kvm || accel == Accel::Hvf) {
        argv.insert(argv.end(), {"-cpu", "host"});
    }
    // x86 TCG keeps QEMU's default model: -cpu max measured 0.4-0.6 s slower per boot.
}

void add_channel(std::vector<std::string>& argv, const VmConfig& config, const std::string& machine) {
    // microvm and virt have virtio-mmio, q35 has PCI.
    const char* bus = machine == "q35" ? "virtio-serial-pci" : "virtio-serial-device";
    argv.insert(argv.end(),
                {"-chardev", "socket,id=agent,path=" + config.channel_socket + ",server=on,wait=off",
                 "-device", bus, "-device",
                 std::string("virtserialport,chardev=agent,name=") + kAgentPortName});
}

void add_disks(std::vector<std::string>& argv, const VmConfig& config, const std::string& machine) {
    const char* device = machine == "q35" ? "virtio-blk-pci" : "virtio-blk-device";
    for (size_t i = 0; i < config.disks.size(); ++i) {
        const auto& d = config.disks[i];
        const std::string id = "disk" + std::to_string(i);
        // QEMU's option parser splits on ',': a comma in the path is written twice. A writable
        // disk keeps QEMU's default cache (writeback, flushes honoured): it holds the user's
        // containers, which must survive a host crash as well as a VM stop.
        std::string path;
        for (char c : d.path) path += c == ',' ? std::string(",,") : std::string(1, c);
        argv.insert(argv.end(), {"-drive", "file=" + path + ",if=none,id=" + id + ",format=raw" +
                                               (d.readonly ? ",readonly=on" : ""),
                                 "-device", std::string(device) + ",drive=" + id +
                                                (d.serial.empty() ? "" : ",serial=" + d.serial)});
    }
}

}  // namespace

namespace {

std::string hotplug_node(const std::string& serial) { return "hp-" + serial; }
std::string hotplug_device(const std::string& serial) { return "dev-" + serial; }

}  // namespace

DiskUnplug unplug_disk_commands(const std::string& serial) {
    return {hotplug_device(serial),
            {"device_del", {{"id", hotplug_device(serial)}}},
            {"blockdev-del", {{"node-name", hotplug_node(serial)}}}};
}

std::vector<std::pair<std::string, nlohmann::json>> hotplug_disk_commands(const VmDisk& disk) {
    const std::string node = hotplug_node(disk.serial);
    return {{"blockdev-add", {{"driver", "raw"},
                              {"node-name", node},
                              {"read-only", disk.readonly},
                              {"file", {{"driver", "file"}, {"filename", disk.path}, {"read-only", disk.readonly}}}}},
            {"device_add", {{"driver", "scsi-hd"},
                            {"id", hotplug_device(disk.serial)},
                            {"bus", std::string(kHotplugBus) + ".0"},
                            {"drive", node},
                            {"serial", disk.serial}}}};
}

std::vector<std::string> qemu_command(const VmConfig& config, const VmPlatform& host) {
    Accel accel = config.force_accel.value_or(host.accel);
    std::string machine = choose_machine(host, accel);
    std::vector<std::string> argv{qemu_binary(host), "-accel", to_string(accel), "-M", machine,
                                  "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"};
    add_cpu(argv, host, accel);
    argv.insert(argv.end(), {"-m", std::to_string(config.memory_mib), "-smp",
                             std::to_string(config.cpus)});
    argv.insert(argv.end(), {"-kernel", config.kernel, "-initrd", config.initrd, "-append",
                             kernel_cmdline(config, host, accel)});
    argv.insert(argv.end(), {"-serial", "file:" + config.serial_log});
    add_channel(argv, config, machine);
    add_disks(argv, config, machine);
    if (!config.host_share.empty()) {
        std::string path;
        for (char c : config.host_share) path += c == ',' ? std::string(",,") : std::string(1, c);
        // passthrough keeps owners and modes as they are (QEMU as root); none drops what an
        // unprivileged QEMU cannot do (chown) instead of failing it.
        argv.insert(argv.end(), {"-fsdev", "local,id=hostfs,path=" + path + ",security_model=" +
                                               (config.host_share_passthrough ? "passthrough" : "none"),
                                 "-device", std::string(machine == "q35" ? "virtio-9p-pci" : "virtio-9p-device") +
                                                ",fsdev=hostfs,mount_tag=" + kHostShareTag});
    }
    if (config.hotplug_bus)
        argv.insert(argv.end(), {"-device", std::string(machine == "q35" ? "virtio-scsi-pci" : "virtio-scsi-device") +
                                                ",id=" + kHotplugBus});
    if (config.user_network)
        argv.insert(argv.end(), {"-netdev", std::string("user,id=") + kNetdevId, "-device",
                                 std::string(machine == "q35" ? "virtio-net-pci" : "virtio-net-device") +
                                     ",netdev=" + kNetdevId});
    argv.insert(argv.end(), {"-qmp", "unix:" + config.qmp_socket + ",server=on,wait=off"});
    argv.insert(argv.end(), config.extra_args.begin(), config.extra_args.end());
    return argv;
}

}  // namespace lxbox::vm
