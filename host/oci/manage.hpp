// The pure parts of `lxbox oci`'s runc verbs beyond the lifecycle: `events` (runc's stats
// JSON from a cgroup's files, v1 or v2), `update` (runc's flags as a linux.resources object),
// and `list` (runc's table).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"

namespace lxbox::oci {

// A container's cgroup files by name, as read: those of v1 hierarchies and those of the v2 one
// apart (both have a cpu.stat).
struct CgroupFiles {
    std::map<std::string, std::string> v1, v2;
};
// The files stats_json reads, in each version.
const std::vector<std::string>& stats_files_v1();
const std::vector<std::string>& stats_files_v2();

// runc's types.Stats ("data" of `runc events --stats`): cpu, memory, pids, each from the
// version that has its controller (v1 first: on a hybrid host the controllers are there).
nlohmann::json stats_json(const CgroupFiles& files);
// The OOM kills the cgroup counted so far (v2 memory.events, v1 memory.oom_control).
uint64_t oom_kills(const CgroupFiles& files);

// runc update's flags; unset ones are left as they are.
struct UpdateFlags {
    std::optional<std::string> memory, memory_reservation, memory_swap, kernel_memory, kernel_memory_tcp;
    std::optional<uint64_t> cpu_period, cpu_share, cpu_rt_period, blkio_weight;
    std::optional<int64_t> cpu_quota, cpu_rt_runtime, pids_limit;
    std::optional<std::string> cpuset_cpus, cpuset_mems;
};
// The flags as a linux.resources object (sizes as launch's --memory takes them, "-1" for no
// limit); Invalid naming the flag otherwise.
Result<nlohmann::json> update_resources(const UpdateFlags& flags);

// events --interval (Go's time.ParseDuration for what runc takes: 5s, 100ms, 1m) in ms.
Result<int> parse_interval_ms(const std::string& text);

// One line of `list`.
struct ListRow {
    std::string id, status, bundle, created, owner;
    int pid = 0;  // 0 once stopped, as runc shows it
};
// runc list's table, column for column as Go's tabwriter pads it.
std::string list_table(const std::vector<ListRow>& rows);

}  // namespace lxbox::oci
