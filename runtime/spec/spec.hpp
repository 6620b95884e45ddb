// The container spec: everything the runtime needs to start a container or join one, as plain
// data. It is JSON-serialisable because it will cross the VM channel unchanged (DESIGN.md):
// what travels is a spec, never a shell command string.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/cgroups/write.hpp"

namespace lxbox::runtime {

// -v HOST:GUEST[:ro]
struct BindMount {
    std::string source;  // absolute host path
    std::string target;  // absolute path inside the container
    bool readonly = false;
};

// How much of the kernel the process may reach: docker's defaults unless privileged.
struct SecuritySpec {
    bool privileged = false;            // --privileged: all capabilities, no seccomp, no masks
    std::vector<std::string> cap_add;   // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL"
    std::vector<std::string> cap_drop;  // same names; "ALL" drops every default first
    std::string seccomp = "default";    // "default" (docker's semantics), "unconfined", or "profile"
    std::string seccomp_profile;        // "profile": a docker-format profile (the JSON text)
    // An OCI bundle names every capability set itself (cap_add/cap_drop then do not apply).
    struct CapabilitySets {
        std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
        bool operator==(const CapabilitySets&) const = default;
    };
    std::optional<CapabilitySets> capabilities;
    std::optional<bool> no_new_privs;   // unset: on (lxbox's default); an OCI bundle says

    bool operator==(const SecuritySpec&) const = default;
};

// An OCI process's identity, taken as given: no passwd lookup, no defaults added.
struct ExplicitUser {
    uint32_t uid = 0, gid = 0;
    std::vector<uint32_t> additional_gids;
    std::optional<uint32_t> umask;
};

// setrlimit(2) before exec: "RLIMIT_NOFILE" and its soft and hard values.
struct Rlimit {
    std::string type;
    uint64_t soft = 0, hard = 0;
};

// The process to run inside the container (launch and exec alike).
struct ProcessSpec {
    std::vector<std::string> args;  // empty: the user's login shell from the container's passwd
    std::vector<std::string> env;   // K=V from -e / --env-file, applied over the defaults
    std::string user;               // "" (root), NAME or UID, optionally ":GROUP" or ":GID"
    std::string cwd;                // "" = the user's home (or / when it does not exist)
    // cwd is a wish, not a must: where the container lacks it, the user's home (distrobox keeps
    // the host's cwd where the container has it; an integrated launch from outside $HOME).
    bool cwd_or_home = false;
    bool tty = false;               // a pty from the container's devpts
    std::string term = "xterm";     // TERM inside the container
    SecuritySpec security;
    // Set (OCI): uid/gid as given, env exactly `env`, cwd required; unset: resolved from the
    // container's passwd with lxbox's clean environment.
    std::optional<ExplicitUser> explicit_user;
    std::vector<Rlimit> rlimits;
    std::optional<int> oom_score_adj;
};

struct ResourceLimits {
    std::optional<uint64_t> memory_bytes;
    std::optional<double> cpus;
    std::optional<uint64_t> pids;
};

// One line of a uid_map or gid_map: container ids [inside, inside+count) are host ids
// [outside, outside+count).
struct IdMapping {
    uint32_t inside = 0, outside = 0, count = 0;
    bool operator==(const IdMapping&) const = default;
};

// Rootless mode: the container gets a user namespace of its own, the caller mapped to its
// root and, where /etc/subuid grants a range, ids 1..N mapped to that range.
struct UserNamespaceSpec {
    bool enabled = false;
    std::vector<IdMapping> uids, gids;
    // The maps go through the setuid newuidmap/newgidmap (needed for any id but the caller's
    // own); otherwise lxbox writes them itself, and setgroups(2) is denied in the container.
    bool use_helpers = false;
    // A namespace with these maps to join instead of making one (the rootless holder,
    // runtime/linux/userns_holder.hpp): "/proc/PID/ns/user"; "" = make one.
    std::string join;
    bool operator==(const UserNamespaceSpec&) const = default;
};

// One mount of an OCI bundle, as config.json gives it.
struct MountEntry {
    std::string destination, type, source;
    std::vector<std::string> options;
};

// A namespace of an OCI bundle: a new one of `type`, or, with a path, the one it names.
struct NamespaceEntry {
    std::string type;  // pid, network, mount, ipc, uts, user, cgroup
    std::string path;
};

// A program an OCI bundle runs at a point of the container's life (runtime-spec "hooks"),
// with the container's state JSON on its stdin.
struct Hook {
    std::string path;
    std::vector<std::string> args, env;
    std::optional<int> timeout;  // seconds
};

// A device node of an OCI bundle (linux.devices), made in the container's /dev.
struct DeviceNode {
    std::string path;  // absolute, inside the container
    char type = 'c';   // 'c' character ('u' unbuffered is the same), 'b' block, 'p' fifo
    int64_t major = 0, minor = 0;
    uint32_t mode = 0666;  // permission bits
    uint32_t uid = 0, gid = 0;
};

// A container from an OCI bundle (`lxbox oci`): its root and mounts are the bundle's, used as
// they are, instead of lxbox's overlay over an image and its own /proc, /sys and /dev.
struct BundleSpec {
    std::string rootfs;  // absolute
    bool rootfs_readonly = false;
    std::string rootfs_propagation;  // "" (rprivate), private, rprivate, slave, rslave, shared, rshared
    std::vector<MountEntry> mounts;
    std::vector<NamespaceEntry> namespaces;
    std::vector<std::string> masked_paths, readonly_paths;
    std::map<std::string, std::string> sysctl;
    std::vector<DeviceNode> devices;  // made after the bundle's mounts (a /dev tmpfs among them)
    // Run by the container's process: createContainer before pivot_root (resolved on the host),
    // startContainer after `start`, just before the command (resolved in the container).
    // hook_state: the state JSON they get; the process fills in its pid.
    std::vector<Hook> create_container_hooks, start_container_hooks;
    std::string hook_state;
    // Between create and start the process waits on this fifo until `start` opens it.
    std::string exec_fifo;
    // linux.cgroupsPath ("" = lxbox's own place for the cgroup named ContainerSpec::cgroup) and
    // linux.resources as writes for either cgroup version: the host takes each controller's
    // from the version it binds that controller to.
    std::string cgroups_path;
    std::vector<cgroups::Write> cgroup_v1, cgroup_v2;
};

// A host group the user is in, by id and name.
struct HostGroup {
    gid_t gid = 0;
    std::string name;
    bool operator==(const HostGroup&) const = default;
};

// The invoking host user as the container should know them (same name, ids, groups, shell).
struct AccountSpec {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string group_name;          // the primary group's name on the host
    std::vector<HostGroup> groups;   // supplementary groups (the primary one may be among them)
    std::string home, shell;
    bool operator==(const AccountSpec&) const = default;
};

struct ContainerSpec {
    std::string name;           // the container's name (also the default hostname)
    std::string image_rootfs;   // the read-only lower layer
    // An image of several layers: every one, topmost first (image_rootfs is then the first);
    // empty for one layer. layers_dir holds their short links (l/<name>) for kernels without
    // overlayfs's lowerdir+ (before 6.8), whose mount options must fit in one page.
    std::vector<std::string> image_layers;
    std::string layers_dir;
    std::string container_dir;  // holds upper/, work/ and rootfs/ (the mount point)
    bool ephemeral = false;     // --rm: upper and work live in a tmpfs that dies with the container
    std::string hostname;       // "" = name
    std::string network = "host";  // "host" or "none" (a new net namespace with lo up)
    std::vector<BindMount> binds;
    std::string resolv_conf;    // content of the injected /etc/resolv.conf
    std::string hosts;          // content of the injected /etc/hosts; "" = localhost and the hostname
    // An integrated container (launch --integrate): the host user's account, added to the
    // container's /etc files on its start when missing (runtime/plan/accounts.hpp).
    std::optional<AccountSpec> account;
    bool gpu = false;           // /dev/dri is bound in: its nodes (major 226) pass the device cgroup
    bool init = true;           // a tiny init as PID 1 (reaps zombies, forwards signals)
    // systemd is the process, as PID 1 (init is then false): tmpfs /run and /tmp, its own
    // cgroup2 tree writable at /sys/fs/cgroup, /run/systemd/container (runtime/plan/systemd.hpp).
    bool systemd = false;
    ResourceLimits limits;
    std::string cgroup;         // cgroup name; "" = no cgroup (runtime tests)
    // Rootless: a cgroup that cannot be made (no delegation) is a warning, not a failure.
    bool cgroup_optional = false;
    UserNamespaceSpec userns;
    std::string cache_dir;      // where compiled seccomp filters are kept; "" = compile each time
    // fuse-overlayfs, to mount the root with where the kernel refuses overlayfs in a user
    // namespace (before Linux 5.11), or always with fuse_overlay_only; "" = the kernel's only.
    std::string fuse_overlay;
    bool fuse_overlay_only = false;
    ProcessSpec process;
    // Set for `lxbox oci`: image_rootfs, container_dir, network, binds and resolv_conf are
    // then unused.
    std::optional<BundleSpec> bundle;
    // The container outlives the lxbox that made it (`oci create`): no PDEATHSIG.
    bool detached = false;
    // The container is set up (mounted, pivoted, in its cgroup) and then waits for
    // Container::release() before its command runs: launch runs the distro's boot.command in it
    // first (Container::wait_held). Not for a bundle, whose exec fifo does this.
    bool hold_command = false;
};

void to_json(nlohmann::json& j, const BindMount& b);
void from_json(const nlohmann::json& j, BindMount& b);
void to_json(nlohmann::json& j, const SecuritySpec& s);
void from_json(const nlohmann::json& j, SecuritySpec& s);
void to_json(nlohmann::json& j, const ProcessSpec& p);
void from_json(const nlohmann::json& j, ProcessSpec& p);
void to_json(nlohmann::json& j, const ResourceLimits& l);
void from_json(const nlohmann::json& j, ResourceLimits& l);
void to_json(nlohmann::json& j, const IdMapping& m);
void from_json(const nlohmann::json& j, IdMapping& m);
void to_json(nlohmann::json& j, const UserNamespaceSpec& u);
void from_json(const nlohmann::json& j, UserNamespaceSpec& u);
void to_json(nlohmann::json& j, const SecuritySpec::CapabilitySets& c);
void from_json(const nlohmann::json& j, SecuritySpec::CapabilitySets& c);
void to_json(nlohmann::json& j, const ExplicitUser& u);
void from_json(const nlohmann::json& j, ExplicitUser& u);
void to_json(nlohmann::json& j, const Rlimit& r);
void from_json(const nlohmann::json& j, Rlimit& r);
void to_json(nlohmann::json& j, const MountEntry& m);
void from_json(const nlohmann::json& j, MountEntry& m);
void to_json(nlohmann::json& j, const NamespaceEntry& n);
void from_json(const nlohmann::json& j, NamespaceEntry& n);
}  // namespace lxbox::runtime
namespace lxbox::cgroups {
void to_json(nlohmann::json& j, const Write& w);
void from_json(const nlohmann::json& j, Write& w);
}  // namespace lxbox::cgroups
namespace lxbox::runtime {
void to_json(nlohmann::json& j, const Hook& h);
void from_json(const nlohmann::json& j, Hook& h);
void to_json(nlohmann::json& j, const DeviceNode& d);
void from_json(const nlohmann::json& j, DeviceNode& d);
void to_json(nlohmann::json& j, const BundleSpec& b);
void from_json(const nlohmann::json& j, BundleSpec& b);
void to_json(nlohmann::json& j, const HostGroup& g);
void from_json(const nlohmann::json& j, HostGroup& g);
void to_json(nlohmann::json& j, const AccountSpec& a);
void from_json(const nlohmann::json& j, AccountSpec& a);
void to_json(nlohmann::json& j, const ContainerSpec& s);
void from_json(const nlohmann::json& j, ContainerSpec& s);

}  // namespace lxbox::runtime
