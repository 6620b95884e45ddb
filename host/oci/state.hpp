// `lxbox oci`'s record of each container it made, under --root (runc's layout: one directory
// per container id holding state.json and, until `start`, the exec fifo). The decisions (id
// rules, status, the spec's state JSON, signal names) are pure; the rest reads and writes files.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/oci/config.hpp"

namespace lxbox::oci {

// What lxbox keeps about a container between `create` and `delete`.
struct Record {
    std::string oci_version;
    std::string id;
    pid_t pid = 0;
    uint64_t start_time = 0;  // /proc/PID/stat field 22: the pid is ours only while it matches
    std::string bundle;
    std::string created;      // RFC 3339, UTC
    std::map<std::string, std::string> annotations;
    std::string cgroup;       // lxbox's cgroup name ("" = none)
    std::vector<std::string> cgroup_paths;  // its directory in each hierarchy
    int namespaces = 0;       // CLONE_NEW* the container has of its own (for exec)
    // A container without a mount namespace of its own: its root's bind in the caller's
    // namespace (path, mount id), detached by `delete` with everything mounted under it.
    std::string root_mount;
    uint64_t root_mount_id = 0;
    bool userns = false;
    std::vector<runtime::oci::Hook> poststart, poststop;
    // linux.resources as applied (the bundle's, then each `update` merged over them; devices
    // left out): what a later update keeps of what it does not change (v2's cpu.max takes
    // quota and period together), and what `state` shows. null: none.
    nlohmann::json resources;
};
void to_json(nlohmann::json& j, const Record& r);
void from_json(const nlohmann::json& j, Record& r);

enum class RunState { Created, Running, Paused, Stopped };
const char* status_name(RunState s);

// A process as /proc/PID/stat shows it (linux_fx::proc_stat).
struct ProcessFacts {
    bool exists = false;
    char state = 0;           // R, S, D, Z, ...
    uint64_t start_time = 0;
};

// Created while the process waits on the exec fifo, running once it went past it, stopped when
// it is gone, a zombie, or another process now has its pid.
RunState status_of(const Record& r, const ProcessFacts& facts, bool fifo_exists);

// The state as runtime-spec defines it: ociVersion, id, status, pid (created/running only),
// bundle, annotations.
nlohmann::json state_json(const Record& r, RunState s);

// The resources a container has after an update: the update's linux.resources object merged
// over the applied ones (RFC 7396: what it names replaces, what it leaves out stays), devices
// left out (`update` does not change them). Pure.
nlohmann::json merged_resources(const nlohmann::json& applied, const nlohmann::json& update);

// runc's rule for ids: [A-Za-z0-9_+.-]+, not "." or "..".
Status validate_id(const std::string& id);

// "TERM", "SIGTERM", "15", "sigkill" -> the number; Invalid otherwise.
Result<int> parse_signal(const std::string& text);

// The state directories, rooted at --root.
class StateDir {
  public:
    explicit StateDir(std::string root) : root_(std::move(root)) {}
    // The default root: /run/lxbox/oci for root, $XDG_RUNTIME_DIR/lxbox/oci otherwise, and
    // without one /tmp/lxbox-UID/oci, where /tmp/lxbox-UID is made 0700 or, when it is there,
    // used only if it is a directory (not a link) of this user's that no one else can write:
    // in /tmp anyone may make it first and plant states there. Refused otherwise, naming it.
    static Result<std::string> default_root();

    const std::string& root() const { return root_; }
    std::string dir(const std::string& id) const { return root_ + "/" + id; }
    std::string fifo(const std::string& id) const { return dir(id) + "/exec.fifo"; }

    // Makes the container's directory; AlreadyExists when the id is taken.
    Status claim(const std::string& id) const;
    Result<Record> load(const std::string& id) const;
    Status save(const Record& r) const;
    Status remove(const std::string& id) const;
    std::vector<std::string> ids() const;
    // An exclusive flock on the container's directory, held for the handle's lifetime.
    Result<UniqueFd> lock(const std::string& id) const;

    // The record and its status as the system shows it now.
    Result<std::pair<Record, RunState>> current(const std::string& id) const;

  private:
    std::string root_;
};

ProcessFacts process_facts(pid_t pid);

}  // namespace lxbox::oci
