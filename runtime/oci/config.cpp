#include "runtime/oci/config.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "runtime/base/printable.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/plan/bundle.hpp"
#include "runtime/plan/seccomp_profile.hpp"

namespace lxbox::runtime::oci {

namespace {

using nlohmann::json;

// The bundle's strings are in the text (a namespace type, an rlimit, a key): escaped, so the
// error is one line whatever they hold.
Error invalid(const std::string& path, const std::string& what) {
    return Error(ErrorKind::Invalid, printable(path + ": " + what));
}

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

// A member of an object, or nullptr when absent (null counts as absent, as in Go's decoder).
const json* find(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

Result<const json*> object_at(const json& obj, const char* key, const std::string& path, bool required = false) {
    const json* v = find(obj, key);
    if (!v) {
        if (required) return invalid(join(path, key), "required");
        return static_cast<const json*>(nullptr);
    }
    if (!v->is_object()) return invalid(join(path, key), "expected an object");
    return v;
}

Result<std::optional<std::string>> string_at(const json& obj, const char* key, const std::string& path,
                                             bool required = false) {
    const json* v = find(obj, key);
    if (!v) {
        if (required) return invalid(join(path, key), "required");
        return std::optional<std::string>{};
    }
    if (!v->is_string()) return invalid(join(path, key), "expected a string");
    return std::optional<std::string>{v->get<std::string>()};
}

Result<std::vector<std::string>> strings_at(const json& obj, const char* key, const std::string& path) {
    std::vector<std::string> out;
    const json* v = find(obj, key);
    if (!v) return out;
    if (!v->is_array()) return invalid(join(path, key), "expected an array of strings");
    for (size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string())
            return invalid(join(path, key) + "[" + std::to_string(i) + "]", "expected a string");
        out.push_back((*v)[i].get<std::string>());
    }
    return out;
}

Result<std::optional<bool>> bool_at(const json& obj, const char* key, const std::string& path) {
    const json* v = find(obj, key);
    if (!v) return std::optional<bool>{};
    if (!v->is_boolean()) return invalid(join(path, key), "expected a boolean");
    return std::optional<bool>{v->get<bool>()};
}

template <class Int>
Result<std::optional<Int>> int_at(const json& obj, const char* key, const std::string& path, bool required = false) {
    const json* v = find(obj, key);
    if (!v) {
        if (required) return invalid(join(path, key), "required");
        return std::optional<Int>{};
    }
    if (!v->is_number_integer()) return invalid(join(path, key), "expected an integer");
    if (std::is_unsigned_v<Int> && !v->is_number_unsigned() && v->get<int64_t>() < 0)
        return invalid(join(path, key), "must not be negative");
    // nlohmann compares signed and unsigned by casting: a value past INT64_MAX would wrap.
    if (std::is_signed_v<Int> && v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return invalid(join(path, key), "out of range");
    const auto value = v->get<Int>();
    if (json(value) != *v) return invalid(join(path, key), "out of range");
    return std::optional<Int>{value};
}

Result<std::vector<Hook>> hooks_at(const json& obj, const char* key, const std::string& path) {
    std::vector<Hook> out;
    const json* v = find(obj, key);
    if (!v) return out;
    if (!v->is_array()) return invalid(join(path, key), "expected an array of hooks");
    for (size_t i = 0; i < v->size(); ++i) {
        const std::string p = join(path, key) + "[" + std::to_string(i) + "]";
        const json& h = (*v)[i];
        if (!h.is_object()) return invalid(p, "expected an object");
        Hook hook;
        hook.path = *LXBOX_TRY(string_at(h, "path", p, true));
        if (hook.path.empty() || hook.path[0] != '/') return invalid(p + ".path", "must be an absolute path");
        hook.args = LXBOX_TRY(strings_at(h, "args", p));
        hook.env = LXBOX_TRY(strings_at(h, "env", p));
        hook.timeout = LXBOX_TRY(int_at<int>(h, "timeout", p));
        if (hook.timeout && *hook.timeout <= 0) return invalid(p + ".timeout", "must be positive");
        out.push_back(std::move(hook));
    }
    return out;
}

std::string absolute_in(const std::string& bundle, const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    return bundle + "/" + path;
}

Result<std::vector<IdMapping>> mappings_at(const json& obj, const char* key, const std::string& path) {
    std::vector<IdMapping> out;
    const json* v = find(obj, key);
    if (!v) return out;
    if (!v->is_array()) return invalid(join(path, key), "expected an array of mappings");
    for (size_t i = 0; i < v->size(); ++i) {
        const std::string p = join(path, key) + "[" + std::to_string(i) + "]";
        if (!(*v)[i].is_object()) return invalid(p, "expected an object");
        IdMapping m;
        m.inside = *LXBOX_TRY(int_at<uint32_t>((*v)[i], "containerID", p, true));
        m.outside = *LXBOX_TRY(int_at<uint32_t>((*v)[i], "hostID", p, true));
        m.count = *LXBOX_TRY(int_at<uint32_t>((*v)[i], "size", p, true));
        out.push_back(m);
    }
    return out;
}

// linux.resources.devices: the device cgroup's allow/deny list.
Result<std::vector<cgroups::DeviceRule>> parse_device_rules(const json& res, const std::string& q) {
    std::vector<cgroups::DeviceRule> rules;
    const json* list = find(res, "devices");
    if (!list) return rules;
    if (!list->is_array()) return invalid(q + ".devices", "expected an array");
    for (size_t i = 0; i < list->size(); ++i) {
        const json& d = (*list)[i];
        const std::string e = q + ".devices[" + std::to_string(i) + "]";
        if (!d.is_object()) return invalid(e, "expected an object");
        cgroups::DeviceRule r;
        const auto allow = LXBOX_TRY(bool_at(d, "allow", e));
        if (!allow) return invalid(e + ".allow", "required");
        r.allow = *allow;
        const std::string type = LXBOX_TRY(string_at(d, "type", e)).value_or("a");
        if (type != "a" && type != "c" && type != "b") return invalid(e + ".type", "'" + type + "' is not one of a, c, b");
        r.type = type[0];
        r.major = LXBOX_TRY(int_at<int64_t>(d, "major", e)).value_or(-1);
        r.minor = LXBOX_TRY(int_at<int64_t>(d, "minor", e)).value_or(-1);
        r.access = LXBOX_TRY(string_at(d, "access", e)).value_or("rwm");
        if (r.access.empty() || r.access.find_first_not_of("rwm") != std::string::npos)
            return invalid(e + ".access", "'" + r.access + "' is not made of r, w and m");
        rules.push_back(r);
    }
    return rules;
}

}  // namespace

// linux.resources (runtime-spec config-linux.md "Control groups").
Result<cgroups::Resources> parse_resources(const json& res, const std::string& q) {
    cgroups::Resources r;
    if (const json* m = LXBOX_TRY(object_at(res, "memory", q))) {
        const std::string f = q + ".memory";
        r.memory.limit = LXBOX_TRY(int_at<int64_t>(*m, "limit", f));
        r.memory.reservation = LXBOX_TRY(int_at<int64_t>(*m, "reservation", f));
        r.memory.swap = LXBOX_TRY(int_at<int64_t>(*m, "swap", f));
        r.memory.kernel = LXBOX_TRY(int_at<int64_t>(*m, "kernel", f));
        r.memory.kernel_tcp = LXBOX_TRY(int_at<int64_t>(*m, "kernelTCP", f));
        r.memory.swappiness = LXBOX_TRY(int_at<uint64_t>(*m, "swappiness", f));
        if (r.memory.swappiness && *r.memory.swappiness > 100) return invalid(f + ".swappiness", "must be 0-100");
        r.memory.disable_oom_killer = LXBOX_TRY(bool_at(*m, "disableOOMKiller", f));
        r.memory.use_hierarchy = LXBOX_TRY(bool_at(*m, "useHierarchy", f));
        if (r.memory.limit && *r.memory.limit > 0 && r.memory.swap && *r.memory.swap > 0 && *r.memory.swap < *r.memory.limit)
            return invalid(f + ".swap", "must not be less than limit (it counts memory and swap)");
    }
    if (const json* cpu = LXBOX_TRY(object_at(res, "cpu", q))) {
        const std::string f = q + ".cpu";
        r.cpu.shares = LXBOX_TRY(int_at<uint64_t>(*cpu, "shares", f));
        r.cpu.quota = LXBOX_TRY(int_at<int64_t>(*cpu, "quota", f));
        r.cpu.period = LXBOX_TRY(int_at<uint64_t>(*cpu, "period", f));
        r.cpu.burst = LXBOX_TRY(int_at<uint64_t>(*cpu, "burst", f));
        r.cpu.realtime_runtime = LXBOX_TRY(int_at<int64_t>(*cpu, "realtimeRuntime", f));
        r.cpu.realtime_period = LXBOX_TRY(int_at<uint64_t>(*cpu, "realtimePeriod", f));
        r.cpu.idle = LXBOX_TRY(int_at<int64_t>(*cpu, "idle", f));
        r.cpu.cpus = LXBOX_TRY(string_at(*cpu, "cpus", f)).value_or("");
        r.cpu.mems = LXBOX_TRY(string_at(*cpu, "mems", f)).value_or("");
        for (const auto& [key, list] : {std::pair{"cpus", r.cpu.cpus}, std::pair{"mems", r.cpu.mems}})
            if (list.find_first_not_of("0123456789,-") != std::string::npos)
                return invalid(f + "." + key, "'" + list + "' is not a list such as 0-3,5");
        if (r.cpu.period && *r.cpu.period != 0 && (*r.cpu.period < 1000 || *r.cpu.period > 1000000))
            return invalid(f + ".period", "must be 1000-1000000 (µs)");
        if (r.cpu.quota && *r.cpu.quota > 0 && *r.cpu.quota < 1000) return invalid(f + ".quota", "must be at least 1000 (µs)");
    }
    if (const json* pids = LXBOX_TRY(object_at(res, "pids", q)))
        r.pids_limit = LXBOX_TRY(int_at<int64_t>(*pids, "limit", q + ".pids", true));
    if (const json* bio = LXBOX_TRY(object_at(res, "blockIO", q))) {
        const std::string f = q + ".blockIO";
        auto weight = [&](const json& obj, const char* key, const std::string& path) -> Result<std::optional<uint16_t>> {
            auto w = LXBOX_TRY(int_at<uint16_t>(obj, key, path));
            if (w && *w != 0 && (*w < 10 || *w > 1000)) return invalid(join(path, key), "must be 10-1000");
            return w;
        };
        r.block_io.weight = LXBOX_TRY(weight(*bio, "weight", f));
        r.block_io.leaf_weight = LXBOX_TRY(weight(*bio, "leafWeight", f));
        auto devices = [&](const char* key) -> Result<std::vector<const json*>> {
            std::vector<const json*> out;
            const json* v = find(*bio, key);
            if (!v) return out;
            if (!v->is_array()) return invalid(f + "." + key, "expected an array");
            for (size_t i = 0; i < v->size(); ++i) {
                const std::string e = f + "." + key + "[" + std::to_string(i) + "]";
                if (!(*v)[i].is_object()) return invalid(e, "expected an object");
                LXBOX_TRY(int_at<int64_t>((*v)[i], "major", e, true));
                LXBOX_TRY(int_at<int64_t>((*v)[i], "minor", e, true));
                out.push_back(&(*v)[i]);
            }
            return out;
        };
        const auto weights = LXBOX_TRY(devices("weightDevice"));
        for (size_t i = 0; i < weights.size(); ++i) {
            const std::string e = f + ".weightDevice[" + std::to_string(i) + "]";
            cgroups::Resources::DeviceWeight d;
            d.major = *LXBOX_TRY(int_at<int64_t>(*weights[i], "major", e));
            d.minor = *LXBOX_TRY(int_at<int64_t>(*weights[i], "minor", e));
            d.weight = LXBOX_TRY(weight(*weights[i], "weight", e));
            d.leaf_weight = LXBOX_TRY(weight(*weights[i], "leafWeight", e));
            r.block_io.weight_device.push_back(d);
        }
        const std::pair<const char*, std::vector<cgroups::Resources::DeviceRate>*> rates[] = {
            {"throttleReadBpsDevice", &r.block_io.read_bps},
            {"throttleWriteBpsDevice", &r.block_io.write_bps},
            {"throttleReadIOPSDevice", &r.block_io.read_iops},
            {"throttleWriteIOPSDevice", &r.block_io.write_iops}};
        for (const auto& [key, into] : rates) {
            const auto list = LXBOX_TRY(devices(key));
            for (size_t i = 0; i < list.size(); ++i) {
                const std::string e = f + "." + key + "[" + std::to_string(i) + "]";
                cgroups::Resources::DeviceRate d;
                d.major = *LXBOX_TRY(int_at<int64_t>(*list[i], "major", e));
                d.minor = *LXBOX_TRY(int_at<int64_t>(*list[i], "minor", e));
                d.rate = *LXBOX_TRY(int_at<uint64_t>(*list[i], "rate", e, true));
                into->push_back(d);
            }
        }
    }
    if (const json* huge = find(res, "hugepageLimits")) {
        if (!huge->is_array()) return invalid(q + ".hugepageLimits", "expected an array");
        for (size_t i = 0; i < huge->size(); ++i) {
            const std::string e = q + ".hugepageLimits[" + std::to_string(i) + "]";
            if (!(*huge)[i].is_object()) return invalid(e, "expected an object");
            const std::string size = *LXBOX_TRY(string_at((*huge)[i], "pageSize", e, true));
            // The kernel's own spelling of a page size: 2MB, 1GB, 64KB.
            const size_t digits = size.find_first_not_of("0123456789");
            if (digits == 0 || digits == std::string::npos ||
                (size.substr(digits) != "KB" && size.substr(digits) != "MB" && size.substr(digits) != "GB"))
                return invalid(e + ".pageSize", "'" + size + "' is not a page size such as 2MB or 1GB");
            r.hugepage_limits[size] = *LXBOX_TRY(int_at<uint64_t>((*huge)[i], "limit", e, true));
        }
    }
    if (const json* net = LXBOX_TRY(object_at(res, "network", q))) {
        const std::string f = q + ".network";
        r.network.class_id = LXBOX_TRY(int_at<uint32_t>(*net, "classID", f));
        if (const json* prios = find(*net, "priorities")) {
            if (!prios->is_array()) return invalid(f + ".priorities", "expected an array");
            for (size_t i = 0; i < prios->size(); ++i) {
                const std::string e = f + ".priorities[" + std::to_string(i) + "]";
                if (!(*prios)[i].is_object()) return invalid(e, "expected an object");
                const std::string name = *LXBOX_TRY(string_at((*prios)[i], "name", e, true));
                if (name.empty() || name.find_first_of(" \n/") != std::string::npos)
                    return invalid(e + ".name", "'" + name + "' is not an interface name");
                r.network.priorities[name] = *LXBOX_TRY(int_at<uint32_t>((*prios)[i], "priority", e, true));
            }
        }
    }
    if (const json* unified = LXBOX_TRY(object_at(res, "unified", q))) {
        for (const auto& [file, value] : unified->items()) {
            if (file.empty() || file.find('/') != std::string::npos || file.find('.') == std::string::npos ||
                file[0] == '.')
                return invalid(q + ".unified", "'" + file + "' is not a cgroup v2 file name such as memory.high");
            if (!value.is_string()) return invalid(q + ".unified." + file, "expected a string");
            r.unified[file] = value.get<std::string>();
        }
    }
    if (find(res, "rdma")) return Error(ErrorKind::Unsupported, q + ".rdma: RDMA limits are not supported");
    return r;
}

namespace {

Status parse_linux(const json& lx, Config& c) {
    const std::string p = "linux";
    BundleSpec& b = *c.spec.bundle;
    if (const json* ns = find(lx, "namespaces")) {
        if (!ns->is_array()) return invalid(p + ".namespaces", "expected an array");
        for (size_t i = 0; i < ns->size(); ++i) {
            const std::string q = p + ".namespaces[" + std::to_string(i) + "]";
            if (!(*ns)[i].is_object()) return invalid(q, "expected an object");
            NamespaceEntry e;
            e.type = *LXBOX_TRY(string_at((*ns)[i], "type", q, true));
            if (namespace_flag(e.type) == 0) return invalid(q + ".type", "unknown namespace type '" + e.type + "'");
            e.path = LXBOX_TRY(string_at((*ns)[i], "path", q)).value_or("");
            b.namespaces.push_back(std::move(e));
        }
    }
    c.spec.userns.uids = LXBOX_TRY(mappings_at(lx, "uidMappings", p));
    c.spec.userns.gids = LXBOX_TRY(mappings_at(lx, "gidMappings", p));
    for (const auto& ns : b.namespaces) {
        if (ns.type == "user" && ns.path.empty()) c.spec.userns.enabled = true;
    }
    if (const json* sysctl = LXBOX_TRY(object_at(lx, "sysctl", p))) {
        for (const auto& [k, v] : sysctl->items()) {
            if (!v.is_string()) return invalid(p + ".sysctl." + k, "expected a string");
            b.sysctl[k] = v.get<std::string>();
        }
    }
    if (const json* res = LXBOX_TRY(object_at(lx, "resources", p))) {
        c.resources = LXBOX_TRY(parse_resources(*res, p + ".resources"));
        c.device_rules = LXBOX_TRY(parse_device_rules(*res, p + ".resources"));
    }
    b.cgroups_path = LXBOX_TRY(string_at(lx, "cgroupsPath", p)).value_or("");
    if (!b.cgroups_path.empty())
        if (auto st = cgroups::validate_cgroups_path(b.cgroups_path); !st.ok())
            return invalid(p + ".cgroupsPath", st.error().message);
    b.cgroup_v1 = cgroups::plan_resources_v1(c.resources);
    b.cgroup_v2 = cgroups::plan_resources_v2(c.resources);
    // What neither cgroup version can honour is refused now; the rest when the host is known.
    for (const auto& w1 : b.cgroup_v1)
        for (const auto& w2 : b.cgroup_v2)
            if (!w1.refused.empty() && !w2.refused.empty() && w1.controller == w2.controller)
                return Error(ErrorKind::Invalid, w2.refused);
    b.rootfs_propagation = LXBOX_TRY(string_at(lx, "rootfsPropagation", p)).value_or("");
    // The schema's private, shared, slave, unbindable, and (as runc) their recursive forms.
    if (!b.rootfs_propagation.empty() && parse_mount_options({b.rootfs_propagation}).propagation == 0)
        return invalid(p + ".rootfsPropagation", "unknown value '" + b.rootfs_propagation + "'");
    b.masked_paths = LXBOX_TRY(strings_at(lx, "maskedPaths", p));
    b.readonly_paths = LXBOX_TRY(strings_at(lx, "readonlyPaths", p));
    if (const json* seccomp = LXBOX_TRY(object_at(lx, "seccomp", p))) {
        if (!find(*seccomp, "defaultAction")) return invalid(p + ".seccomp.defaultAction", "required");
        if (find(*seccomp, "listenerPath"))
            return Error(ErrorKind::Unsupported, p + ".seccomp.listenerPath: seccomp notify is not supported");
        c.spec.process.security.seccomp = "profile";
        c.spec.process.security.seccomp_profile = seccomp->dump();
        // Checked now, whatever capabilities the process keeps, so a bad profile names its field.
        auto checked = parse_docker_seccomp_profile(c.spec.process.security.seccomp_profile, ~uint64_t{0},
                                                    native_docker_arch(), "");
        if (!checked) {
            std::string message = checked.error().message;
            const std::string prefix = "seccomp profile: ";
            if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
            return Error(checked.error().kind, p + ".seccomp." + message);
        }
    }
    if (const json* devices = find(lx, "devices")) {
        if (!devices->is_array()) return invalid(p + ".devices", "expected an array");
        for (size_t i = 0; i < devices->size(); ++i) {
            const json& d = (*devices)[i];
            const std::string e = p + ".devices[" + std::to_string(i) + "]";
            if (!d.is_object()) return invalid(e, "expected an object");
            DeviceNode n;
            n.path = *LXBOX_TRY(string_at(d, "path", e, true));
            if (n.path.empty() || n.path[0] != '/' || n.path.find("/../") != std::string::npos || n.path.ends_with("/.."))
                return invalid(e + ".path", "'" + n.path + "' is not an absolute path without '..'");
            const std::string type = *LXBOX_TRY(string_at(d, "type", e, true));
            if (type != "c" && type != "b" && type != "u" && type != "p")
                return invalid(e + ".type", "'" + type + "' is not one of c, b, u, p");
            n.type = type[0];
            const bool numbered = n.type != 'p';
            n.major = LXBOX_TRY(int_at<int64_t>(d, "major", e, numbered)).value_or(0);
            n.minor = LXBOX_TRY(int_at<int64_t>(d, "minor", e, numbered)).value_or(0);
            if (n.major < 0 || n.major > 4095) return invalid(e + ".major", "must be 0-4095");
            if (n.minor < 0 || n.minor > 1048575) return invalid(e + ".minor", "must be 0-1048575");
            n.mode = LXBOX_TRY(int_at<uint32_t>(d, "fileMode", e)).value_or(0666);
            n.uid = LXBOX_TRY(int_at<uint32_t>(d, "uid", e)).value_or(0);
            n.gid = LXBOX_TRY(int_at<uint32_t>(d, "gid", e)).value_or(0);
            b.devices.push_back(n);
        }
    }
    // The device cgroup as runc makes it: the bundle's rules, then each linux.devices node and
    // the default devices allowed.
    std::vector<cgroups::DeviceRule> rules = c.device_rules;
    for (const auto& n : b.devices)
        if (n.type != 'p') rules.push_back({true, n.type == 'b' ? 'b' : 'c', n.major, n.minor, "rwm"});
    if (!rules.empty())
        for (auto& r : cgroups::default_allowed_devices()) rules.push_back(std::move(r));
    for (auto& w : cgroups::plan_devices_v1(rules)) b.cgroup_v1.push_back(std::move(w));
    for (auto& w : cgroups::plan_devices_v2(rules)) b.cgroup_v2.push_back(std::move(w));
    return {};
}

}  // namespace

Result<ProcessSpec> parse_process(const json& j, const std::string& path) {
    if (!j.is_object()) return invalid(path, "expected an object");
    ProcessSpec proc;
    proc.tty = LXBOX_TRY(bool_at(j, "terminal", path)).value_or(false);
    ExplicitUser user;
    if (const json* u = LXBOX_TRY(object_at(j, "user", path, true))) {
        const std::string q = path + ".user";
        user.uid = *LXBOX_TRY(int_at<uint32_t>(*u, "uid", q, true));
        user.gid = *LXBOX_TRY(int_at<uint32_t>(*u, "gid", q, true));
        user.umask = LXBOX_TRY(int_at<uint32_t>(*u, "umask", q));
        if (const json* gids = find(*u, "additionalGids")) {
            if (!gids->is_array()) return invalid(q + ".additionalGids", "expected an array of integers");
            for (size_t i = 0; i < gids->size(); ++i) {
                const auto& g = (*gids)[i];
                if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX)
                    return invalid(q + ".additionalGids[" + std::to_string(i) + "]", "expected an id");
                user.additional_gids.push_back(g.get<uint32_t>());
            }
        }
    }
    proc.explicit_user = user;
    proc.args = LXBOX_TRY(strings_at(j, "args", path));
    if (!find(j, "args")) return invalid(path + ".args", "required");
    if (proc.args.empty()) return invalid(path + ".args", "must hold at least the command");
    proc.env = LXBOX_TRY(strings_at(j, "env", path));
    for (size_t i = 0; i < proc.env.size(); ++i) {
        if (proc.env[i].find('=') == std::string::npos)
            return invalid(path + ".env[" + std::to_string(i) + "]", "'" + proc.env[i] + "' is not KEY=VALUE");
    }
    proc.cwd = *LXBOX_TRY(string_at(j, "cwd", path, true));
    if (proc.cwd.empty() || proc.cwd[0] != '/') return invalid(path + ".cwd", "must be an absolute path");
    SecuritySpec& sec = proc.security;
    sec.seccomp = "unconfined";  // a bundle without linux.seccomp has no filter
    sec.no_new_privs = LXBOX_TRY(bool_at(j, "noNewPrivileges", path)).value_or(false);
    SecuritySpec::CapabilitySets caps;
    if (const json* c = LXBOX_TRY(object_at(j, "capabilities", path))) {
        const std::string q = path + ".capabilities";
        caps.bounding = LXBOX_TRY(strings_at(*c, "bounding", q));
        caps.effective = LXBOX_TRY(strings_at(*c, "effective", q));
        caps.inheritable = LXBOX_TRY(strings_at(*c, "inheritable", q));
        caps.permitted = LXBOX_TRY(strings_at(*c, "permitted", q));
        caps.ambient = LXBOX_TRY(strings_at(*c, "ambient", q));
    }
    sec.capabilities = caps;
    if (const json* rl = find(j, "rlimits")) {
        if (!rl->is_array()) return invalid(path + ".rlimits", "expected an array");
        for (size_t i = 0; i < rl->size(); ++i) {
            const std::string q = path + ".rlimits[" + std::to_string(i) + "]";
            if (!(*rl)[i].is_object()) return invalid(q, "expected an object");
            Rlimit r;
            r.type = *LXBOX_TRY(string_at((*rl)[i], "type", q, true));
            if (!rlimit_resource(r.type)) return invalid(q + ".type", "unknown rlimit '" + r.type + "'");
            r.soft = *LXBOX_TRY(int_at<uint64_t>((*rl)[i], "soft", q, true));
            r.hard = *LXBOX_TRY(int_at<uint64_t>((*rl)[i], "hard", q, true));
            proc.rlimits.push_back(std::move(r));
        }
    }
    proc.oom_score_adj = LXBOX_TRY(int_at<int>(j, "oomScoreAdj", path));
    if (auto profile = LXBOX_TRY(string_at(j, "apparmorProfile", path)); profile && !profile->empty())
        return Error(ErrorKind::Unsupported, path + ".apparmorProfile: AppArmor is not supported by lxbox");
    if (auto label = LXBOX_TRY(string_at(j, "selinuxLabel", path)); label && !label->empty())
        return Error(ErrorKind::Unsupported, path + ".selinuxLabel: SELinux is not supported by lxbox");
    return proc;
}

Result<Config> parse_config(const std::string& json_text, const std::string& bundle_dir) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number too big
        return Error(ErrorKind::Invalid, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) return invalid("(root)", "expected an object");
    Config c;
    c.oci_version = *LXBOX_TRY(string_at(j, "ociVersion", "", true));
    if (!c.oci_version.starts_with("1.")) return invalid("ociVersion", "'" + c.oci_version + "' is not 1.x");
    c.spec.bundle.emplace();
    BundleSpec& b = *c.spec.bundle;
    const json* root = LXBOX_TRY(object_at(j, "root", "", true));
    b.rootfs = absolute_in(bundle_dir, *LXBOX_TRY(string_at(*root, "path", "root", true)));
    b.rootfs_readonly = LXBOX_TRY(bool_at(*root, "readonly", "root")).value_or(false);
    if (const json* m = find(j, "mounts")) {
        if (!m->is_array()) return invalid("mounts", "expected an array");
        for (size_t i = 0; i < m->size(); ++i) {
            const std::string q = "mounts[" + std::to_string(i) + "]";
            if (!(*m)[i].is_object()) return invalid(q, "expected an object");
            MountEntry e;
            e.destination = *LXBOX_TRY(string_at((*m)[i], "destination", q, true));
            e.type = LXBOX_TRY(string_at((*m)[i], "type", q)).value_or("");
            e.source = LXBOX_TRY(string_at((*m)[i], "source", q)).value_or("");
            e.options = LXBOX_TRY(strings_at((*m)[i], "options", q));
            bool bind = e.type == "bind";
            for (const auto& o : e.options) bind = bind || o == "bind" || o == "rbind";
            if (bind) e.source = absolute_in(bundle_dir, e.source);
            b.mounts.push_back(std::move(e));
        }
    }
    if (const json* proc = find(j, "process")) {
        c.spec.process = LXBOX_TRY(parse_process(*proc, "process"));
        c.has_process = true;
    }
    c.spec.hostname = LXBOX_TRY(string_at(j, "hostname", "")).value_or("");
    (void)LXBOX_TRY(string_at(j, "domainname", ""));
    if (const json* hooks = LXBOX_TRY(object_at(j, "hooks", ""))) {
        c.hooks.prestart = LXBOX_TRY(hooks_at(*hooks, "prestart", "hooks"));
        c.hooks.create_runtime = LXBOX_TRY(hooks_at(*hooks, "createRuntime", "hooks"));
        c.hooks.create_container = LXBOX_TRY(hooks_at(*hooks, "createContainer", "hooks"));
        c.hooks.start_container = LXBOX_TRY(hooks_at(*hooks, "startContainer", "hooks"));
        c.hooks.poststart = LXBOX_TRY(hooks_at(*hooks, "poststart", "hooks"));
        c.hooks.poststop = LXBOX_TRY(hooks_at(*hooks, "poststop", "hooks"));
    }
    if (const json* ann = LXBOX_TRY(object_at(j, "annotations", ""))) {
        for (const auto& [k, v] : ann->items()) {
            if (!v.is_string()) return invalid("annotations." + k, "expected a string");
            c.annotations[k] = v.get<std::string>();
        }
    }
    if (const json* lx = LXBOX_TRY(object_at(j, "linux", ""))) LXBOX_TRY(parse_linux(*lx, c));
    // The seccomp filter is the bundle's; the process section set "unconfined" before it was read.
    if (!c.has_process) c.spec.process.security.seccomp = c.spec.process.security.seccomp_profile.empty() ? "unconfined" : "profile";
    const auto& u = c.spec.userns;
    if (u.enabled && (u.uids.empty() || u.gids.empty()))
        return invalid(u.uids.empty() ? "linux.uidMappings" : "linux.gidMappings",
                       "a user namespace needs uid and gid mappings");
    if (!u.enabled && (!u.uids.empty() || !u.gids.empty())) {
        const auto& ns = c.spec.bundle->namespaces;
        const bool joined = std::any_of(ns.begin(), ns.end(), [](const NamespaceEntry& n) { return n.type == "user"; });
        return invalid(!u.uids.empty() ? "linux.uidMappings" : "linux.gidMappings",
                       joined ? "mappings for a joined user namespace (it has its own)"
                              : "mappings without a user namespace");
    }
    return c;
}

}  // namespace lxbox::runtime::oci
