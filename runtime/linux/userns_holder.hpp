// The rootless user namespace holder, as podman's "pause process": one long-lived process per
// store that holds a user namespace with the user's rootless maps. A rootless launch joins it
// (runtime/container: an intermediate process joins, the container's init is cloned inside)
// instead of making a namespace and running the setuid newuidmap and newgidmap for its maps,
// which were most of a rootless launch's extra cost. Made on first use, made again when its
// maps are no longer the user's (/etc/subuid changed) or it is gone; `lxbox shutdown` ends it.
// Its containers share the namespace, as podman's rootless containers do; each still has its
// own mount, pid, uts and ipc namespaces.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::linux_fx {

// What the state file (STATE_DIR/userns-holder.json) says of the holder.
struct HolderRecord {
    int pid = 0;
    uint64_t start_time = 0;  // /proc/PID/stat's, in clock ticks since boot
    std::string boot_id;      // /proc/sys/kernel/random/boot_id when it was made
};

// Pure: whether the recorded holder is the one to join: this boot's, the same process (its
// start time), and holding the maps u wants.
bool holder_is_current(const HolderRecord& record, const std::string& boot_id, uint64_t start_time_now,
                       const runtime::IdMapsView& maps_now, const runtime::UserNamespaceSpec& u);

// The holder's user namespace (/proc/PID/ns/user), made (or made again) first when needed.
Result<std::string> ensure_userns_holder(const std::string& state_dir, const runtime::UserNamespaceSpec& u);

// Ends the holder of state_dir; false when none ran.
Result<bool> stop_userns_holder(const std::string& state_dir);

}  // namespace lxbox::linux_fx
