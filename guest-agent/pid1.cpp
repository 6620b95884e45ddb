#include "guest-agent/pid1.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/mounts.hpp"

namespace lxbox::agent {

namespace {

Status mount_one(const char* source, const char* target, const char* type, unsigned long flags,
                 const char* data = nullptr) {
    ::mkdir(target, 0755);
    if (::mount(source, target, type, flags, data) != 0 && errno != EBUSY)
        return Error::last(std::string("mount ") + type + " on " + target);
    return {};
}

}  // namespace

Status leave_initramfs() {
    struct statfs fs;
    if (::statfs("/", &fs) != 0) return Error::last("statfs /");
    if (fs.f_type != RAMFS_MAGIC && fs.f_type != TMPFS_MAGIC) return {};
    constexpr const char* kNew = "/.root";
    if (::mkdir(kNew, 0755) != 0 && errno != EEXIST) return Error::last("create /.root");
    LXBOX_TRY(mount_one("tmpfs", kNew, "tmpfs", 0, "mode=0755"));
    // switch_root without the copy: the empty tmpfs moves over / and becomes the root; the
    // initramfs stays underneath, unreachable by path. Nothing in it is needed by path: the
    // agent runs (its binary stays mapped), its modules are read through a directory fd
    // opened before (main.cpp), and each mount point is made as it is mounted. Copying the
    // initramfs's 8 MB over cost ~90 ms of every boot under TCG.
    if (::chdir(kNew) != 0) return Error::last("enter /.root");
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return Error::last("move /.root to /");
    if (::chroot(".") != 0) return Error::last("chroot");
    if (::chdir("/") != 0) return Error::last("enter /");
    return {};
}

Status mount_early_filesystems() {
    constexpr unsigned long common = MS_NOSUID | MS_NOEXEC | MS_NODEV;
    // Each is tried, whatever failed before it: what did mount serves, and every failure is named.
    const Status results[] = {
        mount_one("proc", "/proc", "proc", common),
        mount_one("sysfs", "/sys", "sysfs", common),
        mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"),
        mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,newinstance"),
        mount_one("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
        mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
        mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
        // Containers get cgroups (limits, OOM reports) in the VM as natively.
        mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", common),
    };
    std::string failed;
    for (const auto& st : results)
        if (!st) failed += (failed.empty() ? "" : "; ") + st.error().message;
    if (!failed.empty()) return Error(ErrorKind::System, failed);
    return {};
}

namespace {

Status copy_cache_entry(int from, const std::string& name, const std::string& to) {
    auto in = LXBOX_TRY(openat_fd(from, name, O_RDONLY | O_CLOEXEC));
    auto bytes = LXBOX_TRY(read_all(in.get()));
    return write_file_atomic(to + "/" + name, bytes, Durability::RenameOnly, 0600);
}

}  // namespace

Status install_image_cache(int from, const std::string& to) {
    LXBOX_TRY(linux_fx::make_dirs(to, 0700));
    DIR* d = ::fdopendir(::fcntl(from, F_DUPFD_CLOEXEC, 0));
    if (!d) return Error::last("list the image's cache");
    Status st;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.')
            if (auto copied = copy_cache_entry(from, e->d_name, to); !copied) st = copied;
    ::closedir(d);
    return st;
}

void reap_children() {
    int status;
    while (::waitpid(-1, &status, WNOHANG) > 0) {
    }
}

Status set_clock(int64_t realtime_ns) {
    timespec ts{static_cast<time_t>(realtime_ns / 1000000000), static_cast<long>(realtime_ns % 1000000000)};
    if (::clock_settime(CLOCK_REALTIME, &ts) != 0) return Error::last("set the clock");
    return {};
}

Status power_off() {
    ::sync();
    ::reboot(RB_POWER_OFF);
    // No ACPI power button (or it failed): a reset ends QEMU too, because of -no-reboot.
    ::reboot(RB_AUTOBOOT);
    return Error::last("power off");
}

namespace {

// The entry of dir whose attribute file holds value (its first line), "" when none does.
std::string find_entry(const std::string& dir, const std::string& attribute, const std::string& value) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return "";
    std::string found;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string entry = e->d_name;
        auto text = read_file(dir + "/" + entry + "/" + attribute);
        if (text && text->substr(0, text->find('\n')) == value) {
            found = entry;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace

namespace {

Status set_address(int sock, const std::string& ifname, unsigned long request, const char* address) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
    sin->sin_family = AF_INET;
    ::inet_pton(AF_INET, address, &sin->sin_addr);
    if (::ioctl(sock, request, &ifr) != 0) return Error::last("configure " + ifname + " (" + address + ")");
    return {};
}

Status set_up(int sock, const std::string& ifname) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return Error::last("read the flags of " + ifname);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) return Error::last("bring " + ifname + " up");
    return {};
}

std::string first_nic() {
    DIR* d = ::opendir("/sys/class/net");
    if (!d) return "";
    std::string found;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || name == "lo") continue;
        if (found.empty() || name < found) found = name;
    }
    ::closedir(d);
    return found;
}

}  // namespace

Status bring_up_network() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return Error::last("socket");
    LXBOX_TRY(set_up(sock.get(), "lo"));
    std::string nic;
    for (int i = 0; i < 200 && (nic = first_nic()).empty(); ++i) ::usleep(10000);
    if (nic.empty()) return Error(ErrorKind::NotFound, "no network interface in the VM");
    LXBOX_TRY(set_address(sock.get(), nic, SIOCSIFADDR, kGuestAddress));
    LXBOX_TRY(set_address(sock.get(), nic, SIOCSIFNETMASK, kGuestNetmask));
    LXBOX_TRY(set_up(sock.get(), nic));
    rtentry route{};
    auto* dst = reinterpret_cast<sockaddr_in*>(&route.rt_dst);
    auto* mask = reinterpret_cast<sockaddr_in*>(&route.rt_genmask);
    auto* gw = reinterpret_cast<sockaddr_in*>(&route.rt_gateway);
    dst->sin_family = mask->sin_family = gw->sin_family = AF_INET;
    ::inet_pton(AF_INET, kGuestGateway, &gw->sin_addr);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    route.rt_dev = nic.data();
    if (::ioctl(sock.get(), SIOCADDRT, &route) != 0 && errno != EEXIST) return Error::last("add the default route");
    return {};
}

std::string find_port(const std::string& name) {
    // devtmpfs creates /dev/vportNpM only: without udev there is no /dev/virtio-ports/NAME.
    std::string entry = find_entry("/sys/class/virtio-ports", "name", name);
    return entry.empty() ? "" : "/dev/" + entry;
}

std::string vpd_serial(const std::string& page) {
    if (page.size() < 4 || static_cast<unsigned char>(page[1]) != 0x80) return "";
    const size_t length = (static_cast<size_t>(static_cast<unsigned char>(page[2])) << 8) |
                          static_cast<unsigned char>(page[3]);
    std::string serial = page.substr(4, length);
    while (!serial.empty() && (serial.back() == ' ' || serial.back() == '\0')) serial.pop_back();
    size_t start = serial.find_first_not_of(' ');
    return start == std::string::npos ? "" : serial.substr(start);
}

std::string find_disk(const std::string& serial) {
    if (std::string entry = find_entry("/sys/block", "serial", serial); !entry.empty()) return "/dev/" + entry;
    DIR* d = ::opendir("/sys/block");
    if (!d) return "";
    std::string found;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        auto page = read_file(std::string("/sys/block/") + e->d_name + "/device/vpd_pg80");
        if (page && vpd_serial(*page) == serial) {
            found = std::string("/dev/") + e->d_name;
            break;
        }
    }
    ::closedir(d);
    return found;
}

Result<std::string> wait_for_disk(const std::string& serial, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        // A hot-plugged disk's node comes with the SCSI scan, asynchronously.
        if (auto dev = find_disk(serial); !dev.empty() && ::access(dev.c_str(), F_OK) == 0) return dev;
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error(ErrorKind::NotFound, "no disk with serial " + serial + " in the VM");
}

Status detach_disk(const std::string& serial, const std::string& target) {
    const std::string dev = find_disk(serial);
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
        if (errno == EBUSY) return Error(ErrorKind::Busy, "the disk " + serial + " is in use at " + target);
        return Error::last("unmount " + target);
    }
    ::rmdir(target.c_str());
    // A SCSI disk goes from the guest's view now; virtio-blk disks have no such knob (and are
    // never unplugged: virtio-mmio cannot).
    if (!dev.empty()) {
        const std::string knob = "/sys/block/" + dev.substr(std::string_view("/dev/").size()) + "/device/delete";
        if (UniqueFd fd(::open(knob.c_str(), O_WRONLY | O_CLOEXEC)); fd)
            LXBOX_TRY(write_all(fd.get(), "1").context("delete the disk " + dev));
    }
    return {};
}

}  // namespace lxbox::agent
