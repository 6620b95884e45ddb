#include "guest-agent/pid1.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

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

Status mount_early_filesystems() {
    constexpr unsigned long common = MS_NOSUID | MS_NOEXEC | MS_NODEV;
    LXBOX_TRY(mount_one("proc", "/proc", "proc", common));
    LXBOX_TRY(mount_one("sysfs", "/sys", "sysfs", common));
    LXBOX_TRY(mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
    LXBOX_TRY(mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,newinstance"));
    LXBOX_TRY(mount_one("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
    LXBOX_TRY(mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
    LXBOX_TRY(mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
    return {};
}

std::vector<ModuleToLoad> parse_load_order(const std::string& text, const std::string& dir) {
    std::vector<ModuleToLoad> modules;
    std::istringstream in(text);
    std::string file, phase;
    while (in >> file >> phase) modules.push_back({dir + "/" + file, phase == "boot"});
    return modules;
}

Status load_modules(const std::vector<ModuleToLoad>& modules) {
    std::string failures;
    for (const auto& m : modules) {
        auto fd = open_fd(m.file, O_RDONLY);
        // glibc has no finit_module wrapper; finit_module lets the kernel read the file itself.
        if (!fd || (::syscall(SYS_finit_module, fd->get(), "", 0) != 0 && errno != EEXIST)) {
            Error e = fd ? Error::last("load " + m.file) : fd.error();
            failures += (failures.empty() ? "" : "; ") + e.message;
        }
    }
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

std::string find_port(const std::string& name) {
    // devtmpfs creates /dev/vportNpM only: without udev there is no /dev/virtio-ports/NAME.
    DIR* dir = ::opendir("/sys/class/virtio-ports");
    if (!dir) return "";
    std::string found;
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::string entry = e->d_name;
        auto text = read_file("/sys/class/virtio-ports/" + entry + "/name");
        if (text && text->substr(0, text->find('\n')) == name) {
            found = "/dev/" + entry;
            break;
        }
    }
    ::closedir(dir);
    return found;
}

}  // namespace lxbox::agent
