// Pure decisions for a container made from an OCI bundle (spec.bundle set): which namespaces
// to create or join, and the bundle's mounts, devices, sysctls and masks as MountOps that the
// same effects layer as lxbox's own containers carries out after pivot_root.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// The mount(2) reading of an OCI mount's options: flags, propagation, bind or rbind, and the
// rest as the filesystem's data string ("mode=755,size=65536k").
struct MountOptions {
    unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, ...
    unsigned long propagation = 0;  // MS_PRIVATE, MS_SHARED, ... | MS_REC
    bool bind = false, recursive = false;
    std::string data;
    bool operator==(const MountOptions&) const = default;
};
MountOptions parse_mount_options(const std::vector<std::string>& options);

// "network" -> CLONE_NEWNET ...; 0 for an unknown type.
int namespace_flag(const std::string& type);

// The namespaces of a bundle: `create` for clone3, `join` (flag, path) for setns in the child
// before it mounts anything. Invalid names a type that is unknown or listed twice, or a path
// that is not absolute. Without "mount" the container is set up in the caller's mount
// namespace, as runc does (runtime/container/bundle.cpp).
struct NamespacePlan {
    uint64_t create = 0;
    std::vector<std::pair<int, std::string>> join;  // entered by the child, the mount one first
    // A pid namespace is entered by the process's birth, not by setns: the parent sets its
    // pid_for_children to this path around the clone.
    std::string join_pid;
    // A user namespace to join: the namespaces made next must be owned by it, so the container's
    // init is cloned from inside it (Container::start).
    std::string join_user;
    bool has(int flag) const;  // created or joined
};
Result<NamespacePlan> plan_namespaces(const BundleSpec& bundle);

// The cgroup hierarchies of the host, as a "cgroup" mount inside the container shows them:
// v2 alone (a cgroup2 mount), or v1 hierarchies (tmpfs + one cgroup mount each, named by their
// directory) with an optional v2 one beside them (hybrid: "unified").
// Without a cgroup namespace of its own a fresh cgroup mount would show the host's whole tree;
// the container then gets binds of its own cgroup's directories instead (the *_source fields,
// host paths), as runc gives.
struct CgroupView {
    bool v2_only = false;
    std::string v2_dir;  // hybrid: the v2 mount's directory name ("unified"), "" = none
    struct V1 {
        std::string dir;      // directory name under the mount ("cpu,cpuacct")
        std::string options;  // its mount options ("cpu,cpuacct", "name=systemd")
        std::string source;   // the container's cgroup in it; "" = mount the hierarchy afresh
    };
    std::vector<V1> v1;
    std::string v2_source;  // the container's v2 cgroup; "" = mount afresh
};

// The view of the host's own cgroup mounts. own: the container's /proc/self/cgroup, read after
// it joined its cgroup, for a container without a cgroup namespace of its own; nullptr when it
// has one (fresh mounts then show its cgroup as their root).
CgroupView cgroup_view(const cgroups::CgroupMounts& mounts, const cgroups::OwnCgroups* own = nullptr);

// Everything after pivot_root: the bundle's mounts in order (directories created), the default
// devices and /dev symlinks when /dev is mounted, sysctls, masked and read-only paths, and the
// root made read-only last. userns: the container has a user namespace of its own.
std::vector<MountOp> plan_bundle_mounts(const BundleSpec& bundle, const CgroupView& cgroups, bool userns,
                                        bool new_netns);

// Checks what the kernel would otherwise reject obscurely (relative destinations, a root that
// is not absolute, unknown propagation, sysctl names with '/').
Status validate_bundle(const BundleSpec& bundle);

// "RLIMIT_NOFILE" -> RLIMIT_NOFILE; nullopt when unknown.
std::optional<int> rlimit_resource(const std::string& name);

}  // namespace lxbox::runtime
