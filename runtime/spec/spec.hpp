// The container spec: everything the runtime needs to start a container or join one, as plain
// data. It is JSON-serialisable because it will cross the VM channel unchanged (DESIGN.md):
// what travels is a spec, never a shell command string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

    bool operator==(const SecuritySpec&) const = default;
};

// The process to run inside the container (launch and exec alike).
struct ProcessSpec {
    std::vector<std::string> args;  // empty: the user's login shell from the container's passwd
    std::vector<std::string> env;   // K=V from -e / --env-file, applied over the defaults
    std::string user;               // "" (root), NAME or UID, optionally ":GROUP" or ":GID"
    std::string cwd;                // "" = the user's home (or / when it does not exist)
    bool tty = false;               // a pty from the container's devpts
    std::string term = "xterm";     // TERM inside the container
    SecuritySpec security;
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
    bool operator==(const UserNamespaceSpec&) const = default;
};

struct ContainerSpec {
    std::string name;           // the container's name (also the default hostname)
    std::string image_rootfs;   // the read-only lower layer
    std::string container_dir;  // holds upper/, work/ and rootfs/ (the mount point)
    bool ephemeral = false;     // --rm: upper and work live in a tmpfs that dies with the container
    std::string hostname;       // "" = name
    std::string network = "host";  // "host" or "none" (a new net namespace with lo up)
    std::vector<BindMount> binds;
    std::string resolv_conf;    // content of the injected /etc/resolv.conf
    bool init = true;           // a tiny init as PID 1 (reaps zombies, forwards signals)
    ResourceLimits limits;
    std::string cgroup;         // cgroup name; "" = no cgroup (runtime tests)
    // Rootless: a cgroup that cannot be made (no delegation) is a warning, not a failure.
    bool cgroup_optional = false;
    UserNamespaceSpec userns;
    std::string cache_dir;      // where compiled seccomp filters are kept; "" = compile each time
    ProcessSpec process;
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
void to_json(nlohmann::json& j, const ContainerSpec& s);
void from_json(const nlohmann::json& j, ContainerSpec& s);

}  // namespace lxbox::runtime
