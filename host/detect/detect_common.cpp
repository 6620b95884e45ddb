// The parts of detection every OS shares: the pure parsers and decisions, and the QEMU lookup.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "host/detect/detect.hpp"

#include "runtime/store/images.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"

namespace lxbox::detect {

namespace {

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < text.size()) {
        size_t start = text.find_first_not_of(" \t\n", i);
        if (start == std::string_view::npos) break;
        size_t end = text.find_first_of(" \t\n", start);
        out.emplace_back(text.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start));
        i = end == std::string_view::npos ? text.size() : end;
    }
    return out;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
    return out;
}

// os-release values are shell words: "quoted", 'quoted' or bare; only \" \\ \$ \` escapes.
std::string unquote(std::string_view v) {
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        char q = v.front();
        v = v.substr(1, v.size() - 2);
        if (q == '\'') return std::string(v);
    }
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        out.push_back(v[i]);
    }
    return out;
}

bool is_executable(const std::filesystem::path& p) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) return false;
#ifndef _WIN32
    return ::access(p.c_str(), X_OK) == 0;
#else
    return true;
#endif
}

}  // namespace

std::string find_executable(const std::string& name, const std::string& path_env, char separator) {
    for (size_t at = 0; at <= path_env.size();) {
        size_t end = path_env.find(separator, at);
        if (end == std::string::npos) end = path_env.size();
        const std::filesystem::path dir = path_env.substr(at, end - at);
        at = end + 1;
        // An empty entry means ".", and a relative one depends on the cwd too: never run a
        // program from wherever lxbox happens to be started.
        if (dir.empty() || dir.is_relative()) continue;
        const std::filesystem::path candidate = dir / name;
        if (is_executable(candidate)) return candidate.string();
    }
    return "";
}

std::string find_on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    return find_executable(name, path ? path : "/usr/local/bin:/usr/bin:/bin", ':');
}

OsRelease parse_os_release(std::string_view text) {
    std::map<std::string, std::string> kv;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        size_t eq = line.find('=');
        if (line.empty() || line[0] == '#' || eq == std::string_view::npos) continue;
        kv[std::string(line.substr(0, eq))] = unquote(line.substr(eq + 1));
    }
    OsRelease r;
    r.pretty_name = kv.count("PRETTY_NAME") ? kv["PRETTY_NAME"] : kv["NAME"];
    r.id = kv["ID"];
    if (!kv["ID_LIKE"].empty()) r.id += (r.id.empty() ? "" : " ") + kv["ID_LIKE"];
    return r;
}

std::string normalize_arch(std::string_view arch) {
    std::string a(arch);
    std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
    if (a == "amd64" || a == "x64" || a == "x86-64") return "x86_64";
    if (a == "arm64" || a == "armv8" || a == "arm64e") return "aarch64";
    return a;
}

std::optional<std::pair<std::string, BinfmtHandler>> parse_binfmt_entry(const std::string& name,
                                                                        std::string_view text) {
    BinfmtHandler h;
    h.name = name;
    std::string magic;
    bool offset_zero = false;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string line(text.substr(pos, end - pos));
        pos = end + 1;
        if (line == "enabled") h.enabled = true;
        else if (line.starts_with("interpreter ")) h.interpreter = line.substr(12);
        else if (line.starts_with("flags: ")) h.fix_binary = line.find('F', 7) != std::string::npos;
        else if (line.starts_with("offset ")) offset_zero = line == "offset 0";
        else if (line.starts_with("magic ")) magic = line.substr(6);
    }
    // ELF: "\x7fELF", class, data (1: little-endian), ..., e_machine at bytes 18-19.
    if (!offset_zero || magic.size() < 40 || !magic.starts_with("7f454c46")) return std::nullopt;
    auto byte = [&](size_t i) { return static_cast<unsigned>(std::stoul(magic.substr(2 * i, 2), nullptr, 16)); };
    unsigned machine = 0;
    try {
        machine = byte(5) == 2 ? byte(18) << 8 | byte(19) : byte(19) << 8 | byte(18);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    std::string arch = store::arch_from_elf_machine(machine);
    if (arch.empty()) return std::nullopt;
    // A 32-bit arm handler (qemu-arm) is not aarch64's; arch_from_elf_machine already tells.
    return std::make_pair(std::move(arch), std::move(h));
}

std::vector<std::string> bootable_guest_arches(const std::string& host_arch) { return vm::guest_arches(host_arch); }

KvmFacts apply_kvm_verdict(KvmFacts probed, const std::optional<vm::KvmVerdict>& verdict,
                           const std::string& kernel_release, const std::string& qemu_version) {
    if (probed.state != KvmState::ProbeOkBootUnverified || !verdict) return probed;
    if (!vm::kvm_verdict_applies(*verdict, kernel_release, qemu_version)) {
        probed.detail += "; the remembered boot verdict is for another kernel or QEMU, ignored";
        return probed;
    }
    probed.state = verdict->hangs ? KvmState::BootHangs : KvmState::BootVerified;
    probed.detail =
        verdict->hangs
            ? "a real guest hung under KVM with this kernel and QEMU (nested KVM?): VMs use TCG"
            : "a real guest booted under KVM with this kernel and QEMU";
    return probed;
}

CgroupFacts summarize_cgroups(const cgroups::CgroupMounts& mounts, const cgroups::OwnCgroups& own,
                              const std::function<std::string(const std::string&)>& read_text,
                              const std::function<bool(const std::string&)>& writable) {
    CgroupFacts f;
    f.layout = mounts.layout == cgroups::Layout::V1       ? CgroupLayout::V1
               : mounts.layout == cgroups::Layout::V2     ? CgroupLayout::V2
               : mounts.layout == cgroups::Layout::Hybrid ? CgroupLayout::Hybrid
                                                          : CgroupLayout::None;
    f.v2_path = mounts.v2_path;
    // Our own cgroup's dir in a hierarchy, by the same rule runtime/cgroups places containers.
    auto own_dir = [&](const std::string& mountpoint, const std::string& key) -> std::string {
        auto root = mounts.roots.find(mountpoint);
        auto placed = own.find(key);
        auto dir = cgroups::dir_in_mount(mountpoint,
                                                 root == mounts.roots.end() ? "/" : root->second,
                                                 placed == own.end() ? "/" : placed->second);
        return dir ? *dir : "";
    };
    std::set<std::string> usable;
    for (const auto& [controller, mountpoint] : mounts.v1_controllers) {
        if (controller.starts_with("name=")) continue;  // named hierarchies hold no controller
        f.v1_controllers.push_back(controller);
        std::string dir = own_dir(mountpoint, controller);
        if (!dir.empty() && writable(dir)) usable.insert(controller);
    }
    if (!mounts.v2_path.empty()) {
        std::string dir = own_dir(mounts.v2_path, "");
        if (!dir.empty()) f.v2_controllers = split_words(read_text(dir + "/cgroup.controllers"));
        bool delegated = !dir.empty() && writable(dir) && writable(dir + "/cgroup.subtree_control");
        for (const auto& c : f.v2_controllers)
            if (delegated) usable.insert(c);
    }
    f.usable_controllers.assign(usable.begin(), usable.end());
    std::string v1 = "v1 hierarchies (" + join(f.v1_controllers, ", ") + ")";
    std::string v2 =
        "cgroup2 at " + f.v2_path + " (controllers: " +
        (f.v2_controllers.empty() ? std::string("none") : join(f.v2_controllers, ", ")) + ")";
    switch (f.layout) {
        case CgroupLayout::Hybrid:
            f.detail = "hybrid: " + v1 + " + " + v2;
            break;
        case CgroupLayout::V1:
            f.detail = v1;
            break;
        case CgroupLayout::V2:
            f.detail = v2;
            break;
        case CgroupLayout::None:
            f.detail = "no cgroup hierarchy mounted";
            break;
    }
    return f;
}

std::map<std::string, QemuBinary> find_qemu_binaries(const std::vector<std::string>& names,
                                                     const std::string& path_env, char separator,
                                                     const std::string& exe_suffix) {
    std::map<std::string, QemuBinary> found;
    for (const auto& name : names) {
        QemuBinary& bin = found[name];
        bin.path = find_executable(name + exe_suffix, path_env, separator);
        if (bin.path.empty()) continue;
        auto version = vm::qemu_version(bin.path);
        if (version)
            bin.version = *version;
        else
            spdlog::debug("{} --version: {}", bin.path, version.error().message);
    }
    return found;
}

}  // namespace lxbox::detect
