// An OCI bundle's linux.resources (runtime-spec config-linux.md) as plain data, and the pure
// planners that turn it into cgroup file writes for v1 and for v2, following runc's and crun's
// conversions where v2 has no file of the same meaning (cpu.shares → cpu.weight, blkio weight →
// io.weight, swap as memory+swap → memory.swap.max).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/cgroups/write.hpp"

namespace lxbox::cgroups {

struct Resources {
    struct Memory {
        std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;  // bytes, -1 = unlimited
        std::optional<uint64_t> swappiness;
        std::optional<bool> disable_oom_killer, use_hierarchy;
    } memory;
    struct Cpu {
        std::optional<uint64_t> shares, period, realtime_period, burst;
        std::optional<int64_t> quota, realtime_runtime, idle;
        std::string cpus, mems;  // cpuset lists, "" = inherited
    } cpu;
    std::optional<int64_t> pids_limit;  // <= 0 = unlimited
    struct DeviceWeight {
        int64_t major = 0, minor = 0;
        std::optional<uint16_t> weight, leaf_weight;
    };
    struct DeviceRate {
        int64_t major = 0, minor = 0;
        uint64_t rate = 0;
    };
    struct BlockIo {
        std::optional<uint16_t> weight, leaf_weight;
        std::vector<DeviceWeight> weight_device;
        std::vector<DeviceRate> read_bps, write_bps, read_iops, write_iops;
    } block_io;
    std::map<std::string, uint64_t> hugepage_limits;  // page size ("2MB") → bytes
    struct Network {
        std::optional<uint32_t> class_id;
        std::map<std::string, uint32_t> priorities;  // interface → priority
    } network;
    std::map<std::string, std::string> unified;  // v2 file → value
};

// The writes of each cgroup version. A controller's writes carry that version's controller
// name (v1 "blkio" is v2 "io"). A value with no meaning in that version (realtime CPU time on
// v2, "unified" on v1) becomes a refused write naming the field: the cgroup is refused only
// where the host would need it. Fields the kernel dropped (kernel memory, ignored since Linux
// 5.16) are left out, as runc does.
std::vector<Write> plan_resources_v1(const Resources& r);
std::vector<Write> plan_resources_v2(const Resources& r);

// The cgroup v2 equivalents runc and crun use: shares 2..262144 → weight 1..10000, and blkio
// weight 10..1000 → io.weight 1..10000.
uint64_t cpu_shares_to_weight(uint64_t shares);
uint64_t blkio_weight_to_io_weight(uint64_t weight);

}  // namespace lxbox::cgroups
