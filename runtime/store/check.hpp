// `lxbox check`: the store's health, and what can be repaired safely. plan_check() is the pure
// decision over what was seen (CheckInput); check_store() gathers that under the registry and
// config locks and carries out the repairs while still holding them.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/base/error.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::store {

// An entry of a store folder; owner_alive is set for in-progress work names (".import-<pid>-
// <start>-<name>", work_dir_name) and says whether their process still runs.
struct FolderEntry {
    std::string name;
    std::optional<bool> owner_alive;
};

// A registered container as seen on disk.
struct ContainerFacts {
    bool busy = false;         // its lock is held (a launch runs it or is starting it) or its instance is alive
    bool stale_state = false;  // state.json names a process that is gone, or cannot be parsed
    std::vector<std::string> temp_files;  // "state.json.tmp.*" in its dir
};

struct CheckInput {
    std::string root;
    std::optional<std::string> registry_error;  // set when registry.json does not parse
    Registry registry;
    // Entries of images/, containers/, layers/sha256/ and tmp/ (keys are those folder names).
    std::map<std::string, std::vector<FolderEntry>> folders;
    std::vector<std::string> root_temps;  // "registry.json.tmp.*", "config.json.tmp.*" in the root
    std::map<std::string, ContainerFacts> containers;  // by registered container name
    // The lxbox cgroups of this store ("lxbox-<store id>-<container dir entry>"), and the prefix;
    // owner_alive for those of a work-named entry (a --rm container's).
    std::string cgroup_prefix;
    std::vector<FolderEntry> cgroups;
    // Mount points below the root (/proc/self/mountinfo); owner_alive as for cgroups, by the
    // containers/ entry they are in.
    std::vector<FolderEntry> mounts;
};

enum class Repair { None, RemoveTree, RemoveFile, RemoveCgroup, Unmount, ClearState };

struct Finding {
    std::string kind;    // "stale-work", "unregistered-dir", "temp-file", "orphan-cgroup", ...
    std::string target;  // a path, or a cgroup name
    std::string detail;  // one sentence
    Repair repair = Repair::None;
    // Filled by check_store():
    bool repaired = false;
    std::string error;  // why a repair failed
};

// Pure: what is wrong with the store and what may be done about it. Nothing is planned that
// could take a live object: work of a live owner, a busy container's state, cgroup or mounts.
// When the registry does not parse, nothing is judged by it (every dir would look unregistered):
// only the registry itself is reported, and owner-named work of dead processes.
std::vector<Finding> plan_check(const CheckInput& in);

// True when nothing is left to fix: every finding repaired.
bool healthy(const std::vector<Finding>& findings);

// What the store cannot see itself: the container cgroups (host side names them).
struct CgroupAccess {
    std::string prefix;                                            // "lxbox-<store id>-"
    std::function<Result<std::vector<std::string>>()> list;        // groups with that prefix
    std::function<Status(const std::string& name)> remove;         // kill what is left, rmdir
};

// Gathers the input under the registry lock (exclusive) and the config lock, plans, and unless
// dry_run carries out the repairs before releasing them.
Result<std::vector<Finding>> check_store(Store& store, const CgroupAccess& cgroups, bool dry_run);

void to_json(nlohmann::json& j, const Finding& f);

}  // namespace lxbox::store
