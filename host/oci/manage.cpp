#include "host/oci/manage.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"

namespace lxbox::oci {

namespace {

using nlohmann::json;

std::optional<uint64_t> number(const std::map<std::string, std::string>& files, const std::string& name) {
    auto it = files.find(name);
    if (it == files.end()) return std::nullopt;
    const std::string& t = it->second;
    if (t.rfind("max", 0) == 0) return UINT64_MAX;  // v2's "no limit", as runc reports it
    try {
        return std::stoull(t);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<uint64_t> keyed(const std::map<std::string, std::string>& files, const std::string& name,
                              const std::string& key) {
    auto it = files.find(name);
    if (it == files.end()) return std::nullopt;
    return cgroups::detail::keyed_value(it->second, key);
}

json flat_keys(const std::string& text) {
    json out = json::object();
    std::istringstream in(text);
    std::string key;
    uint64_t value;
    while (in >> key >> value) out[key] = value;
    return out;
}

json cpu_stats(const CgroupFiles& f) {
    json usage = json::object(), throttling = json::object();
    if (auto total = number(f.v1, "cpuacct.usage")) {
        usage["total_usage"] = *total;
        // cpuacct.stat counts USER_HZ (100 per second) ticks; runc reports nanoseconds.
        usage["usage_in_kernelmode"] = keyed(f.v1, "cpuacct.stat", "system").value_or(0) * 10000000;
        usage["usage_in_usermode"] = keyed(f.v1, "cpuacct.stat", "user").value_or(0) * 10000000;
        json percpu = json::array();
        std::istringstream in(f.v1.count("cpuacct.usage_percpu") ? f.v1.at("cpuacct.usage_percpu") : "");
        for (uint64_t v; in >> v;) percpu.push_back(v);
        usage["percpu_usage"] = percpu;
    } else if (auto usec = keyed(f.v2, "cpu.stat", "usage_usec")) {
        usage["total_usage"] = *usec * 1000;
        usage["usage_in_kernelmode"] = keyed(f.v2, "cpu.stat", "system_usec").value_or(0) * 1000;
        usage["usage_in_usermode"] = keyed(f.v2, "cpu.stat", "user_usec").value_or(0) * 1000;
    }
    const bool v1 = f.v1.count("cpu.stat") != 0;
    const auto& files = v1 ? f.v1 : f.v2;
    if (files.count("cpu.stat")) {
        throttling["periods"] = keyed(files, "cpu.stat", "nr_periods").value_or(0);
        throttling["throttled_periods"] = keyed(files, "cpu.stat", "nr_throttled").value_or(0);
        throttling["throttled_time"] = v1 ? keyed(files, "cpu.stat", "throttled_time").value_or(0)
                                          : keyed(files, "cpu.stat", "throttled_usec").value_or(0) * 1000;
    }
    return {{"usage", usage}, {"throttling", throttling}};
}

json memory_entry(std::optional<uint64_t> usage, std::optional<uint64_t> max, std::optional<uint64_t> limit,
                  std::optional<uint64_t> failcnt) {
    return {{"usage", usage.value_or(0)}, {"max", max.value_or(0)}, {"limit", limit.value_or(0)},
            {"failcnt", failcnt.value_or(0)}};
}

json memory_stats(const CgroupFiles& f) {
    json m = json::object();
    if (auto usage = number(f.v1, "memory.usage_in_bytes")) {
        m["usage"] = memory_entry(usage, number(f.v1, "memory.max_usage_in_bytes"), number(f.v1, "memory.limit_in_bytes"),
                                  number(f.v1, "memory.failcnt"));
        m["swap"] = memory_entry(number(f.v1, "memory.memsw.usage_in_bytes"), number(f.v1, "memory.memsw.max_usage_in_bytes"),
                                 number(f.v1, "memory.memsw.limit_in_bytes"), number(f.v1, "memory.memsw.failcnt"));
        if (f.v1.count("memory.stat")) m["raw"] = flat_keys(f.v1.at("memory.stat"));
    } else if (auto current = number(f.v2, "memory.current")) {
        m["usage"] = memory_entry(current, number(f.v2, "memory.peak"), number(f.v2, "memory.max"),
                                  keyed(f.v2, "memory.events", "max"));
        m["swap"] = memory_entry(number(f.v2, "memory.swap.current"), std::nullopt, number(f.v2, "memory.swap.max"),
                                 std::nullopt);
        if (f.v2.count("memory.stat")) m["raw"] = flat_keys(f.v2.at("memory.stat"));
    }
    return m;
}

json pids_stats(const CgroupFiles& f) {
    const auto& files = f.v1.count("pids.current") ? f.v1 : f.v2;
    json p = json::object();
    if (auto current = number(files, "pids.current")) p["current"] = *current;
    // runc: 0 for "max"
    if (auto limit = number(files, "pids.max")) p["limit"] = *limit == UINT64_MAX ? 0 : *limit;
    return p;
}

// runc's sizes: bytes, or a number with a suffix (the launch flags' parser), or -1 for none.
Result<int64_t> size_flag(const std::string& flag, const std::string& text) {
    if (text == "-1") return int64_t{-1};
    auto bytes = cgroups::parse_memory_size(text);
    if (!bytes) return std::move(bytes).error().context("--" + flag);
    return static_cast<int64_t>(*bytes);
}

}  // namespace

const std::vector<std::string>& stats_files_v1() {
    static const std::vector<std::string> files = {
        "cpuacct.usage", "cpuacct.usage_percpu", "cpuacct.stat", "cpu.stat", "memory.usage_in_bytes",
        "memory.max_usage_in_bytes", "memory.limit_in_bytes", "memory.failcnt", "memory.memsw.usage_in_bytes",
        "memory.memsw.max_usage_in_bytes", "memory.memsw.limit_in_bytes", "memory.memsw.failcnt", "memory.stat",
        "memory.oom_control", "pids.current", "pids.max"};
    return files;
}

const std::vector<std::string>& stats_files_v2() {
    static const std::vector<std::string> files = {
        "cpu.stat", "memory.current", "memory.peak", "memory.max", "memory.events", "memory.stat",
        "memory.swap.current", "memory.swap.max", "pids.current", "pids.max"};
    return files;
}

nlohmann::json stats_json(const CgroupFiles& files) {
    return {{"cpu", cpu_stats(files)}, {"memory", memory_stats(files)}, {"pids", pids_stats(files)},
            {"blkio", json::object()}, {"hugetlb", json::object()}};
}

uint64_t oom_kills(const CgroupFiles& files) {
    if (auto n = keyed(files.v1, "memory.oom_control", "oom_kill")) return *n;
    return keyed(files.v2, "memory.events", "oom_kill").value_or(0);
}

Result<nlohmann::json> update_resources(const UpdateFlags& f) {
    json memory = json::object(), cpu = json::object(), r = json::object();
    const std::pair<const char*, const std::optional<std::string>*> sizes[] = {
        {"memory", &f.memory}, {"memory-reservation", &f.memory_reservation}, {"memory-swap", &f.memory_swap},
        {"kernel-memory", &f.kernel_memory}, {"kernel-memory-tcp", &f.kernel_memory_tcp}};
    const char* fields[] = {"limit", "reservation", "swap", "kernel", "kernelTCP"};
    for (size_t i = 0; i < std::size(sizes); ++i)
        if (*sizes[i].second) memory[fields[i]] = LXBOX_TRY(size_flag(sizes[i].first, **sizes[i].second));
    if (f.cpu_period) cpu["period"] = *f.cpu_period;
    if (f.cpu_quota) cpu["quota"] = *f.cpu_quota;
    if (f.cpu_share) cpu["shares"] = *f.cpu_share;
    if (f.cpu_rt_period) cpu["realtimePeriod"] = *f.cpu_rt_period;
    if (f.cpu_rt_runtime) cpu["realtimeRuntime"] = *f.cpu_rt_runtime;
    if (f.cpuset_cpus) cpu["cpus"] = *f.cpuset_cpus;
    if (f.cpuset_mems) cpu["mems"] = *f.cpuset_mems;
    if (!memory.empty()) r["memory"] = memory;
    if (!cpu.empty()) r["cpu"] = cpu;
    if (f.pids_limit) r["pids"] = {{"limit", *f.pids_limit}};
    if (f.blkio_weight) r["blockIO"] = {{"weight", *f.blkio_weight}};
    return r;
}

Result<int> parse_interval_ms(const std::string& text) {
    size_t end = 0;
    double value = 0;
    try {
        value = std::stod(text, &end);
    } catch (const std::exception&) {
        end = 0;
    }
    static const std::map<std::string, double> unit = {{"ns", 1e-6}, {"us", 1e-3}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    auto it = unit.find(text.substr(end));
    if (end == 0 || it == unit.end() || value <= 0)
        return Error(ErrorKind::Invalid, "--interval: expected a duration such as 5s or 100ms, got '" + text + "'");
    return std::max(1, static_cast<int>(value * it->second));
}

std::string list_table(const std::vector<ListRow>& rows) {
    std::vector<std::vector<std::string>> cells = {{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
    for (const auto& r : rows)
        cells.push_back({r.id, std::to_string(r.pid), r.status, r.bundle, r.created, r.owner});
    std::vector<size_t> width(6, 0);
    for (const auto& line : cells)
        for (size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
    std::string out;
    for (const auto& line : cells) {
        std::string text;
        for (size_t i = 0; i < line.size(); ++i) {
            text += line[i];
            // tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0): a cell is 12 wide at least, its
            // text and 3 spaces otherwise.
            if (i + 1 < line.size()) text += std::string(std::max<size_t>(12, width[i] + 3) - line[i].size(), ' ');
        }
        out += text + "\n";
    }
    return out;
}

}  // namespace lxbox::oci
