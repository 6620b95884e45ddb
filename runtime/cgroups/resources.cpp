// Pure: an OCI bundle's linux.resources as cgroup v1 and v2 file writes.
#include "runtime/cgroups/resources.hpp"

namespace lxbox::cgroups {
namespace {

std::string device(int64_t major, int64_t minor) {
    return std::to_string(major) + ":" + std::to_string(minor);
}

// -1 (or any negative) is "unlimited": v1 takes -1 itself, v2 spells it "max".
std::string v1_bytes(int64_t v) { return v < 0 ? "-1" : std::to_string(v); }
std::string v2_bytes(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

Write refused(const std::string& controller, const std::string& field, const std::string& why) {
    Write w{controller, "", ""};
    w.refused = "linux.resources." + field + ": " + why;
    return w;
}

// The controller a cgroup v2 file belongs to: its name up to the first dot ("memory.high").
std::string controller_of(const std::string& file) {
    return file.substr(0, file.find('.'));
}

}  // namespace

uint64_t cpu_shares_to_weight(uint64_t shares) {
    if (shares == 0) return 0;
    if (shares < 2) shares = 2;
    if (shares > 262144) shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
    if (weight == 0) return 0;
    return 1 + ((weight - 10) * 9999) / 990;
}

std::vector<Write> plan_resources_v1(const Resources& r) {
    std::vector<Write> w;
    const auto& m = r.memory;
    // A fresh cgroup starts unlimited, so the limit goes before memory+swap (which must stay
    // >= the limit). A limit of 0 is "not set", as in runc.
    if (m.limit && *m.limit != 0) w.push_back({"memory", "memory.limit_in_bytes", v1_bytes(*m.limit)});
    if (m.swap && *m.swap != 0) w.push_back({"memory", "memory.memsw.limit_in_bytes", v1_bytes(*m.swap), true});
    if (m.reservation && *m.reservation != 0)
        w.push_back({"memory", "memory.soft_limit_in_bytes", v1_bytes(*m.reservation)});
    if (m.kernel_tcp && *m.kernel_tcp != 0)
        w.push_back({"memory", "memory.kmem.tcp.limit_in_bytes", v1_bytes(*m.kernel_tcp), true});
    if (m.swappiness) w.push_back({"memory", "memory.swappiness", std::to_string(*m.swappiness)});
    if (m.disable_oom_killer && *m.disable_oom_killer) w.push_back({"memory", "memory.oom_control", "1"});

    const auto& c = r.cpu;
    if (c.shares && *c.shares != 0) w.push_back({"cpu", "cpu.shares", std::to_string(*c.shares)});
    // The period before the quota: a fresh cgroup's quota is -1, so any period is accepted.
    if (c.period && *c.period != 0) w.push_back({"cpu", "cpu.cfs_period_us", std::to_string(*c.period)});
    if (c.quota && *c.quota != 0) w.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(*c.quota)});
    if (c.burst) w.push_back({"cpu", "cpu.cfs_burst_us", std::to_string(*c.burst)});
    if (c.realtime_period && *c.realtime_period != 0)
        w.push_back({"cpu", "cpu.rt_period_us", std::to_string(*c.realtime_period)});
    if (c.realtime_runtime && *c.realtime_runtime != 0)
        w.push_back({"cpu", "cpu.rt_runtime_us", std::to_string(*c.realtime_runtime)});
    if (c.idle) w.push_back({"cpu", "cpu.idle", std::to_string(*c.idle)});
    if (!c.cpus.empty()) w.push_back({"cpuset", "cpuset.cpus", c.cpus});
    if (!c.mems.empty()) w.push_back({"cpuset", "cpuset.mems", c.mems});

    if (r.pids_limit) w.push_back({"pids", "pids.max", *r.pids_limit > 0 ? std::to_string(*r.pids_limit) : "max"});

    const auto& b = r.block_io;
    if (b.weight) w.push_back({"blkio", "blkio.weight", std::to_string(*b.weight)});
    if (b.leaf_weight) w.push_back({"blkio", "blkio.leaf_weight", std::to_string(*b.leaf_weight)});
    for (const auto& d : b.weight_device) {
        if (d.weight) w.push_back({"blkio", "blkio.weight_device", device(d.major, d.minor) + " " + std::to_string(*d.weight)});
        if (d.leaf_weight)
            w.push_back({"blkio", "blkio.leaf_weight_device", device(d.major, d.minor) + " " + std::to_string(*d.leaf_weight)});
    }
    auto throttle = [&](const std::vector<Resources::DeviceRate>& rates, const char* file) {
        for (const auto& d : rates) w.push_back({"blkio", file, device(d.major, d.minor) + " " + std::to_string(d.rate)});
    };
    throttle(b.read_bps, "blkio.throttle.read_bps_device");
    throttle(b.write_bps, "blkio.throttle.write_bps_device");
    throttle(b.read_iops, "blkio.throttle.read_iops_device");
    throttle(b.write_iops, "blkio.throttle.write_iops_device");

    for (const auto& [size, limit] : r.hugepage_limits)
        w.push_back({"hugetlb", "hugetlb." + size + ".limit_in_bytes", std::to_string(limit)});

    if (r.network.class_id) w.push_back({"net_cls", "net_cls.classid", std::to_string(*r.network.class_id)});
    for (const auto& [iface, prio] : r.network.priorities)
        w.push_back({"net_prio", "net_prio.ifpriomap", iface + " " + std::to_string(prio)});

    for (const auto& [file, value] : r.unified) {
        std::string controller = controller_of(file);
        if (controller == "io") controller = "blkio";
        w.push_back(refused(controller, "unified." + file, "needs cgroup v2, and this host's " + controller +
                                                               " controller is on cgroup v1"));
    }
    return w;
}

std::vector<Write> plan_resources_v2(const Resources& r) {
    std::vector<Write> w;
    const auto& m = r.memory;
    const bool limited = m.limit && *m.limit > 0;
    if (m.limit && *m.limit != 0) w.push_back({"memory", "memory.max", v2_bytes(*m.limit)});
    // OCI's swap is v1's memory+swap; v2 limits swap alone (runc's conversion).
    if (m.swap && *m.swap != 0) {
        if (*m.swap < 0)
            w.push_back({"memory", "memory.swap.max", "max", true});
        else if (!limited)
            w.push_back(refused("memory", "memory.swap", "a swap limit needs a memory limit on cgroup v2"));
        else if (*m.swap < *m.limit)
            w.push_back(refused("memory", "memory.swap", "must not be less than memory.limit (it counts memory and swap)"));
        else
            w.push_back({"memory", "memory.swap.max", std::to_string(*m.swap - *m.limit), true});
    }
    if (m.reservation && *m.reservation != 0) w.push_back({"memory", "memory.low", v2_bytes(*m.reservation)});
    if (m.swappiness) w.push_back(refused("memory", "memory.swappiness", "cgroup v2 has no per-cgroup swappiness"));
    if (m.disable_oom_killer && *m.disable_oom_killer)
        w.push_back(refused("memory", "memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer"));

    const auto& c = r.cpu;
    if (c.shares && *c.shares != 0) w.push_back({"cpu", "cpu.weight", std::to_string(cpu_shares_to_weight(*c.shares))});
    const bool quota = c.quota && *c.quota != 0, period = c.period && *c.period != 0;
    if (quota || period)
        w.push_back({"cpu", "cpu.max",
                     (quota && *c.quota > 0 ? std::to_string(*c.quota) : std::string("max")) + " " +
                         std::to_string(period ? *c.period : 100000)});
    if (c.burst) w.push_back({"cpu", "cpu.max.burst", std::to_string(*c.burst)});
    if ((c.realtime_period && *c.realtime_period != 0) || (c.realtime_runtime && *c.realtime_runtime != 0))
        w.push_back(refused("cpu", "cpu.realtimeRuntime", "cgroup v2 has no realtime CPU time"));
    if (c.idle) w.push_back({"cpu", "cpu.idle", std::to_string(*c.idle)});
    if (!c.cpus.empty()) w.push_back({"cpuset", "cpuset.cpus", c.cpus});
    if (!c.mems.empty()) w.push_back({"cpuset", "cpuset.mems", c.mems});

    if (r.pids_limit) w.push_back({"pids", "pids.max", *r.pids_limit > 0 ? std::to_string(*r.pids_limit) : "max"});

    const auto& b = r.block_io;
    if (b.weight && *b.weight != 0)
        w.push_back({"io", "io.weight", "default " + std::to_string(blkio_weight_to_io_weight(*b.weight))});
    for (const auto& d : b.weight_device)
        if (d.weight && *d.weight != 0)
            w.push_back({"io", "io.weight", device(d.major, d.minor) + " " + std::to_string(blkio_weight_to_io_weight(*d.weight))});
    auto throttle = [&](const std::vector<Resources::DeviceRate>& rates, const char* key) {
        for (const auto& d : rates)
            w.push_back({"io", "io.max", device(d.major, d.minor) + " " + key + "=" + (d.rate ? std::to_string(d.rate) : "max")});
    };
    throttle(b.read_bps, "rbps");
    throttle(b.write_bps, "wbps");
    throttle(b.read_iops, "riops");
    throttle(b.write_iops, "wiops");

    for (const auto& [size, limit] : r.hugepage_limits)
        w.push_back({"hugetlb", "hugetlb." + size + ".max", std::to_string(limit)});

    if (r.network.class_id || !r.network.priorities.empty())
        w.push_back(refused("net_cls", "network", "cgroup v2 has no network controller"));

    for (const auto& [file, value] : r.unified) w.push_back({controller_of(file), file, value});
    return w;
}

}  // namespace lxbox::cgroups
