// The QEMU command builder: one test per host OS / arch / accelerator decision.
#include <gtest/gtest.h>

#include <algorithm>

#include "host/vm/qemu_command.hpp"

namespace lxbox::vm {
namespace {

VmConfig config() {
    VmConfig c;
    c.kernel = "/d/vm/vmlinux";
    c.initrd = "/d/vm/initramfs.cpio";
    c.channel_socket = "/d/vm/agent.sock";
    c.qmp_socket = "/d/vm/qmp.sock";
    c.serial_log = "/d/vm/console.log";
    return c;
}

VmPlatform linux_x86(bool kvm) {
    VmPlatform h;
    h.accel = kvm ? Accel::Kvm : Accel::Tcg;
    h.tsc_khz = 2100000;
    return h;
}

// The value following `flag` in argv ("" when absent).
std::string arg_after(const std::vector<std::string>& argv, const std::string& flag) {
    auto it = std::find(argv.begin(), argv.end(), flag);
    return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

bool has(const std::vector<std::string>& argv, const std::string& word) {
    return std::find(argv.begin(), argv.end(), word) != argv.end();
}

TEST(QemuCommand, LinuxWithUsableKvmPicksKvmMicrovm) {
    auto argv = qemu_command(config(), linux_x86(true));
    EXPECT_EQ(argv[0], "qemu-system-x86_64");
    EXPECT_EQ(arg_after(argv, "-accel"), "kvm");
    EXPECT_EQ(arg_after(argv, "-M"), "microvm");
    EXPECT_EQ(arg_after(argv, "-cpu"), "host");
    // kvmclock calibrates: no TSC override under KVM.
    EXPECT_EQ(arg_after(argv, "-append").find("tsc_early_khz"), std::string::npos);
}

TEST(QemuCommand, LinuxWithoutKvmPicksTcgWithCalibrationSkipped) {
    auto argv = qemu_command(config(), linux_x86(false));
    EXPECT_EQ(arg_after(argv, "-accel"), "tcg");
    EXPECT_EQ(arg_after(argv, "-M"), "microvm");
    EXPECT_FALSE(has(argv, "-cpu"));  // default model: -cpu max is slower under TCG
    std::string append = arg_after(argv, "-append");
    EXPECT_NE(append.find("tsc_early_khz=2100000 lpj=8400000 tsc=reliable no_timer_check"),
              std::string::npos);
    EXPECT_NE(append.find("console=ttyS0"), std::string::npos);
    EXPECT_NE(append.find("cryptomgr.notests"), std::string::npos);
    EXPECT_NE(append.find("mitigations=off"), std::string::npos);
}

TEST(QemuCommand, ForcedAccelWins) {
    VmConfig c = config();
    c.force_accel = Accel::Tcg;
    EXPECT_EQ(arg_after(qemu_command(c, linux_x86(true)), "-accel"), "tcg");
}

TEST(QemuCommand, TcgWithoutKnownTscRateUsesQ35WithPciSerial) {
    VmPlatform h = linux_x86(false);
    h.tsc_khz = 0;
    auto argv = qemu_command(config(), h);
    EXPECT_EQ(arg_after(argv, "-M"), "q35");
    EXPECT_TRUE(has(argv, "virtio-serial-pci"));
    EXPECT_EQ(arg_after(argv, "-append").find("tsc_early_khz"), std::string::npos);
}

TEST(QemuCommand, MacOsPicksHvf) {
    VmPlatform h;
    h.os = HostOs::Darwin;
    h.arch = Arch::Aarch64;
    h.accel = Accel::Hvf;
    auto argv = qemu_command(config(), h);
    EXPECT_EQ(argv[0], "qemu-system-aarch64");
    EXPECT_EQ(arg_after(argv, "-accel"), "hvf");
    EXPECT_EQ(arg_after(argv, "-M"), "virt");
    EXPECT_EQ(arg_after(argv, "-cpu"), "host");
    EXPECT_NE(arg_after(argv, "-append").find("console=ttyAMA0"), std::string::npos);
    EXPECT_TRUE(has(argv, "virtio-serial-device"));
}

TEST(QemuCommand, IntelMacPicksHvfOnQ35) {
    VmPlatform h;
    h.os = HostOs::Darwin;
    h.accel = Accel::Hvf;
    auto argv = qemu_command(config(), h);
    EXPECT_EQ(arg_after(argv, "-accel"), "hvf");
    EXPECT_EQ(arg_after(argv, "-M"), "q35");
    EXPECT_TRUE(has(argv, "virtio-serial-pci"));
}

TEST(QemuCommand, MacOsWithoutHvfPicksTcg) {
    VmPlatform h;
    h.os = HostOs::Darwin;
    h.arch = Arch::Aarch64;
    auto argv = qemu_command(config(), h);
    EXPECT_EQ(arg_after(argv, "-accel"), "tcg");
    EXPECT_EQ(arg_after(argv, "-cpu"), "cortex-a57");  // virt's default CPU is 32-bit; max is slow
}

TEST(QemuCommand, WindowsPicksWhpxAndExe) {
    VmPlatform h;
    h.os = HostOs::Windows;
    h.accel = Accel::Whpx;
    h.tsc_khz = 3000000;
    auto argv = qemu_command(config(), h);
    EXPECT_EQ(argv[0], "qemu-system-x86_64.exe");
    EXPECT_EQ(arg_after(argv, "-accel"), "whpx");
    EXPECT_EQ(arg_after(argv, "-M"), "q35");
}

TEST(QemuCommand, WindowsWithoutWhpxPicksTcg) {
    VmPlatform h;
    h.os = HostOs::Windows;
    h.tsc_khz = 3000000;
    EXPECT_EQ(arg_after(qemu_command(config(), h), "-accel"), "tcg");
    EXPECT_EQ(arg_after(qemu_command(config(), h), "-M"), "microvm");
}

TEST(QemuCommand, LinuxArm64WithKvm) {
    VmPlatform h;
    h.arch = Arch::Aarch64;
    h.accel = Accel::Kvm;
    auto argv = qemu_command(config(), h);
    EXPECT_EQ(argv[0], "qemu-system-aarch64");
    EXPECT_EQ(arg_after(argv, "-accel"), "kvm");
    EXPECT_EQ(arg_after(argv, "-M"), "virt");
    EXPECT_EQ(arg_after(argv, "-cpu"), "host");
}

// The aarch64 guest on an x86-64 Linux host (what tests/vm boots): emulated on virt, every
// device on virtio-mmio, and none of the x86 clock flags though the host's TSC rate is known.
TEST(QemuCommand, Aarch64GuestOnX86HostUnderTcg) {
    VmPlatform h = linux_x86(false);
    h.tsc_khz = 3000000;
    h.arch = Arch::Aarch64;
    VmConfig c = config();
    c.host_share = "/srv/share";
    c.disks = {{"/d/img.ext4", true, "img"}};
    auto argv = qemu_command(c, h);
    EXPECT_EQ(argv[0], "qemu-system-aarch64");
    EXPECT_EQ(arg_after(argv, "-accel"), "tcg");
    EXPECT_EQ(arg_after(argv, "-M"), "virt");
    EXPECT_EQ(arg_after(argv, "-cpu"), "cortex-a57");
    const std::string append = arg_after(argv, "-append");
    EXPECT_NE(append.find("console=ttyAMA0"), std::string::npos) << append;
    for (const char* x86_only : {"tsc_early_khz", "console=ttyS0", "i8042", "8250.nr_uarts"})
        EXPECT_EQ(append.find(x86_only), std::string::npos) << x86_only << " in " << append;
    for (const char* device : {"virtio-serial-device", "virtio-blk-device,drive=disk0,serial=img",
                               "virtio-scsi-device,id=scsi0", "virtio-net-device,netdev=net0"})
        EXPECT_TRUE(has(argv, device)) << device;
    EXPECT_TRUE(has(argv, "virtio-9p-device,fsdev=hostfs,mount_tag=lxbox-host"));
    for (const auto& a : argv) EXPECT_EQ(a.find("-pci"), std::string::npos) << a;
}

TEST(QemuCommand, GuestArchesPerHost) {
    EXPECT_EQ(guest_arches("x86_64"), (std::vector<std::string>{"x86_64", "aarch64"}));
    EXPECT_EQ(guest_arches("aarch64"), (std::vector<std::string>{"aarch64"}));
    EXPECT_TRUE(guest_arches("riscv64").empty());
    EXPECT_EQ(arch_from_string("aarch64"), Arch::Aarch64);
    EXPECT_EQ(arch_from_string("x86_64"), Arch::X86_64);
}

TEST(QemuCommand, ChannelQmpConsoleAndIsolationFlags) {
    VmConfig c = config();
    c.memory_mib = 512;
    c.cpus = 2;
    auto argv = qemu_command(c, linux_x86(false));
    for (const char* flag : {"-nodefaults", "-no-user-config", "-nographic", "-no-reboot"})
        EXPECT_TRUE(has(argv, flag)) << flag;
    EXPECT_EQ(arg_after(argv, "-kernel"), "/d/vm/vmlinux");
    EXPECT_EQ(arg_after(argv, "-initrd"), "/d/vm/initramfs.cpio");
    EXPECT_EQ(arg_after(argv, "-m"), "512");
    EXPECT_EQ(arg_after(argv, "-smp"), "2");
    EXPECT_EQ(arg_after(argv, "-serial"), "file:/d/vm/console.log");
    EXPECT_EQ(arg_after(argv, "-chardev"), "socket,id=agent,path=/d/vm/agent.sock,server=on,wait=off");
    EXPECT_TRUE(has(argv, "virtio-serial-device"));
    EXPECT_TRUE(has(argv, "virtserialport,chardev=agent,name=org.lxbox.agent.0"));
    EXPECT_EQ(arg_after(argv, "-qmp"), "unix:/d/vm/qmp.sock,server=on,wait=off");
}

TEST(QemuCommand, DisksAreVirtioBlockOnTheMachinesBusInOrder) {
    VmConfig c = config();
    c.disks = {{"/d/vm/disks/debian,1.ext4", true, ""}, {"/d/c1.img", false, "lxbox-containers"}};
    auto argv = qemu_command(c, linux_x86(false));  // microvm: virtio-mmio
    EXPECT_EQ(arg_after(argv, "-drive"), "file=/d/vm/disks/debian,,1.ext4,if=none,id=disk0,format=raw,readonly=on");
    EXPECT_TRUE(has(argv, "virtio-blk-device,drive=disk0"));
    EXPECT_TRUE(has(argv, "file=/d/c1.img,if=none,id=disk1,format=raw"));
    // The guest finds a disk by its serial, not by its order.
    EXPECT_TRUE(has(argv, "virtio-blk-device,drive=disk1,serial=lxbox-containers"));
    VmPlatform no_tsc = linux_x86(false);
    no_tsc.tsc_khz = 0;  // q35: PCI
    EXPECT_TRUE(has(qemu_command(c, no_tsc), "virtio-blk-pci,drive=disk0"));
}

TEST(QemuCommand, DisksHotPlugOnAVirtioScsiControllerAsScsiDisksWithTheirSerial) {
    VmConfig c = config();
    EXPECT_TRUE(has(qemu_command(c, linux_x86(false)), "virtio-scsi-device,id=scsi0"));
    VmPlatform no_tsc = linux_x86(false);
    no_tsc.tsc_khz = 0;  // q35: PCI
    EXPECT_TRUE(has(qemu_command(c, no_tsc), "virtio-scsi-pci,id=scsi0"));
    c.hotplug_bus = false;
    EXPECT_FALSE(has(qemu_command(c, linux_x86(false)), "virtio-scsi-device,id=scsi0"));
    auto cmds = hotplug_disk_commands({"/d/vm/disks/alpine.ext4", true, "d-0123456789abcdef"});
    ASSERT_EQ(cmds.size(), 2u);
    EXPECT_EQ(cmds[0].first, "blockdev-add");
    EXPECT_EQ(cmds[0].second.dump(),
              R"({"driver":"raw","file":{"driver":"file","filename":"/d/vm/disks/alpine.ext4","read-only":true},)"
              R"("node-name":"hp-d-0123456789abcdef","read-only":true})");
    EXPECT_EQ(cmds[1].first, "device_add");
    EXPECT_EQ(cmds[1].second.dump(),
              R"({"bus":"scsi0.0","drive":"hp-d-0123456789abcdef","driver":"scsi-hd","id":"dev-d-0123456789abcdef",)"
              R"("serial":"d-0123456789abcdef"})");
}

TEST(QemuCommand, AnUnplugNamesTheDeviceAndNodeTheHotPlugMade) {
    auto plug = hotplug_disk_commands({"/d/vm/disks/alpine.ext4", true, "d-0123456789abcdef"});
    const DiskUnplug u = unplug_disk_commands("d-0123456789abcdef");
    EXPECT_EQ(u.device_id, plug[1].second["id"]);
    EXPECT_EQ(u.device_del.first, "device_del");
    EXPECT_EQ(u.device_del.second.dump(), R"({"id":"dev-d-0123456789abcdef"})");
    EXPECT_EQ(u.blockdev_del.first, "blockdev-del");
    EXPECT_EQ(u.blockdev_del.second["node-name"], plug[0].second["node-name"]);
}

TEST(QemuCommand, TheGuestGetsUserModeNetworkingOnAVirtioNicUnlessTurnedOff) {
    VmConfig c = config();
    auto argv = qemu_command(c, linux_x86(false));
    EXPECT_EQ(arg_after(argv, "-netdev"), "user,id=net0");
    EXPECT_TRUE(has(argv, "virtio-net-device,netdev=net0"));
    VmPlatform no_tsc = linux_x86(false);
    no_tsc.tsc_khz = 0;  // q35: PCI
    EXPECT_TRUE(has(qemu_command(c, no_tsc), "virtio-net-pci,netdev=net0"));
    c.user_network = false;
    EXPECT_FALSE(has(qemu_command(c, linux_x86(false)), "-netdev"));
}

TEST(QemuCommand, AHostShareIs9pOnTheMachinesBus) {
    VmConfig c = config();
    EXPECT_FALSE(has(qemu_command(c, linux_x86(false)), "-fsdev"));
    c.host_share = "/home/a,b";
    auto argv = qemu_command(c, linux_x86(false));
    EXPECT_EQ(arg_after(argv, "-fsdev"), "local,id=hostfs,path=/home/a,,b,security_model=passthrough");
    EXPECT_TRUE(has(argv, "virtio-9p-device,fsdev=hostfs,mount_tag=lxbox-host"));
    c.host_share_passthrough = false;
    VmPlatform no_tsc = linux_x86(false);
    no_tsc.tsc_khz = 0;  // q35: PCI
    argv = qemu_command(c, no_tsc);
    EXPECT_EQ(arg_after(argv, "-fsdev"), "local,id=hostfs,path=/home/a,,b,security_model=none");
    EXPECT_TRUE(has(argv, "virtio-9p-pci,fsdev=hostfs,mount_tag=lxbox-host"));
}

TEST(QemuCommand, ExplicitQemuPathExtraArgsAndCmdline) {
    VmConfig c = config();
    c.extra_args = {"-drive", "file=x"};
    c.extra_cmdline = "lxbox.debug=1";
    c.mitigations_off = false;
    VmPlatform h = linux_x86(false);
    h.qemu_path = "/opt/qemu/bin/qemu-system-x86_64";
    auto argv = qemu_command(c, h);
    EXPECT_EQ(argv[0], "/opt/qemu/bin/qemu-system-x86_64");
    EXPECT_EQ(argv[argv.size() - 2], "-drive");
    std::string append = arg_after(argv, "-append");
    EXPECT_NE(append.find(" lxbox.debug=1"), std::string::npos);
    EXPECT_EQ(append.find("mitigations=off"), std::string::npos);
}

}  // namespace
}  // namespace lxbox::vm
