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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <set>
#include <thread>
#include <mutex>
#include <condition_variable>
#include <algorithm>
#include <vector>

#include "runtime/base/unique_fd.hpp"

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

namespace {

// Copies the tree at from (one filesystem) into to: regular files, directories, symlinks and
// device nodes, with their modes and owners.
Status copy_tree(const std::string& from, const std::string& to, dev_t dev) {
    DIR* d = ::opendir(from.c_str());
    if (!d) return Error::last("open " + from);
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) {
        const std::string src = from + "/" + n, dst = to + "/" + n;
        struct stat st;
        if (::lstat(src.c_str(), &st) != 0) return Error::last("stat " + src);
        if (st.st_dev != dev) continue;  // another mount (the new root itself)
        if (S_ISDIR(st.st_mode)) {
            if (::mkdir(dst.c_str(), st.st_mode & 07777) != 0 && errno != EEXIST) return Error::last("create " + dst);
            LXBOX_TRY(copy_tree(src, dst, dev));
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            const ssize_t len = ::readlink(src.c_str(), target, sizeof target - 1);
            if (len < 0) return Error::last("read link " + src);
            target[len] = '\0';
            if (::symlink(target, dst.c_str()) != 0) return Error::last("create " + dst);
        } else if (S_ISREG(st.st_mode)) {
            auto text = LXBOX_TRY(read_file(src));
            auto fd = LXBOX_TRY(open_fd(dst, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 07777));
            LXBOX_TRY(write_all(fd.get(), text));
        } else if (::mknod(dst.c_str(), st.st_mode, st.st_rdev) != 0) {
            return Error::last("create " + dst);
        }
        (void)::lchown(dst.c_str(), st.st_uid, st.st_gid);
    }
    return {};
}

}  // namespace

Status leave_initramfs() {
    struct statfs fs;
    if (::statfs("/", &fs) != 0) return Error::last("statfs /");
    if (fs.f_type != RAMFS_MAGIC && fs.f_type != TMPFS_MAGIC) return {};
    struct stat root;
    if (::stat("/", &root) != 0) return Error::last("stat /");
    constexpr const char* kNew = "/.root";
    if (::mkdir(kNew, 0755) != 0 && errno != EEXIST) return Error::last("create /.root");
    LXBOX_TRY(mount_one("tmpfs", kNew, "tmpfs", 0, "mode=0755"));
    LXBOX_TRY(copy_tree("/", kNew, root.st_dev));
    // switch_root: the tmpfs moves over / and becomes the root; the initramfs stays
    // underneath, unreachable.
    if (::chdir(kNew) != 0) return Error::last("enter /.root");
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return Error::last("move /.root to /");
    if (::chroot(".") != 0) return Error::last("chroot");
    if (::chdir("/") != 0) return Error::last("enter /");
    return {};
}

Status mount_early_filesystems() {
    constexpr unsigned long common = MS_NOSUID | MS_NOEXEC | MS_NODEV;
    LXBOX_TRY(mount_one("proc", "/proc", "proc", common));
    LXBOX_TRY(mount_one("sysfs", "/sys", "sysfs", common));
    LXBOX_TRY(mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
    LXBOX_TRY(mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,newinstance"));
    LXBOX_TRY(mount_one("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
    LXBOX_TRY(mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
    LXBOX_TRY(mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
    // Containers get cgroups (limits, OOM reports) in the VM as natively.
    LXBOX_TRY(mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", common));
    return {};
}

std::vector<ModuleToLoad> parse_load_order(const std::string& text, const std::string& dir) {
    std::vector<ModuleToLoad> modules;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream in(line);
        std::string file, phase, deps;
        if (!(in >> file >> phase)) continue;
        ModuleToLoad m{dir + "/" + file, phase == "boot", phase == "hotplug", {}};
        if (in >> deps) {
            std::istringstream list(deps);
            for (std::string dep; std::getline(list, dep, ',');)
                if (!dep.empty()) m.after.push_back(dir + "/" + dep);
        }
        modules.push_back(std::move(m));
    }
    return modules;
}

namespace {

Status finit(const ModuleToLoad& m) {
    auto fd = LXBOX_TRY(open_fd(m.file, O_RDONLY));
    // glibc has no finit_module wrapper; finit_module lets the kernel read the file itself.
    if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST) return Error::last("load " + m.file);
    return {};
}

}  // namespace

Status load_modules(const std::vector<ModuleToLoad>& modules, unsigned workers,
                    const std::function<Status(const ModuleToLoad&)>& load) {
    std::mutex mu;
    std::condition_variable changed;
    std::set<std::string> listed, done;
    for (const auto& m : modules) listed.insert(m.file);
    std::vector<bool> taken(modules.size(), false);
    std::string failures;
    // The first module not taken whose listed dependencies are done; modules.size() when none
    // is ready, and -1 when none is left.
    auto next = [&]() -> ptrdiff_t {
        bool left = false;
        for (size_t i = 0; i < modules.size(); ++i) {
            if (taken[i]) continue;
            left = true;
            const bool ready = std::all_of(modules[i].after.begin(), modules[i].after.end(),
                                           [&](const std::string& d) { return !listed.count(d) || done.count(d); });
            if (ready) return static_cast<ptrdiff_t>(i);
        }
        return left ? static_cast<ptrdiff_t>(modules.size()) : -1;
    };
    auto work = [&] {
        std::unique_lock lock(mu);
        for (;;) {
            ptrdiff_t i;
            changed.wait(lock, [&] { return (i = next()) != static_cast<ptrdiff_t>(modules.size()); });
            if (i < 0) return;
            const ModuleToLoad& m = modules[static_cast<size_t>(i)];
            taken[static_cast<size_t>(i)] = true;
            lock.unlock();
            Status st = load ? load(m) : finit(m);
            lock.lock();
            if (!st) failures += (failures.empty() ? "" : "; ") + st.error().message;
            done.insert(m.file);
            changed.notify_all();
        }
    };
    std::vector<std::thread> helpers;
    for (unsigned w = 1; w < workers; ++w) helpers.emplace_back(work);
    work();
    for (auto& t : helpers) t.join();
    if (!failures.empty()) return Error(ErrorKind::System, failures);
    return {};
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
    if (auto dev = find_disk(serial); !dev.empty()) return dev;
    // A disk the VM did not boot with: on the SCSI controller, whose driver loads now (once;
    // EEXIST after).
    std::vector<ModuleToLoad> hotplug;
    if (auto order = read_file(std::string(kModuleDir) + "/load-order"))
        for (auto& m : parse_load_order(*order, kModuleDir))
            if (m.hotplug) hotplug.push_back(std::move(m));
    const Status loaded = load_modules(hotplug);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        // The device node comes with the scan, asynchronously.
        if (auto dev = find_disk(serial); !dev.empty() && ::access(dev.c_str(), F_OK) == 0) return dev;
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error(ErrorKind::NotFound, "no disk with serial " + serial + " in the VM" +
                                          (loaded ? std::string() : " (" + loaded.error().message + ")"));
}

}  // namespace lxbox::agent
