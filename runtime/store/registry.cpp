// registry.json: its JSON shape, and the locked, atomic read-modify-write of it.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>

#include "runtime/base/json_number.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/printable.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::store {

// Recorded numbers are whole and in range, never converted (json_value): the registry_json
// fuzz target found a float size_bytes of 7.9e49 and a version of 8.9e9 (UBSan).
static uint64_t size_bytes_of(const nlohmann::json& j) { return json_value<uint64_t>(j, "size_bytes", 0); }

void to_json(nlohmann::json& j, const ImageRecord& r) {
    j = {{"name", r.name}, {"arch", r.arch}, {"created", r.created}, {"size_bytes", r.size_bytes},
         {"source", r.source}};
    if (!r.manifest.empty()) {
        j["manifest"] = r.manifest;
        j["config"] = r.config;
        j["layers"] = r.layers;
    }
    if (!r.settings.empty()) j["settings"] = r.settings;
}
void from_json(const nlohmann::json& j, ImageRecord& r) {
    r.name = j.at("name").get<std::string>();
    r.arch = j.value("arch", "");
    r.created = j.value("created", "");
    r.size_bytes = size_bytes_of(j);
    r.source = j.value("source", "");
    r.manifest = j.value("manifest", "");
    r.config = j.value("config", "");
    r.layers = j.value("layers", std::vector<std::string>{});
    r.settings = j.value("settings", std::map<std::string, std::string>{});
}
void to_json(nlohmann::json& j, const LayerRecord& r) { j = {{"size_bytes", r.size_bytes}, {"created", r.created}}; }
void from_json(const nlohmann::json& j, LayerRecord& r) {
    r.size_bytes = size_bytes_of(j);
    r.created = j.value("created", "");
}
void to_json(nlohmann::json& j, const ContainerRecord& r) {
    j = {{"name", r.name}, {"image", r.image}, {"created", r.created}, {"backend", r.backend}};
    if (r.integrated) j["integrated"] = true;
}
void from_json(const nlohmann::json& j, ContainerRecord& r) {
    r.name = j.at("name").get<std::string>();
    r.image = j.at("image").get<std::string>();
    r.created = j.value("created", "");
    r.backend = j.value("backend", "native");
    r.integrated = j.value("integrated", false);
}
void to_json(nlohmann::json& j, const Registry& r) {
    j = {{"version", r.version}, {"default_distro", r.default_distro},
         {"embedded_registered", r.embedded_registered}, {"images", r.images},
         {"containers", r.containers}, {"layers", r.layers}};
}
void from_json(const nlohmann::json& j, Registry& r) {
    r.version = json_value<int>(j, "version", 1);
    r.default_distro = j.value("default_distro", "");
    r.embedded_registered = j.value("embedded_registered", false);
    r.images = j.value("images", std::map<std::string, ImageRecord>{});
    r.containers = j.value("containers", std::map<std::string, ContainerRecord>{});
    r.layers = j.value("layers", std::map<std::string, LayerRecord>{});
}
void to_json(nlohmann::json& j, const InstanceState& s) {
    j = {{"pid", s.pid},         {"start_time", s.start_time}, {"started", s.started},
         {"command", s.command}, {"backend", s.backend},       {"security", s.security},
         {"cgroup", s.cgroup},   {"namespaces", s.namespaces}};
    if (!s.guest_dir.empty()) j["guest_dir"] = s.guest_dir;
    if (!s.arch.empty()) j["arch"] = s.arch;
    if (!s.lower_dirs.empty()) j["lower_dirs"] = s.lower_dirs;
    if (s.stop_signal != 0) j["stop_signal"] = s.stop_signal;
}
void from_json(const nlohmann::json& j, InstanceState& s) {
    s.pid = json_whole<pid_t>(j.at("pid"), "pid");
    s.start_time = json_whole<uint64_t>(j.at("start_time"), "start_time");
    s.started = j.value("started", "");
    s.command = j.value("command", std::vector<std::string>{});
    s.backend = j.value("backend", "native");
    if (auto it = j.find("security"); it != j.end() && it->is_object()) s.security = it->get<runtime::SecuritySpec>();
    s.cgroup = j.value("cgroup", "");
    s.namespaces = json_value<int>(j, "namespaces", 0);
    s.guest_dir = j.value("guest_dir", "");
    s.arch = j.value("arch", "");
    s.lower_dirs = j.value("lower_dirs", std::vector<std::string>{});
    s.stop_signal = json_value<int>(j, "stop_signal", 0);
}

namespace {

bool is_layer_id(const std::string& id) {
    constexpr std::string_view kPrefix = "sha256:";
    return id.size() == kPrefix.size() + 64 && id.starts_with(kPrefix) &&
           id.find_first_not_of("0123456789abcdef", kPrefix.size()) == std::string::npos;
}

// The names the registry's records are stored under, as the writers checked them.
Status check_registry_names(const Registry& reg) {
    for (const auto& [key, image] : reg.images) {
        LXBOX_TRY_CTX(validate_name(key), "image");
        if (image.name != key) return Error(ErrorKind::Invalid, "image '" + printable(key) + "' is recorded as '" + printable(image.name) + "'");
        for (const auto& id : image.layers)
            if (!is_layer_id(id)) return Error(ErrorKind::Invalid, "image '" + printable(key) + "' has a bad layer id");
    }
    for (const auto& [key, container] : reg.containers) {
        LXBOX_TRY_CTX(validate_name(key), "container");
        if (container.name != key)
            return Error(ErrorKind::Invalid, "container '" + printable(key) + "' is recorded as '" + printable(container.name) + "'");
        LXBOX_TRY_CTX(validate_name(container.image), "container '" + printable(key) + "': its image");
    }
    for (const auto& [id, layer] : reg.layers)
        if (!is_layer_id(id)) return Error(ErrorKind::Invalid, "a layer id is not sha256:<64 hex digits>");
    return {};
}

}  // namespace

Result<Registry> parse_registry(const std::string& text, const std::string& path) {
    Registry reg;
    try {
        reg = nlohmann::json::parse(text).get<Registry>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid, "read " + path + ": " + e.what());
    }
    LXBOX_TRY_CTX(check_registry_names(reg), "read " + path);
    return reg;
}

Result<InstanceState> instance_state_of(const nlohmann::json& j) {
    InstanceState s;
    try {
        s = j.get<InstanceState>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid, "read state.json: " + printable(e.what()));
    }
    // The pid is signalled (stop, kill): 0 and -1 would reach a process group or everything.
    if (s.pid <= 0) return Error(ErrorKind::Invalid, "read state.json: pid " + std::to_string(s.pid) + " is not a process");
    return s;
}

Result<InstanceState> parse_instance_state(const std::string& text) {
    try {
        return instance_state_of(nlohmann::json::parse(text));
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid, "read state.json: " + printable(e.what()));
    }
}

std::string now_rfc3339() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

// An flock on registry.lock, held for the object's lifetime. A separate lock file (not
// registry.json itself) because registry.json is replaced by rename on every write.
class RegistryLock {
public:
    static Result<RegistryLock> take(const std::string& root, int operation) {
        auto fd = LXBOX_TRY(open_fd(root + "/registry.lock", O_RDWR | O_CREAT, 0644));
        while (::flock(fd.get(), operation) != 0) {
            if (errno != EINTR) return Error::last("lock " + root + "/registry.lock");
        }
        return RegistryLock(std::move(fd));
    }

private:
    explicit RegistryLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;  // closing it releases the lock
};

Result<Registry> read_registry(const std::string& root) {
    const std::string path = root + "/registry.json";
    auto text = read_file(path);
    if (!text) {
        if (text.error().kind == ErrorKind::NotFound) return Registry{};
        return std::move(text).error();
    }
    return parse_registry(*text, path);
}

}  // namespace

Result<Registry> Store::load() const {
    auto lock = LXBOX_TRY(RegistryLock::take(root_, LOCK_SH));
    return read_registry(root_);
}

Status Store::update(const std::function<Status(Registry&)>& fn, const std::function<void()>& after_write) {
    auto lock = LXBOX_TRY(RegistryLock::take(root_, LOCK_EX));
    Registry reg = LXBOX_TRY(read_registry(root_));
    const std::string before = nlohmann::json(reg).dump(2) + "\n";
    LXBOX_TRY(fn(reg));
    // Most updates on the launch path find what they need already there (an existing
    // container): no write, no fsync.
    if (nlohmann::json(reg).dump(2) + "\n" != before) {
        // A version 1 file becomes version 2 on its first change: its records read the same.
        reg.version = Registry::kVersion;
        const std::string after = nlohmann::json(reg).dump(2) + "\n";
        spdlog::debug("write {}/registry.json", root_);
        LXBOX_TRY(write_file_atomic(root_ + "/registry.json", after));
    }
    if (after_write) after_write();
    return {};
}

Status Store::with_lock(const std::function<Status(const Registry&)>& fn) {
    auto lock = LXBOX_TRY(RegistryLock::take(root_, LOCK_EX));
    const Registry reg = LXBOX_TRY(read_registry(root_));
    return fn(reg);
}

Status Store::with_lock_raw(const std::function<Status(const Result<Registry>&)>& fn) {
    auto lock = LXBOX_TRY(RegistryLock::take(root_, LOCK_EX));
    return fn(read_registry(root_));
}

}  // namespace lxbox::store
