// HostFacts remembered between commands ($LXBOX_ROOT/cache/host-facts.json): detecting them
// for real takes a few hundred ms (probe children, `qemu-system-* --version`), a launch takes
// ~11 ms, and the decision needs them on every launch. The cache holds while its key does: the
// kernel release, the boot, the user, lxbox's own seccomp mode (a filtered parent hides user
// namespaces), the remembered KVM verdict, and each QEMU binary's path, size and mtime (an
// upgrade or an install changes them). `lxbox doctor` always probes afresh and rewrites it.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "host/detect/detect.hpp"

namespace lxbox::detect {

// A file as the key sees it: where it is, its size and mtime ("" path: not found).
struct FileStamp {
    std::string path;
    long long size = 0, mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

// What the cached facts depend on: the host part (what every decision reads) and the VM part
// (QEMU and the KVM verdict), which only a decision that considers the VM depends on: a launch
// that runs natively skips its PATH walk (~26 syscalls, 40 of the decision's 84 us measured).
struct FactsKey {
    std::string kernel_release, boot_id;
    long uid = -1;
    int seccomp_mode = -1;
    bool with_vm = true;  // the VM part below was taken (and is compared)
    FileStamp kvm_verdict;
    std::vector<std::pair<std::string, FileStamp>> qemu;  // qemu-system-* name → the one on PATH
    bool operator==(const FactsKey&) const = default;
};

// This host's key now: a uname, boot_id, and with_vm a PATH walk for the QEMU binaries and a
// stat of the KVM verdict.
FactsKey current_facts_key(const DetectOptions& options, bool with_vm = true);

// Pure: the facts a cache file's text holds when they were detected under `key` (its VM part
// compared only when key.with_vm); nullopt for another key, a torn or foreign file.
std::optional<HostFacts> cached_facts(const std::string& text, const FactsKey& key);
// Pure: the cache file's text.
std::string cache_text(const FactsKey& key, const HostFacts& facts);

// The facts, from the cache at cache_path when its key still holds, else detected for real
// (detect_host) and written there atomically. A cache that cannot be written costs the next
// command the detection again, nothing else.
// with_vm false: the VM part of the key is not checked (the caller's decision must not depend on
// QEMU or KVM; host/launch/decide.cpp checks again with it when the decision considers the VM).
HostFacts cached_host_facts(const DetectOptions& options, const std::string& cache_path, bool with_vm = true);

// detect_host(), always afresh (doctor), and the cache rewritten with what it found.
HostFacts detect_and_cache(const DetectOptions& options, const std::string& cache_path);

}  // namespace lxbox::detect
