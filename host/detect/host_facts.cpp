#include "host/detect/host_facts.hpp"

#include <nlohmann/json.hpp>

namespace lxbox::detect {

namespace {

// One table per enum keeps to_string and from_string from drifting apart.
template <class E, size_t N>
const char* name_of(const std::pair<E, const char*> (&table)[N], E value) {
    for (const auto& [e, name] : table)
        if (e == value) return name;
    return "unknown";
}

template <class E, size_t N>
E value_of(const std::pair<E, const char*> (&table)[N], const std::string& name, E fallback) {
    for (const auto& [e, n] : table)
        if (name == n) return e;
    return fallback;
}

const std::pair<HostOs, const char*> kOsNames[] = {{HostOs::Linux, "linux"},
                                                   {HostOs::Darwin, "darwin"},
                                                   {HostOs::Windows, "windows"},
                                                   {HostOs::Unknown, "unknown"}};
const std::pair<CgroupLayout, const char*> kLayoutNames[] = {{CgroupLayout::None, "none"},
                                                             {CgroupLayout::V1, "v1"},
                                                             {CgroupLayout::V2, "v2"},
                                                             {CgroupLayout::Hybrid, "hybrid"}};
const std::pair<KvmState, const char*> kKvmNames[] = {
    {KvmState::Absent, "absent"},
    {KvmState::NoAccess, "no-access"},
    {KvmState::ProbeFailed, "probe-failed"},
    {KvmState::ProbeOkBootUnverified, "probe-ok-boot-unverified"},
    {KvmState::BootVerified, "boot-verified"},
    {KvmState::BootHangs, "boot-hangs"},
};

}  // namespace

const char* to_string(HostOs os) {
    return name_of(kOsNames, os);
}
const char* to_string(CgroupLayout layout) {
    return name_of(kLayoutNames, layout);
}
const char* to_string(KvmState state) {
    return name_of(kKvmNames, state);
}
HostOs host_os_from_string(const std::string& s) {
    return value_of(kOsNames, s, HostOs::Unknown);
}
CgroupLayout cgroup_layout_from_string(const std::string& s) {
    return value_of(kLayoutNames, s, CgroupLayout::None);
}
KvmState kvm_state_from_string(const std::string& s) {
    return value_of(kKvmNames, s, KvmState::Absent);
}

std::string qemu_binary_for(const std::string& arch) {
    return "qemu-system-" + arch;
}

void to_json(nlohmann::json& j, const ProbeResult& v) {
    j = {{"ok", v.ok}, {"reason", v.reason}};
}
void from_json(const nlohmann::json& j, ProbeResult& v) {
    v.ok = j.value("ok", false);
    v.reason = j.value("reason", "");
}

void to_json(nlohmann::json& j, const UsernsSysctls& v) {
    j = {{"unprivileged_userns_clone", v.unprivileged_userns_clone},
         {"max_user_namespaces", v.max_user_namespaces}};
}
void from_json(const nlohmann::json& j, UsernsSysctls& v) {
    v.unprivileged_userns_clone = j.value("unprivileged_userns_clone", -1L);
    v.max_user_namespaces = j.value("max_user_namespaces", -1L);
}

void to_json(nlohmann::json& j, const RootlessIds& v) {
    j = {{"subuids", v.subuids}, {"subgids", v.subgids}, {"helpers", v.helpers}, {"user", v.user}};
}
void from_json(const nlohmann::json& j, RootlessIds& v) {
    v.subuids = j.value("subuids", uint64_t{0});
    v.subgids = j.value("subgids", uint64_t{0});
    v.helpers = j.value("helpers", false);
    v.user = j.value("user", "");
}

void to_json(nlohmann::json& j, const CgroupFacts& v) {
    j = {{"layout", to_string(v.layout)},
         {"v2_path", v.v2_path},
         {"v1_controllers", v.v1_controllers},
         {"v2_controllers", v.v2_controllers},
         {"usable_controllers", v.usable_controllers},
         {"detail", v.detail}};
}
void from_json(const nlohmann::json& j, CgroupFacts& v) {
    v.layout = cgroup_layout_from_string(j.value("layout", "none"));
    v.v2_path = j.value("v2_path", "");
    v.v1_controllers = j.value("v1_controllers", std::vector<std::string>{});
    v.v2_controllers = j.value("v2_controllers", std::vector<std::string>{});
    v.usable_controllers = j.value("usable_controllers", std::vector<std::string>{});
    v.detail = j.value("detail", "");
}

void to_json(nlohmann::json& j, const OverlayFacts& v) {
    j = {{"supported", v.supported},
         {"in_userns", v.in_userns},
         {"reason", v.reason},
         {"userns_reason", v.userns_reason},
         {"fuse_program", v.fuse_program},
         {"fuse_device", v.fuse_device},
         {"fuse_reason", v.fuse_reason}};
}
void from_json(const nlohmann::json& j, OverlayFacts& v) {
    v.supported = j.value("supported", false);
    v.in_userns = j.value("in_userns", false);
    v.reason = j.value("reason", "");
    v.userns_reason = j.value("userns_reason", "");
    v.fuse_program = j.value("fuse_program", "");
    v.fuse_device = j.value("fuse_device", false);
    v.fuse_reason = j.value("fuse_reason", "");
}

void to_json(nlohmann::json& j, const SeccompFacts& v) {
    j = {{"supported", v.supported}, {"current_mode", v.current_mode}, {"reason", v.reason}};
}
void from_json(const nlohmann::json& j, SeccompFacts& v) {
    v.supported = j.value("supported", false);
    v.current_mode = j.value("current_mode", -1);
    v.reason = j.value("reason", "");
}

void to_json(nlohmann::json& j, const KvmFacts& v) {
    j = {{"state", to_string(v.state)}, {"api_version", v.api_version}, {"detail", v.detail}};
}
void from_json(const nlohmann::json& j, KvmFacts& v) {
    v.state = kvm_state_from_string(j.value("state", "absent"));
    v.api_version = j.value("api_version", 0);
    v.detail = j.value("detail", "");
}

void to_json(nlohmann::json& j, const QemuBinary& v) {
    j = {{"path", v.path}, {"version", v.version}};
}
void from_json(const nlohmann::json& j, QemuBinary& v) {
    v.path = j.value("path", "");
    v.version = j.value("version", "");
}

void to_json(nlohmann::json& j, const BinfmtHandler& v) {
    j = {{"name", v.name}, {"interpreter", v.interpreter}, {"enabled", v.enabled}, {"fix_binary", v.fix_binary}};
}
void from_json(const nlohmann::json& j, BinfmtHandler& v) {
    v.name = j.value("name", "");
    v.interpreter = j.value("interpreter", "");
    v.enabled = j.value("enabled", false);
    v.fix_binary = j.value("fix_binary", false);
}

void to_json(nlohmann::json& j, const HostFacts& v) {
    j = {{"os", to_string(v.os)},
         {"kernel_release", v.kernel_release},
         {"arch", v.arch},
         {"distro", v.distro},
         {"distro_id", v.distro_id},
         {"is_root", v.is_root},
         {"uid", v.uid},
         {"namespaces", v.namespaces},
         {"userns_sysctls", v.userns_sysctls},
         {"rootless_ids", v.rootless_ids},
         {"cgroup", v.cgroup},
         {"overlay", v.overlay},
         {"seccomp", v.seccomp},
         {"kvm", v.kvm},
         {"hvf_supported", v.hvf_supported},
         {"whpx_supported", v.whpx_supported},
         {"qemu", v.qemu},
         {"guest_arches", v.guest_arches},
         {"binfmt", v.binfmt}};
}

void from_json(const nlohmann::json& j, HostFacts& v) {
    v.os = host_os_from_string(j.value("os", "unknown"));
    v.kernel_release = j.value("kernel_release", "");
    v.arch = j.value("arch", "");
    v.distro = j.value("distro", "");
    v.distro_id = j.value("distro_id", "");
    v.is_root = j.value("is_root", false);
    v.uid = j.value("uid", -1L);
    v.namespaces = j.value("namespaces", std::map<std::string, ProbeResult>{});
    v.userns_sysctls = j.value("userns_sysctls", UsernsSysctls{});
    v.rootless_ids = j.value("rootless_ids", RootlessIds{});
    v.cgroup = j.value("cgroup", CgroupFacts{});
    v.overlay = j.value("overlay", OverlayFacts{});
    v.seccomp = j.value("seccomp", SeccompFacts{});
    v.kvm = j.value("kvm", KvmFacts{});
    v.hvf_supported = j.value("hvf_supported", false);
    v.whpx_supported = j.value("whpx_supported", false);
    v.qemu = j.value("qemu", std::map<std::string, QemuBinary>{});
    v.guest_arches = j.value("guest_arches", std::vector<std::string>{});
    v.binfmt = j.value("binfmt", std::map<std::string, BinfmtHandler>{});
}

}  // namespace lxbox::detect
