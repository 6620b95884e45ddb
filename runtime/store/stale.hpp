// Names of in-progress work in the store, so that leftovers of a killed lxbox can be told
// from work a live lxbox is still doing. A pid alone can be reused: the owner is identified by
// pid + process start time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace lxbox::store {

struct WorkOwner {
    pid_t pid = 0;
    uint64_t start_time = 0;
};

// ".import-<pid>-<start>-<name>" (pure).
std::string work_dir_name(const std::string& kind, const WorkOwner& owner, const std::string& name);
// Parses a name made by work_dir_name; nullopt for anything else (pure).
std::optional<WorkOwner> parse_work_dir_name(const std::string& dir_name);
// The calling process as an owner.
WorkOwner self_owner();
// True when the owner process is still alive.
bool owner_alive(const WorkOwner& owner);

}  // namespace lxbox::store
