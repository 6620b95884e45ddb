// Host detection: detect_host() probes this machine for real (children that unshare, mount
// overlayfs, install a seccomp filter, run a KVM guest of three instructions) and returns
// plain HostFacts. One implementation per OS (detect_linux.cpp, detect_darwin.cpp,
// detect_windows.cpp), each compiled only on its OS. The helpers below are pure so the parsing
// and the decisions they make are unit-tested without probing anything.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/detect/host_facts.hpp"
#include "host/vm/host_facts.hpp"
#include "runtime/cgroups/cgroup.hpp"

namespace lxbox::detect {

struct DetectOptions {
    std::string vm_dir;  // $LXBOX_ROOT/vm, where kvm-verdict.json lives; "" ignores it
    std::optional<std::string> path_env;  // PATH searched for QEMU; default: the environment's
};

// Probes this host. Never fails as a whole: a probe that cannot run says so in its reason.
HostFacts detect_host(const DetectOptions& options);

// Searches `path_env` (separator ':' or ';') for each binary (suffix ".exe" on Windows) and
// asks each one found for `--version` (its first line).
std::map<std::string, QemuBinary> find_qemu_binaries(const std::vector<std::string>& names,
                                                     const std::string& path_env, char separator,
                                                     const std::string& exe_suffix);

// The first executable `name` in path_env (entries split at separator, ':' or ';'), "" when
// there is none. Empty and relative entries are skipped.
std::string find_executable(const std::string& name, const std::string& path_env, char separator);
// The same in $PATH (a plain default when it is unset).
std::string find_on_path(const std::string& name);

// The enabled binfmt_misc handlers for ELF binaries, by arch (/proc/sys/fs/binfmt_misc; empty
// where it is not mounted). Linux only. Cheap, never cached: a handler comes or goes at any time.
std::map<std::string, BinfmtHandler> binfmt_handlers(const std::string& dir = "/proc/sys/fs/binfmt_misc");

// ---- Pure helpers ----

struct OsRelease {
    std::string pretty_name;  // PRETTY_NAME, else NAME, else ""
    std::string id;           // ID followed by ID_LIKE, space separated ("ubuntu debian")
};
// /etc/os-release text (shell-style KEY=value, values optionally quoted).
OsRelease parse_os_release(std::string_view text);

// uname/sysctl/Windows spellings to one: amd64/x64 → x86_64, arm64 → aarch64.
std::string normalize_arch(std::string_view arch);

// One /proc/sys/fs/binfmt_misc entry's text ("enabled\ninterpreter ...\nflags: PF\noffset 0\n
// magic 7f454c46...\nmask ..."): the arch of the ELF binaries its magic matches (e_machine,
// bytes 18-19) and the handler; nullopt for a handler of something else than ELF binaries.
std::optional<std::pair<std::string, BinfmtHandler>> parse_binfmt_entry(const std::string& name,
                                                                        std::string_view text);

// The arches lxbox can boot a guest of on a host of host_arch (vm::guest_arches): Debian's
// kernel of that arch and the agent built for it (cross-compiled for aarch64 on x86-64).
std::vector<std::string> bootable_guest_arches(const std::string& host_arch);

// The probe says how far KVM got; a remembered verdict of the VM backend (a real guest booted
// or hung, with this kernel + QEMU) upgrades a passed probe to boot-verified or boot-hangs.
// A verdict for another kernel or QEMU version is stale and ignored.
KvmFacts apply_kvm_verdict(KvmFacts probed, const std::optional<vm::KvmVerdict>& verdict,
                           const std::string& kernel_release, const std::string& qemu_version);

// The cgroup picture from parsed mounts and our own placement; `read_text` reads a cgroup file
// ("" when unreadable) and `writable` says whether this user may create cgroups in a dir.
// A controller is usable when this user can write our own cgroup in its hierarchy (v2: and
// its cgroup.subtree_control), which is where runtime/cgroups creates a container's group.
CgroupFacts summarize_cgroups(const cgroups::CgroupMounts& mounts, const cgroups::OwnCgroups& own,
                              const std::function<std::string(const std::string&)>& read_text,
                              const std::function<bool(const std::string&)>& writable);

}  // namespace lxbox::detect
