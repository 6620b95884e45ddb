// The effects half of `lxbox check`: what the store holds, read under its locks, and the
// repairs plan_check() chose, made before the locks are released.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/check.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::store {

namespace {

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(std::move(n));
    }
    ::closedir(d);
    return out;
}

// A name with its owner's liveness when it is a work name.
FolderEntry entry_of(const std::string& name, const std::string& work_part) {
    FolderEntry e{name, std::nullopt};
    if (auto owner = parse_work_dir_name(work_part)) e.owner_alive = owner_alive(*owner);
    return e;
}

// A registered container: busy when a launch holds its lock or its instance is alive. The lock
// is taken here without waiting and kept (in held) until the repairs are done, so no launch
// starts it meanwhile and finds its cgroup removed.
ContainerFacts container_facts(const Store& store, const std::string& name, std::vector<UniqueFd>& held) {
    ContainerFacts f;
    const std::string dir = store.container_dir(name);
    if (auto lock = open_fd(dir + "/lock", O_RDWR | O_CLOEXEC)) {
        if (::flock(lock->get(), LOCK_EX | LOCK_NB) != 0) f.busy = true;
        else held.push_back(std::move(*lock));
    }
    if (auto text = read_file(dir + "/state.json")) {
        // pid + start time, as running_instance() checks (which would remove the file).
        auto s = parse_instance_state(*text);
        if (s && owner_alive(WorkOwner{s->pid, s->start_time})) f.busy = true;
        else f.stale_state = true;
    }
    for (const auto& n : list_dir(dir))
        if (n.starts_with("state.json.tmp.")) f.temp_files.push_back(n);
    return f;
}

// Mount points below root (octal escapes of mountinfo decoded for the common \040).
std::vector<FolderEntry> mounts_below(const std::string& root) {
    std::vector<FolderEntry> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    const std::string containers = root + "/containers/";
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, dev, source, point;
        fields >> id >> parent >> dev >> source >> point;
        for (size_t p; (p = point.find("\\040")) != std::string::npos;) point.replace(p, 4, " ");
        if (!point.starts_with(root + "/")) continue;
        std::string entry;
        if (point.starts_with(containers)) entry = point.substr(containers.size(), point.find('/', containers.size()) - containers.size());
        out.push_back(entry_of(point, entry));
    }
    return out;
}

CheckInput gather(Store& store, const Result<Registry>& reg, const CgroupAccess& cgroups, std::vector<UniqueFd>& held) {
    CheckInput in;
    in.root = store.root();
    if (reg) in.registry = *reg;
    else in.registry_error = reg.error().message;
    for (const char* folder : {"images", "containers", "layers/sha256", "tmp"}) {
        auto& entries = in.folders[folder];
        for (const auto& n : list_dir(in.root + "/" + folder)) entries.push_back(entry_of(n, n));
    }
    for (const auto& n : list_dir(in.root))
        if (n.starts_with("registry.json.tmp.") || n.starts_with("config.json.tmp.")) in.root_temps.push_back(n);
    for (const auto& [name, c] : in.registry.containers) in.containers[name] = container_facts(store, name, held);
    in.cgroup_prefix = cgroups.prefix;
    if (cgroups.list) {
        if (auto names = cgroups.list()) {
            for (const auto& n : *names) in.cgroups.push_back(entry_of(n, n.substr(std::min(n.size(), cgroups.prefix.size()))));
        } else {
            spdlog::debug("check: {}", names.error().message);
        }
    }
    in.mounts = mounts_below(in.root);
    return in;
}

Status apply(const Finding& f, const CgroupAccess& cgroups) {
    switch (f.repair) {
        case Repair::RemoveTree: return remove_work(f.target);
        case Repair::RemoveFile:
        case Repair::ClearState:
            if (::unlink(f.target.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + f.target);
            return {};
        case Repair::RemoveCgroup:
            if (!cgroups.remove) return Error(ErrorKind::Unsupported, "no cgroup access");
            return cgroups.remove(f.target);
        case Repair::Unmount:
            if (::umount2(f.target.c_str(), MNT_DETACH) != 0 && errno != EINVAL) return Error::last("unmount " + f.target);
            return {};
        case Repair::None: break;
    }
    return {};
}

}  // namespace

Result<std::vector<Finding>> check_store(Store& store, const CgroupAccess& cgroups, bool dry_run) {
    std::vector<Finding> findings;
    // The config lock too: config.json's temp files are named under it (host/config).
    const std::string config_lock = store.root() + "/config.lock";
    auto lock = LXBOX_TRY(open_fd(config_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR) return Error::last("lock " + config_lock);
    LXBOX_TRY(store.with_lock_raw([&](const Result<Registry>& reg) -> Status {
        std::vector<UniqueFd> held;  // the idle containers' locks, until the repairs are done
        findings = plan_check(gather(store, reg, cgroups, held));
        if (dry_run) return {};
        // Mounts first: a tree is removed only once nothing is mounted in it.
        std::stable_partition(findings.begin(), findings.end(), [](const Finding& f) { return f.repair == Repair::Unmount; });
        for (auto& f : findings) {
            if (f.repair == Repair::None) continue;
            if (auto st = apply(f, cgroups)) f.repaired = true;
            else f.error = st.error().message;
        }
        return {};
    }));
    return findings;
}

}  // namespace lxbox::store
