// The store's directories, names, containers and instance state.
#include "runtime/store/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <charconv>
#include <set>

#include "runtime/base/log.hpp"
#include "runtime/base/printable.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/stale.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::store {

Status validate_name(const std::string& name) {
    if (name.empty()) return Error(ErrorKind::Invalid, "a name cannot be empty");
    const std::string shown = "name '" + printable(name) + "'";
    if (name.size() > 64) return Error(ErrorKind::Invalid, shown + " is longer than 64 characters");
    if (name[0] == '.' || name[0] == '-')
        return Error(ErrorKind::Invalid, shown + " cannot start with '" + name[0] + "'");
    for (char c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            return Error(ErrorKind::Invalid, shown + " may hold only letters, digits, '.', '_' and '-'");
    }
    return {};
}

std::string default_root(const char* lxbox_root_env, const char* xdg_data_home_env, const char* home_env) {
    if (lxbox_root_env && *lxbox_root_env) return lxbox_root_env;
    if (xdg_data_home_env && *xdg_data_home_env) return std::string(xdg_data_home_env) + "/lxbox";
    if (home_env && *home_env) return std::string(home_env) + "/.local/share/lxbox";
    return "/var/lib/lxbox";
}

static Status make_dir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return Error::last("create " + path);
    return {};
}

static Status make_dirs(const std::string& path, mode_t mode) {
    for (size_t pos = 1; (pos = path.find('/', pos)) != std::string::npos; ++pos)
        LXBOX_TRY(make_dir(path.substr(0, pos), 0755));
    return make_dir(path, mode);
}

Result<Store> Store::open(const std::string& root, bool clean) {
    if (root.empty() || root[0] != '/')
        return Error(ErrorKind::Invalid, "store root '" + root + "' must be an absolute path");
    LXBOX_TRY_CTX(make_dirs(root, 0700), "open store " + root);
    for (const char* sub : {"/images", "/containers"})
        LXBOX_TRY_CTX(make_dir(root + sub, 0700), "open store " + root);
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) return Error::last("open store " + root);
    char id[40];
    std::snprintf(id, sizeof id, "%llx.%llx", static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    Store store(root, id);
    if (clean) LXBOX_TRY_CTX(store.clean_stale(), "open store " + root);
    return store;
}

Result<ContainerRecord> Store::ensure_container(const std::string& name, const std::string& image,
                                                const std::string& backend, bool integrated) {
    LXBOX_TRY(validate_name(name));
    ContainerRecord out;
    LXBOX_TRY(update([&](Registry& reg) -> Status {
        if (auto it = reg.containers.find(name); it != reg.containers.end()) {
            if (it->second.image != image)
                return Error(ErrorKind::Exists, "container '" + name + "' exists and was made from '" +
                                                    it->second.image + "', not '" + image + "'");
            if (it->second.backend != backend)
                return Error(ErrorKind::Exists, "container '" + name + "' lives on the " + it->second.backend +
                                                    " backend, not the " + backend + " one");
            out = it->second;
            return {};
        }
        if (!reg.images.count(image)) return Error(ErrorKind::NotFound, "no distro named '" + image + "'");
        const std::string dir = container_dir(name);
        LXBOX_TRY(make_dir(dir, 0700));
        for (const char* sub : {"/upper", "/work", "/rootfs"}) LXBOX_TRY(make_dir(dir + sub, 0755));
        out = ContainerRecord{name, image, now_rfc3339(), backend, integrated};
        reg.containers[name] = out;
        spdlog::debug("created container {} from {}", name, image);
        return {};
    }));
    return out;
}

Status Store::remove_container(const std::string& name) {
    const std::string trash = root_ + "/containers/" + work_dir_name("trash", self_owner(), name);
    LXBOX_TRY(update(
        [&](Registry& reg) -> Status {
            if (!reg.containers.count(name)) return Error(ErrorKind::NotFound, "no container named '" + name + "'");
            auto inst = LXBOX_TRY(running_instance(name));
            if (inst)
                return Error(ErrorKind::Busy, "container '" + name + "' is running (pid " +
                                                  std::to_string(inst->pid) + "): stop it first");
            reg.containers.erase(name);
            return {};
        },
        // Renamed once the record is gone, still under the lock: a kill before the rename
        // leaves an unregistered dir that clean_stale() removes, one after it a trash dir; never
        // a registered container whose dir is missing.
        [&] {
            if (::rename(container_dir(name).c_str(), trash.c_str()) != 0 && errno != ENOENT)
                spdlog::warn("remove container {}: {}", name, Error::last("rename").message);
        }));
    // After the registry write: a failure here leaves only a trash dir for clean_stale().
    return remover_ ? remover_(trash) : remove_tree(trash);
}

Result<std::optional<InstanceState>> Store::running_instance(const std::string& name) const {
    const std::string path = container_dir(name) + "/state.json";
    auto text = read_file(path);
    if (!text) {
        if (text.error().kind == ErrorKind::NotFound) return std::optional<InstanceState>{};
        return std::move(text).error();
    }
    InstanceState s;
    try {
        s = nlohmann::json::parse(*text).get<InstanceState>();
    } catch (const nlohmann::json::exception&) {
        ::unlink(path.c_str());  // torn by a crash: the instance cannot be trusted to exist
        return std::optional<InstanceState>{};
    }
    if (!owner_alive(WorkOwner{s.pid, s.start_time})) {
        spdlog::debug("container {}: pid {} is gone, clearing stale state", name, s.pid);
        ::unlink(path.c_str());
        return std::optional<InstanceState>{};
    }
    return std::optional<InstanceState>{s};
}

Status Store::write_instance(const std::string& name, const InstanceState& s) {
    // A crash kills the instance too, and running_instance() drops a state whose process is
    // gone: atomic for readers is enough, the fsyncs would only slow every launch.
    return write_file_atomic(container_dir(name) + "/state.json", nlohmann::json(s).dump() + "\n",
                             Durability::RenameOnly);
}

Status Store::clear_instance(const std::string& name) {
    const std::string path = container_dir(name) + "/state.json";
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + path);
    return {};
}

}  // namespace lxbox::store
