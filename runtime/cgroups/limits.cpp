// Pure: resource limits as cgroup file writes, and the parsing of --memory / --cpus.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "runtime/cgroups/cgroup.hpp"

namespace lxbox::cgroups {
namespace {

// The CFS bandwidth period: the kernel's default (100 ms), what docker and runc use.
constexpr uint64_t kCpuPeriodUs = 100000;
// The kernel refuses a quota under 1 ms (EINVAL), so tiny --cpus values round up to it.
constexpr uint64_t kMinCpuQuotaUs = 1000;
// Far beyond any machine, and small enough that quota in µs never overflows.
constexpr double kMaxCpus = 1e6;

uint64_t cpu_quota_us(double cpus) {
    // Rounded half up by hand (cpus > 0): std::llround would make lxbox load libm at every start.
    auto q = static_cast<uint64_t>(cpus * static_cast<double>(kCpuPeriodUs) + 0.5);
    return q < kMinCpuQuotaUs ? kMinCpuQuotaUs : q;
}

}  // namespace

std::vector<Write> plan_limits_v2(const Limits& l) {
    std::vector<Write> w;
    if (l.memory_bytes) {
        w.push_back({"memory", "memory.max", std::to_string(*l.memory_bytes)});
        // No swap on top of the limit, or a container "limited" to 32 MiB swaps instead of
        // being OOM-killed. Absent without swap accounting (CONFIG_MEMCG_SWAP off).
        w.push_back({"memory", "memory.swap.max", "0", true});
    }
    if (l.cpus)
        w.push_back({"cpu", "cpu.max",
                     std::to_string(cpu_quota_us(*l.cpus)) + " " + std::to_string(kCpuPeriodUs)});
    if (l.pids) w.push_back({"pids", "pids.max", std::to_string(*l.pids)});
    for (auto& d : plan_devices_v2(l.devices)) w.push_back(std::move(d));
    return w;
}

std::vector<Write> plan_limits_v1(const Limits& l) {
    std::vector<Write> w;
    if (l.memory_bytes) {
        // memsw (memory+swap) must stay >= limit_in_bytes, so the limit goes first; equal
        // values mean no swap. memsw is absent when the kernel has no swap accounting.
        w.push_back({"memory", "memory.limit_in_bytes", std::to_string(*l.memory_bytes)});
        w.push_back(
            {"memory", "memory.memsw.limit_in_bytes", std::to_string(*l.memory_bytes), true});
    }
    if (l.cpus) {
        // The period first: a fresh cgroup has quota -1 (unlimited), so any period is accepted.
        w.push_back({"cpu", "cpu.cfs_period_us", std::to_string(kCpuPeriodUs)});
        w.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(cpu_quota_us(*l.cpus))});
    }
    if (l.pids) w.push_back({"pids", "pids.max", std::to_string(*l.pids)});
    for (auto& d : plan_devices_v1(l.devices)) w.push_back(std::move(d));
    return w;
}

Status validate_limits(const Limits& l) {
    if (l.cpus && !(std::isfinite(*l.cpus) && *l.cpus > 0 && *l.cpus <= kMaxCpus))
        return Error(ErrorKind::Invalid,
                     "cpus must be a number greater than 0, got " + std::to_string(*l.cpus));
    // A zero limit would kill or freeze the container at its first step: surely a mistake.
    if (l.memory_bytes && *l.memory_bytes == 0)
        return Error(ErrorKind::Invalid, "memory limit must be greater than 0");
    if (l.pids && *l.pids == 0)
        return Error(ErrorKind::Invalid, "pids limit must be greater than 0");
    return {};
}

Result<uint64_t> parse_memory_size(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error(ErrorKind::Invalid, "invalid memory size '" + std::string(text) + "': " + why);
    };
    size_t i = 0;
    unsigned __int128 whole = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        whole = whole * 10 + static_cast<unsigned>(text[i++] - '0');
        if (whole > UINT64_MAX) return bad("too large");
    }
    if (i == 0) return bad("expected a number such as 512M or 1.5G");
    // The fraction is kept exact (digits and a power of ten) so "1.5g" is 1610612736, not a
    // double's approximation of it.
    unsigned __int128 frac = 0, frac_scale = 1;
    if (i < text.size() && text[i] == '.') {
        ++i;
        size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (frac_scale < static_cast<unsigned __int128>(1e18)) {
                frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
                frac_scale *= 10;
            }
            ++i;
        }
        if (i == start) return bad("expected digits after '.'");
    }
    uint64_t mult = 1;
    if (i < text.size()) {
        switch (text[i] | 0x20) {  // ASCII lower case
            case 'b':
                mult = 1;
                break;
            case 'k':
                mult = 1ull << 10;
                break;
            case 'm':
                mult = 1ull << 20;
                break;
            case 'g':
                mult = 1ull << 30;
                break;
            case 't':
                mult = 1ull << 40;
                break;
            default:
                return bad("unknown unit (use b, k, m, g or t)");
        }
        bool bytes_unit = (text[i] | 0x20) == 'b';
        ++i;
        // Accept docker's spellings: 512m, 512mb, 512MiB.
        if (!bytes_unit && i < text.size() && (text[i] | 0x20) == 'i') ++i;
        if (!bytes_unit && i < text.size() && (text[i] | 0x20) == 'b') ++i;
    }
    if (i != text.size()) return bad("unexpected '" + std::string(text.substr(i)) + "'");
    unsigned __int128 bytes = whole * mult + frac * mult / frac_scale;
    if (bytes > UINT64_MAX) return bad("too large");
    if (frac != 0 && mult == 1) return bad("a number of bytes must be whole");
    if (bytes == 0) return bad("must be greater than 0");
    return static_cast<uint64_t>(bytes);
}

Result<double> parse_cpus(std::string_view text) {
    std::string s(text);
    char* end = nullptr;
    errno = 0;
    double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 ||
        std::isspace(static_cast<unsigned char>(s[0])))
        return Error(ErrorKind::Invalid,
                     "invalid cpus '" + s + "': expected a number such as 0.5 or 2");
    Limits l;
    l.cpus = v;
    LXBOX_TRY(validate_limits(l));
    return v;
}

}  // namespace lxbox::cgroups
