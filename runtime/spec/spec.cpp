#include "runtime/spec/spec.hpp"

#include "runtime/base/json_number.hpp"

namespace lxbox::runtime {

namespace {

template <class T>
void get_opt(const nlohmann::json& j, const char* key, T& out) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) json_get_to(*it, out, key);
}

template <class T>
void put_opt(nlohmann::json& j, const char* key, const std::optional<T>& v) {
    j[key] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

template <class T>
void put_optional(nlohmann::json& j, const char* key, const std::optional<T>& v) {
    if (v) j[key] = *v;
}

template <class T>
void get_optional(const nlohmann::json& j, const char* key, std::optional<T>& out) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) json_get_to(*it, out, key);
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
    put_optional(j, "capabilities", s.capabilities);
    put_optional(j, "no_new_privs", s.no_new_privs);
}
void from_json(const nlohmann::json& j, SecuritySpec& s) {
    get_opt(j, "privileged", s.privileged);
    get_opt(j, "cap_add", s.cap_add);
    get_opt(j, "cap_drop", s.cap_drop);
    get_opt(j, "seccomp", s.seccomp);
    get_opt(j, "seccomp_profile", s.seccomp_profile);
    get_optional(j, "capabilities", s.capabilities);
    get_optional(j, "no_new_privs", s.no_new_privs);
}

void to_json(nlohmann::json& j, const SecuritySpec::CapabilitySets& c) {
    j = {{"bounding", c.bounding},   {"effective", c.effective}, {"inheritable", c.inheritable},
         {"permitted", c.permitted}, {"ambient", c.ambient}};
}
void from_json(const nlohmann::json& j, SecuritySpec::CapabilitySets& c) {
    get_opt(j, "bounding", c.bounding);
    get_opt(j, "effective", c.effective);
    get_opt(j, "inheritable", c.inheritable);
    get_opt(j, "permitted", c.permitted);
    get_opt(j, "ambient", c.ambient);
}

void to_json(nlohmann::json& j, const ExplicitUser& u) {
    j = {{"uid", u.uid}, {"gid", u.gid}, {"additional_gids", u.additional_gids}};
    put_optional(j, "umask", u.umask);
}
void from_json(const nlohmann::json& j, ExplicitUser& u) {
    get_opt(j, "uid", u.uid);
    get_opt(j, "gid", u.gid);
    get_opt(j, "additional_gids", u.additional_gids);
    get_optional(j, "umask", u.umask);
}

void to_json(nlohmann::json& j, const Rlimit& r) { j = {{"type", r.type}, {"soft", r.soft}, {"hard", r.hard}}; }
void from_json(const nlohmann::json& j, Rlimit& r) {
    get_opt(j, "type", r.type);
    get_opt(j, "soft", r.soft);
    get_opt(j, "hard", r.hard);
}

void to_json(nlohmann::json& j, const MountEntry& m) {
    j = {{"destination", m.destination}, {"type", m.type}, {"source", m.source}, {"options", m.options}};
}
void from_json(const nlohmann::json& j, MountEntry& m) {
    get_opt(j, "destination", m.destination);
    get_opt(j, "type", m.type);
    get_opt(j, "source", m.source);
    get_opt(j, "options", m.options);
}

void to_json(nlohmann::json& j, const NamespaceEntry& n) { j = {{"type", n.type}, {"path", n.path}}; }
void from_json(const nlohmann::json& j, NamespaceEntry& n) {
    get_opt(j, "type", n.type);
    get_opt(j, "path", n.path);
}

void to_json(nlohmann::json& j, const Hook& h) {
    j = {{"path", h.path}, {"args", h.args}, {"env", h.env}};
    if (h.timeout) j["timeout"] = *h.timeout;
}
void from_json(const nlohmann::json& j, Hook& h) {
    get_opt(j, "path", h.path);
    get_opt(j, "args", h.args);
    get_opt(j, "env", h.env);
    get_optional(j, "timeout", h.timeout);
}

void to_json(nlohmann::json& j, const DeviceNode& d) {
    j = {{"path", d.path}, {"type", std::string(1, d.type)}, {"major", d.major}, {"minor", d.minor},
         {"mode", d.mode}, {"uid", d.uid}, {"gid", d.gid}};
}
void from_json(const nlohmann::json& j, DeviceNode& d) {
    get_opt(j, "path", d.path);
    const std::string type = j.value("type", "c");
    d.type = type.empty() ? 'c' : type[0];
    get_opt(j, "major", d.major);
    get_opt(j, "minor", d.minor);
    get_opt(j, "mode", d.mode);
    get_opt(j, "uid", d.uid);
    get_opt(j, "gid", d.gid);
}

void to_json(nlohmann::json& j, const BundleSpec& b) {
    j = {{"rootfs", b.rootfs},         {"rootfs_readonly", b.rootfs_readonly},
         {"rootfs_propagation", b.rootfs_propagation}, {"mounts", b.mounts},
         {"namespaces", b.namespaces}, {"masked_paths", b.masked_paths},
         {"readonly_paths", b.readonly_paths}, {"sysctl", b.sysctl},
         {"exec_fifo", b.exec_fifo}, {"cgroups_path", b.cgroups_path},
         {"cgroup_v1", b.cgroup_v1}, {"cgroup_v2", b.cgroup_v2}, {"devices", b.devices},
         {"create_container_hooks", b.create_container_hooks}, {"start_container_hooks", b.start_container_hooks},
         {"hook_state", b.hook_state}};
}
void from_json(const nlohmann::json& j, BundleSpec& b) {
    get_opt(j, "rootfs", b.rootfs);
    get_opt(j, "rootfs_readonly", b.rootfs_readonly);
    get_opt(j, "rootfs_propagation", b.rootfs_propagation);
    get_opt(j, "mounts", b.mounts);
    get_opt(j, "namespaces", b.namespaces);
    get_opt(j, "masked_paths", b.masked_paths);
    get_opt(j, "readonly_paths", b.readonly_paths);
    get_opt(j, "sysctl", b.sysctl);
    get_opt(j, "exec_fifo", b.exec_fifo);
    get_opt(j, "cgroups_path", b.cgroups_path);
    get_opt(j, "cgroup_v1", b.cgroup_v1);
    get_opt(j, "cgroup_v2", b.cgroup_v2);
    get_opt(j, "devices", b.devices);
    get_opt(j, "create_container_hooks", b.create_container_hooks);
    get_opt(j, "start_container_hooks", b.start_container_hooks);
    get_opt(j, "hook_state", b.hook_state);
}

void to_json(nlohmann::json& j, const ProcessSpec& p) {
    j = {{"args", p.args}, {"env", p.env},   {"user", p.user},        {"cwd", p.cwd},
         {"tty", p.tty},   {"term", p.term}, {"security", p.security}, {"rlimits", p.rlimits}};
    put_optional(j, "explicit_user", p.explicit_user);
    put_optional(j, "oom_score_adj", p.oom_score_adj);
    if (p.cwd_or_home) j["cwd_or_home"] = true;
}
void from_json(const nlohmann::json& j, ProcessSpec& p) {
    get_opt(j, "args", p.args);
    get_opt(j, "env", p.env);
    get_opt(j, "user", p.user);
    get_opt(j, "cwd", p.cwd);
    get_opt(j, "cwd_or_home", p.cwd_or_home);
    get_opt(j, "tty", p.tty);
    get_opt(j, "term", p.term);
    get_opt(j, "security", p.security);
    get_optional(j, "explicit_user", p.explicit_user);
    get_opt(j, "rlimits", p.rlimits);
    get_optional(j, "oom_score_adj", p.oom_score_adj);
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
    if (!u.join.empty()) j["join"] = u.join;
}
void from_json(const nlohmann::json& j, UserNamespaceSpec& u) {
    get_opt(j, "enabled", u.enabled);
    get_opt(j, "uids", u.uids);
    get_opt(j, "gids", u.gids);
    get_opt(j, "use_helpers", u.use_helpers);
    get_opt(j, "join", u.join);
}

void to_json(nlohmann::json& j, const HostGroup& g) { j = {{"gid", g.gid}, {"name", g.name}}; }
void from_json(const nlohmann::json& j, HostGroup& g) {
    g.gid = j.at("gid").get<gid_t>();
    g.name = j.value("name", "");
}
void to_json(nlohmann::json& j, const AccountSpec& a) {
    j = {{"name", a.name},   {"uid", a.uid},   {"gid", a.gid},     {"group_name", a.group_name},
         {"groups", a.groups}, {"home", a.home}, {"shell", a.shell}};
}
void from_json(const nlohmann::json& j, AccountSpec& a) {
    a.name = j.at("name").get<std::string>();
    a.uid = j.at("uid").get<uid_t>();
    a.gid = j.at("gid").get<gid_t>();
    a.group_name = j.value("group_name", "");
    a.groups = j.value("groups", std::vector<HostGroup>{});
    a.home = j.value("home", "/");
    a.shell = j.value("shell", "/bin/sh");
}

void to_json(nlohmann::json& j, const ContainerSpec& s) {
    j = {{"name", s.name},         {"image_rootfs", s.image_rootfs}, {"container_dir", s.container_dir},
         {"ephemeral", s.ephemeral}, {"hostname", s.hostname},     {"network", s.network},
         {"binds", s.binds},       {"resolv_conf", s.resolv_conf},   {"init", s.init},
         {"limits", s.limits},     {"cgroup", s.cgroup},             {"process", s.process},
         {"cache_dir", s.cache_dir}, {"cgroup_optional", s.cgroup_optional}, {"userns", s.userns},
         {"detached", s.detached}};
    if (!s.image_layers.empty()) {
        j["image_layers"] = s.image_layers;
        j["layers_dir"] = s.layers_dir;
    }
    if (!s.fuse_overlay.empty()) j["fuse_overlay"] = s.fuse_overlay;
    if (s.fuse_overlay_only) j["fuse_overlay_only"] = true;
    put_optional(j, "bundle", s.bundle);
    if (!s.hosts.empty()) j["hosts"] = s.hosts;
    put_optional(j, "account", s.account);
    if (s.gpu) j["gpu"] = true;
    if (s.systemd) j["systemd"] = true;
}
void from_json(const nlohmann::json& j, ContainerSpec& s) {
    get_opt(j, "name", s.name);
    get_opt(j, "image_rootfs", s.image_rootfs);
    get_opt(j, "image_layers", s.image_layers);
    get_opt(j, "layers_dir", s.layers_dir);
    get_opt(j, "container_dir", s.container_dir);
    get_opt(j, "ephemeral", s.ephemeral);
    get_opt(j, "hostname", s.hostname);
    get_opt(j, "network", s.network);
    get_opt(j, "binds", s.binds);
    get_opt(j, "resolv_conf", s.resolv_conf);
    get_opt(j, "init", s.init);
    get_opt(j, "systemd", s.systemd);
    get_opt(j, "limits", s.limits);
    get_opt(j, "cgroup", s.cgroup);
    get_opt(j, "process", s.process);
    get_opt(j, "cache_dir", s.cache_dir);
    get_opt(j, "cgroup_optional", s.cgroup_optional);
    get_opt(j, "userns", s.userns);
    get_opt(j, "detached", s.detached);
    get_opt(j, "fuse_overlay", s.fuse_overlay);
    get_opt(j, "fuse_overlay_only", s.fuse_overlay_only);
    get_optional(j, "bundle", s.bundle);
    get_opt(j, "hosts", s.hosts);
    get_optional(j, "account", s.account);
    get_opt(j, "gpu", s.gpu);
}

}  // namespace lxbox::runtime

namespace lxbox::cgroups {
void to_json(nlohmann::json& j, const Write& w) {
    j = {{"controller", w.controller}, {"file", w.file}, {"value", w.value}, {"if_present", w.if_present},
         {"refused", w.refused}};
}
void from_json(const nlohmann::json& j, Write& w) {
    w.controller = j.value("controller", "");
    w.file = j.value("file", "");
    w.value = j.value("value", "");
    w.if_present = j.value("if_present", false);
    w.refused = j.value("refused", "");
}
}  // namespace lxbox::cgroups
