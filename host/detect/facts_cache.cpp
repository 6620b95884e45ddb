#include "host/detect/facts_cache.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::detect {

namespace {

// Bumped when HostFacts gains what an older lxbox's cache lacks.
constexpr int kCacheVersion = 2;  // 2: guest_arches has aarch64 on x86-64

FileStamp stamp(const std::string& path) {
    struct stat st{};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
    return {path, static_cast<long long>(st.st_size),
            static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

nlohmann::json host_key_json(const FactsKey& k) {
    return {{"kernel_release", k.kernel_release}, {"boot_id", k.boot_id}, {"uid", k.uid}, {"seccomp_mode", k.seccomp_mode}};
}

nlohmann::json vm_key_json(const FactsKey& k) {
    nlohmann::json qemu = nlohmann::json::array();
    for (const auto& [name, s] : k.qemu) qemu.push_back({name, s.path, s.size, s.mtime_ns});
    return {{"kvm_verdict", {k.kvm_verdict.path, k.kvm_verdict.size, k.kvm_verdict.mtime_ns}}, {"qemu", qemu}};
}

}  // namespace

FactsKey current_facts_key(const DetectOptions& options, bool with_vm) {
    FactsKey k;
    utsname u{};
    ::uname(&u);
    k.kernel_release = u.release;
    k.boot_id = linux_fx::boot_id();
    k.uid = static_cast<long>(::geteuid());
#ifdef __linux__
    k.seccomp_mode = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
#endif
    k.with_vm = with_vm;
    if (!with_vm) return k;
    if (!options.vm_dir.empty()) k.kvm_verdict = stamp(options.vm_dir + "/kvm-verdict.json");
    const char* path = std::getenv("PATH");
    const std::string path_env = options.path_env.value_or(path ? path : "");
    for (const char* name : {"qemu-system-x86_64", "qemu-system-aarch64"})
        k.qemu.emplace_back(name, stamp(find_executable(name, path_env, ':')));
    return k;
}

std::optional<HostFacts> cached_facts(const std::string& text, const FactsKey& key) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || j.value("version", 0) != kCacheVersion) return std::nullopt;
    auto host = j.find("host_key");
    auto vm = j.find("vm_key");
    auto facts = j.find("facts");
    if (host == j.end() || *host != host_key_json(key) || facts == j.end() || !facts->is_object()) return std::nullopt;
    if (key.with_vm && (vm == j.end() || *vm != vm_key_json(key))) return std::nullopt;
    try {
        return facts->get<HostFacts>();
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

std::string cache_text(const FactsKey& key, const HostFacts& facts) {
    return nlohmann::json{{"version", kCacheVersion}, {"host_key", host_key_json(key)}, {"vm_key", vm_key_json(key)},
                          {"facts", facts}}
               .dump() +
           "\n";
}

HostFacts detect_and_cache(const DetectOptions& options, const std::string& cache_path) {
    const FactsKey key = current_facts_key(options);
    HostFacts facts = detect_host(options);
    // Only what the backend decision reads is kept: each launch parses this file, and the rest
    // (cgroups, seccomp, ids, sysctls) is doctor's, which always probes afresh. binfmt_misc
    // handlers are read afresh by whoever needs them (binfmt_handlers).
    HostFacts kept = facts;
    kept.binfmt.clear();
    kept.cgroup = {};
    kept.seccomp = {};
    kept.rootless_ids = {};
    kept.userns_sysctls = {};
    kept.distro.clear();
    const std::string dir = cache_path.substr(0, cache_path.rfind('/'));
    ::mkdir(dir.c_str(), 0700);
    // A cache: failing to keep it costs the next command the detection again.
    if (auto st = write_file_atomic(cache_path, cache_text(key, kept), Durability::RenameOnly); !st)
        spdlog::debug("host facts cache {}: {}", cache_path, st.error().message);
    return facts;
}

HostFacts cached_host_facts(const DetectOptions& options, const std::string& cache_path, bool with_vm) {
    if (auto text = read_file(cache_path)) {
        if (auto facts = cached_facts(*text, current_facts_key(options, with_vm))) return std::move(*facts);
        spdlog::debug("host facts cache {}: stale (kernel, boot, user, KVM verdict or QEMU changed)", cache_path);
    }
    return detect_and_cache(options, cache_path);
}

}  // namespace lxbox::detect
