// Per-container cgroups with resource limits, on cgroup v2, v1 and the v1/v2 hybrid.
//
// Placement: <mount>/<this process's own cgroup>/lxbox/<name> in each hierarchy touched, so
// lxbox stays inside whatever cgroup (and delegation) its caller was given. The "lxbox" group
// is made by the first container and removed with the last. Only the
// hierarchies a container needs are touched: memory, cpu and pids when limited, plus one
// "membership" hierarchy (the v2 tree when mounted, else v1 name=systemd) that holds every
// process of the container so they can be counted and killed together even without limits.
// The decisions (mount layout, hierarchies, file writes) are pure functions below; Cgroup
// executes them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/cgroups/devices.hpp"
#include "runtime/cgroups/write.hpp"

namespace lxbox::cgroups {

struct Limits {
    std::optional<uint64_t> memory_bytes;  // hard limit, swap not allowed on top of it
    std::optional<double> cpus;            // CPU bandwidth in CPUs (0.5 = half a CPU)
    std::optional<uint64_t> pids;          // maximum number of tasks
    std::vector<DeviceRule> devices;       // device cgroup rules; none = the caller's own
};

// ---- Pure: the layout of the cgroup mounts ----

enum class Layout { V1, V2, Hybrid, None };

struct CgroupMounts {
    Layout layout = Layout::None;
    std::string v2_path;  // mountpoint of cgroup2, "" when none
    std::map<std::string, std::string>
        v1_controllers;  // controller (or "name=systemd") → mountpoint
    // mountpoint → the hierarchy path mounted there (mountinfo's root field): "/" normally,
    // a subtree when a container runtime bind-mounted only its own part of the tree.
    std::map<std::string, std::string> roots;
};

// The cgroup mounts from /proc/self/mountinfo text. The first mount of a hierarchy wins (the
// standard /sys/fs/cgroup ones come first); a later mount on the same mountpoint shadows it.
CgroupMounts parse_cgroup_mounts(std::string_view mountinfo);

// Where a process sits in each hierarchy, from /proc/<pid>/cgroup text:
// controller (or "name=systemd") → path; the key "" is the v2 path.
using OwnCgroups = std::map<std::string, std::string>;
OwnCgroups parse_proc_cgroup(std::string_view proc_cgroup);

// The directory of a cgroup path (as /proc/<pid>/cgroup gives it) inside the mount at
// `mountpoint` whose hierarchy root is `root`. Refused when the path lies outside the mounted
// subtree.
Result<std::string> dir_in_mount(const std::string& mountpoint, const std::string& root,
                                 const std::string& path);

// ---- Pure: the limits as file writes ----


// v2: memory.max (+ memory.swap.max 0), cpu.max "<quota> 100000", pids.max.
std::vector<Write> plan_limits_v2(const Limits& limits);
// v1: memory.limit_in_bytes (+ memory.memsw.limit_in_bytes), cpu.cfs_period_us then
// cpu.cfs_quota_us, pids.max; on both, the device rules (plan_devices_v1/v2).
std::vector<Write> plan_limits_v1(const Limits& limits);

// Rejects limits the kernel would refuse or that could never run a container: cpus not > 0
// (or absurdly large), memory or pids of 0.
Status validate_limits(const Limits& limits);
// "512M", "1G", "1.5g", "64k", "1024" (bytes), "512MiB", "2gb": binary multiples, as docker's
// --memory.
Result<uint64_t> parse_memory_size(std::string_view text);
// "0.5", "2": --cpus.
Result<double> parse_cpus(std::string_view text);

// One hierarchy a container's cgroup lives in, and what to do there.
struct Hierarchy {
    std::string label;  // "memory", "cpu", "pids", "name=systemd" (v1) or "unified" (v2)
    bool v2 = false;
    std::string own_dir;              // this process's cgroup in it, an absolute path
    std::vector<std::string> enable;  // v2: controllers the container's cgroup must receive
    std::vector<Write> writes;        // the limits written in the container's cgroup
    // An explicit place (OCI cgroupsPath): the existing directory the path starts from (the
    // hierarchy's mountpoint, or own_dir for a relative path) and the path below it. Empty
    // for lxbox's own place, own_dir/lxbox/<name>.
    std::string base, path;
    std::string parent_dir() const { return own_dir + "/lxbox"; }
    std::string target(const std::string& name) const {
        return path.empty() ? parent_dir() + "/" + name : base + "/" + path;
    }
};

// Where the container's cgroup goes: "" = <own cgroup>/lxbox/<name> in each hierarchy; an OCI
// cgroupsPath "/a/b" = a/b below each hierarchy's root, "a/b" = below this process's own
// cgroup (runc's cgroupfs driver reads it the same way).
struct Place {
    std::string cgroups_path;
};

// The hierarchies a cgroup needs: for each controller written, its v1 writes where the kernel
// binds it to v1 (v1 first, as on a hybrid host v2 has none) else its v2 writes (v1 blkio is v2
// io), then the membership hierarchy. Unsupported names the controller that no hierarchy
// offers; Invalid carries a refused write's message.
Result<std::vector<Hierarchy>> plan_hierarchies(const CgroupMounts& mounts, const OwnCgroups& own,
                                                const std::vector<Write>& v1, const std::vector<Write>& v2,
                                                const Place& place = {});
// The same for launch's limits (plan_limits_v1/v2).
Result<std::vector<Hierarchy>> plan_hierarchies(const CgroupMounts& mounts, const OwnCgroups& own,
                                                const Limits& limits);

// An OCI cgroupsPath: components separated by '/', none empty, "." or "..". The message
// starts with the quoted path ("'/a/../b' must not contain '.' or '..'").
Status validate_cgroups_path(const std::string& path);

// Freezes or thaws every process of a cgroup known by its directories (Cgroup::paths()): v1
// freezer.state where the freezer hierarchy is among them, else v2 cgroup.freeze;
// returns once the kernel reports it done (5 s at most). Unsupported when none has a freezer.
Status set_frozen(const std::vector<std::string>& paths, bool frozen);
// Whether such a cgroup is frozen (false without a freezer).
bool is_frozen(const std::vector<std::string>& paths);

// A cgroup name is one path component of [A-Za-z0-9_.-], not starting with '.'.
Status validate_name(const std::string& name);

// ---- Effects ----

// Moves pid into the cgroups that process member is in, in every hierarchy this host mounts:
// an exec into a container whose own init manages its cgroup (systemd keeps itself in
// init.scope, and a v2 cgroup that hands controllers down takes no process: EBUSY), as runc's
// exec joins its init's cgroup then.
Status join_cgroups_of(pid_t member, pid_t pid);

// A container's cgroup in every hierarchy it needs. The one made by create() owns the cgroup:
// its destructor kills whatever is left in it and removes it. One from open_existing() only
// joins: `exec` must not tear down the container it enters.
class Cgroup {
  public:
    // Creates <own cgroup>/lxbox/<name> and writes the limits. A stale empty group of the same
    // name is replaced; one that still holds processes is Busy. Unsupported when this user
    // cannot write a hierarchy or the kernel lacks a controller (the message names it).
    static Result<Cgroup> create(const std::string& name, const Limits& limits);
    // The same with planned writes for either cgroup version (an OCI bundle's resources) at a
    // given place. At an explicit place the missing directories above the cgroup are made (and
    // left, as runc leaves them); an existing empty cgroup there is used, a busy one refused.
    static Result<Cgroup> create(const std::string& name, const std::vector<Write>& v1,
                                 const std::vector<Write>& v2, const Place& place);
    // A handle on an existing cgroup made by create(), for `exec` to join; NotFound if none.
    static Result<Cgroup> open_existing(const std::string& name);
    // The same, owned: for a cgroup whose creator is gone (a launcher killed -9), so that
    // remove() takes it, and the "lxbox" group with it if it was the last.
    static Result<Cgroup> open_leftover(const std::string& name);
    // The names of the groups at lxbox's own place (<own cgroup>/lxbox/*) that start with
    // prefix, in any hierarchy (`lxbox check`: a store's leftover containers' groups).
    static Result<std::vector<std::string>> list_lxbox_groups(const std::string& prefix);
    // The same on given mounts and placement instead of this process's (tests: a v2 tree only).
    static Result<Cgroup> create_in(const CgroupMounts& mounts, const OwnCgroups& own,
                                    const std::string& name, const Limits& limits);
    static Result<Cgroup> create_in(const CgroupMounts& mounts, const OwnCgroups& own,
                                    const std::string& name, const std::vector<Write>& v1,
                                    const std::vector<Write>& v2, const Place& place);
    static Result<Cgroup> open_existing_in(const CgroupMounts& mounts, const OwnCgroups& own,
                                           const std::string& name);

    // Takes ownership of a cgroup known by its directories (Cgroup::paths() of the one create()
    // made, kept by a caller that outlived it: `oci delete` runs where `oci create` did not).
    // One at lxbox's own place (.../lxbox/<name>) takes the "lxbox" group along when last.
    static Cgroup adopt(const std::string& name, const std::vector<std::string>& paths);

    // Moves the process (all its threads) into the cgroup in every hierarchy.
    Status add_process(pid_t pid);
    // True when the kernel OOM-killed a process of the cgroup (v2 memory.events oom_kill;
    // v1 memory.oom_control oom_kill, or under_oom on kernels before 4.13). False without a
    // memory limit.
    bool oom_killed() const;
    // Kills what is left (cgroup.kill on v2, SIGKILL of each listed pid otherwise), waits up to
    // 5 s for it to empty and removes the directories; the shared parent "lxbox" group goes
    // too when this was its last container (a sibling keeps it: rmdir fails, as it should).
    // A no-op for a joined, released or moved-from handle.
    Status remove();
    // Removes the directories that hold no process and no child group (and the "lxbox" group
    // when left empty), kills nothing, and makes this handle inert: for a cgroup that may be
    // another's (a name two stores shared).
    void remove_if_empty();
    // Keeps the cgroup on the system and makes this handle inert (a detached container).
    void release();

    const std::string& name() const { return name_; }
    // The cgroup's directory in each hierarchy.
    std::vector<std::string> paths() const;

    Cgroup(Cgroup&& o) noexcept;
    Cgroup& operator=(Cgroup&& o) noexcept;
    Cgroup(const Cgroup&) = delete;
    Cgroup& operator=(const Cgroup&) = delete;
    ~Cgroup();  // remove(), logging a failure at warn (a destructor cannot return it)

  private:
    struct Dir {
        std::string path;
        bool v2 = false;
        bool memory = false;  // the memory controller is active here
        bool in_lxbox_group = false;  // at lxbox's own place, <own cgroup>/lxbox/<name>
    };
    // rmdir of the "lxbox" group above d, which fails (EBUSY, ENOTEMPTY) while another
    // container, or a launch making one, has a group in it.
    static void remove_lxbox_group(const Dir& d);
    Cgroup(std::string name, bool owned) : name_(std::move(name)), owned_(owned) {}
    Status make_dir(const Hierarchy& h);
    Status make_dir_once(const Hierarchy& h);
    Status make_dir_at(const Hierarchy& h);

    std::string name_;
    std::vector<Dir> dirs_;
    bool owned_ = false;
};

}  // namespace lxbox::cgroups
