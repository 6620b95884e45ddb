// Pure decisions of the runtime: from a spec to the mounts, files, environment and exit codes
// the effects layer (runtime/linux, runtime/container) carries out. No syscalls here, so all of
// it is unit-tested without root.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/plan/users.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// Mask: hide a path of /proc or /sys (a file under /dev/null, a directory under an empty
// read-only tmpfs); ReadOnly: bind it over itself read-only. Both skip a path this kernel lacks.
// HostBind: a bind of a host path (taken before pivot_root), for what a user namespace may not
// make itself: device nodes (mknod is refused there) and /sys when the network is the host's.
// EarlyMount: a Mount made before pivot_root and attached after: a user namespace may mount
// proc or sysfs only while the host's own are visible in its mount namespace.
// WriteFile: write `data` to an existing file (a sysctl under /proc/sys).
// ReadOnly on "/" remounts the root itself read-only (an OCI bundle's root.readonly).
// Remount: the target is a mount an earlier step made; its flags become `flags` in place.
enum class MountOpKind { MakeDir, Mount, MakeDevice, Symlink, Mask, ReadOnly, HostBind, EarlyMount, WriteFile, Remount };

// One step of building the container's /proc, /sys and /dev after pivot_root. Targets are
// absolute paths inside the container (resolved after pivot_root, so a symlink in the image
// can never lead a mount out to the host). The target of a Mount, EarlyMount or HostBind is
// reached through no symlink at all unless follow_symlinks: lxbox's own /proc, /sys and /dev
// go where they belong or nowhere (an image's /dev -> /proc had its /dev tmpfs cover /proc).
struct MountOp {
    MountOpKind kind = MountOpKind::MakeDir;
    std::string target;
    std::string fstype;      // Mount, EarlyMount
    unsigned long flags = 0; // Mount, EarlyMount: MS_* flags
    std::string data;        // Mount, EarlyMount: options
    unsigned mode = 0;       // MakeDir, MakeDevice: permission bits
    unsigned major = 0, minor = 0;  // MakeDevice (character devices)
    std::string link;        // Symlink: what it points to
    std::string source;      // HostBind: the host path (read-only when flags has MS_RDONLY,
                             // likewise MS_NOSUID, MS_NODEV, MS_NOEXEC); Mount: the source
                             // ("" = fstype); WriteFile: unused
    bool recursive = true;   // HostBind: the submounts too (rbind)
    unsigned long propagation = 0;  // Mount, HostBind: MS_SHARED/MS_SLAVE/... applied after
    char device_type = 'c';  // MakeDevice: 'c' character, 'b' block, 'p' fifo
    uint32_t uid = 0, gid = 0;      // MakeDevice: owner (bundle devices)
    // Mount, EarlyMount, HostBind: symlinks of the container's root are followed to the target
    // (within the root, as runc resolves a bundle's mount destinations); false: a symlink at or
    // above the target refuses the step.
    bool follow_symlinks = false;
};

// The overlay that makes the container's root: lower = image, upper/work = the container's
// changes (in the scratch tmpfs when ephemeral), mounted on `merged`.
struct OverlayPlan {
    std::string scratch;  // mount point of the per-run tmpfs (generated files, ephemeral layers)
    std::string lower, upper, work, merged;
    std::string options;  // the overlay mount data string
    // Many layers: every lower, topmost first (lower is the first). Their options may not fit
    // mount(2)'s one page (127 layers of full paths are ~12 KiB): Linux 6.8's lowerdir+ takes
    // them one fsconfig each; older kernels get short_options, whose lowers are short links
    // relative to lower_base (as containers/storage does), mounted from that directory.
    std::vector<std::string> lowers;
    std::string extra_options;  // beyond lowerdir/upperdir/workdir ("userxattr"), "" = none
    std::string lower_base, short_options;
};

// mount(2)'s data is one page: longer options need lowerdir+ or short_options.
inline constexpr size_t kOverlayOptionsMax = 4095;

// The same overlay as fuse-overlayfs mounts it. Its daemon reaches upper and work by path, so
// they must not lie under the mount it serves (it would wait on itself): a throwaway container,
// whose layers are in the scratch tmpfs on `merged`, gets its root on a directory beside them.
OverlayPlan fuse_overlay_plan(const OverlayPlan& plan);

// A small generated file bind-mounted over a path in the container (never written to the image).
struct InjectedFile {
    std::string name;    // file name in the scratch tmpfs
    std::string target;  // path inside the container
    std::string content;
};

// Checks a spec for what the kernel would otherwise reject obscurely.
Status validate_spec(const ContainerSpec& spec);

// Escapes a path for overlayfs' option parser (',' separates options, ':' separates lowers).
std::string overlay_escape(const std::string& path);

OverlayPlan plan_overlay(const ContainerSpec& spec);
std::vector<MountOp> plan_system_mounts(const ContainerSpec& spec);
std::vector<InjectedFile> plan_injected_files(const ContainerSpec& spec);
std::string effective_hostname(const ContainerSpec& spec);

// The clean environment: PATH, HOME, USER, TERM, HOSTNAME, then the user's K=V (which win).
std::vector<std::string> plan_env(const ProcessSpec& process, const ResolvedUser& user, const std::string& hostname);

// What to exec: args as given, or the user's login shell ("-sh" as argv[0], like login(1)).
struct ExecPlan {
    std::string file;                // path or name searched in PATH
    std::vector<std::string> argv;
    std::string cwd;                 // where to start
    bool cwd_required = false;       // --cd given: failing to enter it is an error
    std::string fallback;            // else where to start instead ("" = /)
};
ExecPlan plan_exec(const ProcessSpec& process, const ResolvedUser& user);

// What to tell the user when the kernel's OOM killer killed a process of the container's cgroup
// (at its memory limit), given the command's exit code: the command failing with SIGKILL's
// 137 is "out of memory"; a command that went on to exit otherwise (a child of it was killed,
// say) gets a warning that does not call it a failure. "" when nothing was killed.
std::string oom_notice(int exit_code, bool oom_killed);

// docker's convention: 127 when the command does not exist, 126 when it cannot be executed.
int exec_failure_exit_code(int err);
// Exit status of a child from waitid's si_code/si_status: the code, or 128+N when killed by N.
int exit_code_from_siginfo(int code, int status);

// CLI parsing helpers, pure so they are unit-tested.
Result<BindMount> parse_bind(const std::string& text);           // HOST:GUEST[:ro|:rw]
Result<uint64_t> parse_memory(const std::string& text);          // 512m, 1g, 1048576, 64k
// One variable as `-e` gives it or a line of an env file holds it (docker's rule for both):
// "K=V" as it is; "K" alone takes the value lookup has (none when it has none); "=V" is
// refused ("no variable name").
using EnvLookup = std::function<const char*(const std::string&)>;
Result<std::optional<std::string>> parse_env_var(const std::string& text, const EnvLookup& lookup);
// An env file: one variable a line (parse_env_var), blank lines and # comments skipped,
// leading blanks and a trailing \r dropped. A refused line is named ("line 2: '=x': ...").
Result<std::vector<std::string>> parse_env_file(const std::string& text, const EnvLookup& lookup);
// The -e arguments; a refused one is named ("-e '=x': ...").
Result<std::vector<std::string>> resolve_env_args(const std::vector<std::string>& args, const EnvLookup& lookup);

}  // namespace lxbox::runtime
