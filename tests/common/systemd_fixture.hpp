// What the boot.systemd tests share, natively (tests/e2e/systemd_test.cpp) and in the VM
// (tests/vm/vm_systemd_test.cpp): Debian's own systemd in a store, a service to enable, and the
// looks at systemd through the built CLI.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {

// A unit that runs until systemd stops it, and whose ExecStop leaves
// /var/lib/lxbox-test-stopped: it ran only if systemd halted its units (a clean shutdown).
inline constexpr const char* kSystemdTestUnit =
    "[Unit]\nDescription=lxbox test service\n"
    "[Service]\nExecStart=/bin/sleep infinity\n"
    "ExecStop=/bin/sh -c 'echo stopped >/var/lib/lxbox-test-stopped'\n"
    "[Install]\nWantedBy=multi-user.target\n";

// The first launch's command (sh -c, the unit as $0): PID 1's name, the container manager as
// systemd sees it, the filesystems of /run, /tmp and /sys/fs/cgroup, then the unit enabled and
// started; and what it prints when all is as it should be.
inline constexpr const char* kSystemdFirstLaunch =
    "cat /proc/1/comm; systemd-detect-virt --container; cat /run/systemd/container; "
    "stat -f -c %T /run /tmp /sys/fs/cgroup; echo \"$0\" > /etc/systemd/system/lxbox-test.service; "
    "systemctl enable --now lxbox-test.service >/dev/null 2>&1; systemctl is-active lxbox-test.service";
// systemd-detect-virt knows the managers of its own list; lxbox is "container-other".
inline constexpr const char* kSystemdFirstLaunchOut = "systemd\ncontainer-other\nlxbox\ntmpfs\ntmpfs\ncgroup2fs\nactive\n";

// The next boot's command: the unit enabled before runs again, and its ExecStop ran at the
// halt; and what it prints then.
inline constexpr const char* kSystemdNextLaunch = "systemctl is-active lxbox-test.service; cat /var/lib/lxbox-test-stopped";
inline constexpr const char* kSystemdNextLaunchOut = "active\nstopped\n";

// Imports Debian bookworm minbase with systemd (tools/fixtures/debian-systemd.sh, built once
// into the build dir) into the store at root as `name`, with boot.systemd set.
Status import_systemd_distro(const std::string& root, const std::string& name);

// lxbox on the store at root with env_marker (NAME=VALUE) in its environment, which the monitor
// it leaves inherits (store_leftovers looks for it).
CommandResult run_lxbox_marked(const std::string& root, const std::string& env_marker,
                               const std::vector<std::string>& args);

// `systemctl is-system-running` in the running container, then the failed units, if any.
std::string systemd_state(const std::string& root, const std::string& env_marker, const std::string& container);

}  // namespace lxbox::test
