#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

namespace {

template <class T>
void get_opt(const nlohmann::json& j, const char* key, T& out) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

template <class T>
void put_opt(nlohmann::json& j, const char* key, const std::optional<T>& v) {
    j[key] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

template <class T>
void get_optional(const nlohmann::json& j, const char* key, std::optional<T>& out) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}

}  // namespace

void to_json(nlohmann::json& j, const BindMount& b) {
    j = {{"source", b.source}, {"target", b.target}, {"readonly", b.readonly}};
}
void from_json(const nlohmann::json& j, BindMount& b) {
    get_opt(j, "source", b.source);
    get_opt(j, "target", b.target);
    get_opt(j, "readonly", b.readonly);
}

void to_json(nlohmann::json& j, const SecuritySpec& s) {
    j = {{"privileged", s.privileged}, {"cap_add", s.cap_add},           {"cap_drop", s.cap_drop},
         {"seccomp", s.seccomp},       {"seccomp_profile", s.seccomp_profile}};
}
void from_json(const nlohmann::json& j, SecuritySpec& s) {
    get_opt(j, "privileged", s.privileged);
    get_opt(j, "cap_add", s.cap_add);
    get_opt(j, "cap_drop", s.cap_drop);
    get_opt(j, "seccomp", s.seccomp);
    get_opt(j, "seccomp_profile", s.seccomp_profile);
}

void to_json(nlohmann::json& j, const ProcessSpec& p) {
    j = {{"args", p.args}, {"env", p.env},   {"user", p.user},        {"cwd", p.cwd},
         {"tty", p.tty},   {"term", p.term}, {"security", p.security}};
}
void from_json(const nlohmann::json& j, ProcessSpec& p) {
    get_opt(j, "args", p.args);
    get_opt(j, "env", p.env);
    get_opt(j, "user", p.user);
    get_opt(j, "cwd", p.cwd);
    get_opt(j, "tty", p.tty);
    get_opt(j, "term", p.term);
    get_opt(j, "security", p.security);
}

void to_json(nlohmann::json& j, const ResourceLimits& l) {
    j = nlohmann::json::object();
    put_opt(j, "memory_bytes", l.memory_bytes);
    put_opt(j, "cpus", l.cpus);
    put_opt(j, "pids", l.pids);
}
void from_json(const nlohmann::json& j, ResourceLimits& l) {
    get_optional(j, "memory_bytes", l.memory_bytes);
    get_optional(j, "cpus", l.cpus);
    get_optional(j, "pids", l.pids);
}

void to_json(nlohmann::json& j, const IdMapping& m) {
    j = {{"inside", m.inside}, {"outside", m.outside}, {"count", m.count}};
}
void from_json(const nlohmann::json& j, IdMapping& m) {
    get_opt(j, "inside", m.inside);
    get_opt(j, "outside", m.outside);
    get_opt(j, "count", m.count);
}

void to_json(nlohmann::json& j, const UserNamespaceSpec& u) {
    j = {{"enabled", u.enabled}, {"uids", u.uids}, {"gids", u.gids}, {"use_helpers", u.use_helpers}};
}
void from_json(const nlohmann::json& j, UserNamespaceSpec& u) {
    get_opt(j, "enabled", u.enabled);
    get_opt(j, "uids", u.uids);
    get_opt(j, "gids", u.gids);
    get_opt(j, "use_helpers", u.use_helpers);
}

void to_json(nlohmann::json& j, const ContainerSpec& s) {
    j = {{"name", s.name},         {"image_rootfs", s.image_rootfs}, {"container_dir", s.container_dir},
         {"ephemeral", s.ephemeral}, {"hostname", s.hostname},     {"network", s.network},
         {"binds", s.binds},       {"resolv_conf", s.resolv_conf},   {"init", s.init},
         {"limits", s.limits},     {"cgroup", s.cgroup},             {"process", s.process},
         {"cache_dir", s.cache_dir}, {"cgroup_optional", s.cgroup_optional}, {"userns", s.userns}};
}
void from_json(const nlohmann::json& j, ContainerSpec& s) {
    get_opt(j, "name", s.name);
    get_opt(j, "image_rootfs", s.image_rootfs);
    get_opt(j, "container_dir", s.container_dir);
    get_opt(j, "ephemeral", s.ephemeral);
    get_opt(j, "hostname", s.hostname);
    get_opt(j, "network", s.network);
    get_opt(j, "binds", s.binds);
    get_opt(j, "resolv_conf", s.resolv_conf);
    get_opt(j, "init", s.init);
    get_opt(j, "limits", s.limits);
    get_opt(j, "cgroup", s.cgroup);
    get_opt(j, "process", s.process);
    get_opt(j, "cache_dir", s.cache_dir);
    get_opt(j, "cgroup_optional", s.cgroup_optional);
    get_opt(j, "userns", s.userns);
}

}  // namespace lxbox::runtime
