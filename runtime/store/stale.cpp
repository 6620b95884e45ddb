#include "runtime/store/stale.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <functional>
#include <string_view>
#include <vector>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::store {

std::string work_dir_name(const std::string& kind, const WorkOwner& owner, const std::string& name) {
    return "." + kind + "-" + std::to_string(owner.pid) + "-" + std::to_string(owner.start_time) + "-" + name;
}

std::optional<WorkOwner> parse_work_dir_name(const std::string& dir_name) {
    std::string_view s = dir_name;
    if (s.empty() || s[0] != '.') return std::nullopt;
    auto dash = s.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    s.remove_prefix(dash + 1);
    WorkOwner owner;
    auto r1 = std::from_chars(s.data(), s.data() + s.size(), owner.pid);
    if (r1.ec != std::errc() || r1.ptr == s.data() + s.size() || *r1.ptr != '-') return std::nullopt;
    s.remove_prefix(static_cast<size_t>(r1.ptr - s.data()) + 1);
    auto r2 = std::from_chars(s.data(), s.data() + s.size(), owner.start_time);
    if (r2.ec != std::errc() || r2.ptr == s.data() + s.size() || *r2.ptr != '-') return std::nullopt;
    if (owner.pid <= 0) return std::nullopt;
    return owner;
}

WorkOwner self_owner() {
    WorkOwner o;
    o.pid = ::getpid();
    o.start_time = linux_fx::process_start_time(o.pid).value_or(0);
    return o;
}

bool owner_alive(const WorkOwner& owner) {
    // A zombie is dead: a launcher killed -9 leaves its container's init to be reaped by PID 1,
    // which may take its time (seen: seconds), and its state and cgroup must not look busy.
    auto st = linux_fx::proc_stat(owner.pid);
    return st && st->start_time == owner.start_time && st->state != 'Z' && st->state != 'X';
}

PublishRecord::PublishRecord(std::string tmp_dir) {
    static std::atomic<unsigned> counter{0};
    path_ = tmp_dir + "/" + work_dir_name("publish", self_owner(), std::to_string(counter++));
}

PublishRecord::~PublishRecord() {
    if (made_) ::unlink(path_.c_str());
}

Status PublishRecord::name(const std::string& temp_path) {
    if (made_ && ::unlink(path_.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + path_);
    made_ = false;
    if (::symlink(temp_path.c_str(), path_.c_str()) != 0) return Error::last("record " + temp_path + " in " + path_);
    made_ = true;
    return {};
}

Status remove_work(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    if (!leaf.starts_with(".publish-")) return remove_tree(path);
    char target[4096];
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n > 0) {
        const std::string temp(target, static_cast<size_t>(n));
        const auto tslash = temp.rfind('/');
        struct stat st {};
        if (temp.find(kPublishTag, tslash == std::string::npos ? 0 : tslash) != std::string::npos &&
            ::lstat(temp.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(temp.c_str()) != 0 && errno != ENOENT)
            return Error::last("remove " + temp);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::last("remove " + path);
    return {};
}

// Removes, in one store folder, ".import-*"/".trash-*" dirs of dead owners and, for a folder of
// registered objects, dirs that the registry does not know: only an import killed between its
// rename into place and its registry write (both under the lock we hold) leaves one.
static Status clean_folder(const std::string& folder, const std::function<bool(const std::string&)>& known,
                           std::vector<std::string>* removed = nullptr) {
    DIR* d = ::opendir(folder.c_str());
    if (!d) return errno == ENOENT ? Status{} : Error::last("open " + folder);
    std::vector<std::string> stale;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (n[0] == '.') {
            if (auto owner = parse_work_dir_name(n); owner && !owner_alive(*owner)) stale.push_back(n);
        } else if (!known(n)) {
            stale.push_back(n);
        }
    }
    ::closedir(d);
    for (const auto& n : stale) {
        spdlog::info("removing {}/{}, left by an interrupted lxbox", folder, n);
        // Leftovers must not make the store unusable: a dir we cannot remove (files of a
        // rootless container's users) is reported, and the next clean-up tries again.
        if (auto st = remove_work(folder + "/" + n); !st) spdlog::warn("{}", st.error().message);
        if (removed) removed->push_back(n);
    }
    return {};
}

// registry.json's temp files: write_file_atomic names one only between its linkat and its
// rename (O_TMPFILE before), both under the lock held here, so any seen now is a killed
// writer's.
static void clean_registry_temps(const std::string& root) {
    DIR* d = ::opendir(root.c_str());
    if (!d) return;
    std::vector<std::string> stale;
    while (auto* e = ::readdir(d))
        if (std::string_view(e->d_name).starts_with("registry.json.tmp.")) stale.push_back(e->d_name);
    ::closedir(d);
    for (const auto& n : stale) {
        spdlog::info("removing {}/{}, left by an interrupted lxbox", root, n);
        ::unlink((root + "/" + n).c_str());
    }
}

Status Store::clean_stale() {
    // Cheap when there is nothing to do (two readdirs of small folders), and done under the
    // exclusive registry lock so a concurrent import cannot be mistaken for a dead one.
    return with_lock([&](const Registry& reg) -> Status {
        LXBOX_TRY(clean_folder(root_ + "/images", [&](const std::string& n) { return reg.images.count(n) > 0; }));
        clean_registry_temps(root_);
        LXBOX_TRY(clean_folder(root_ + "/containers", [&](const std::string& n) { return reg.containers.count(n) > 0; },
                               &removed_containers_));
        // Layers: unpacks of dead owners, and a layer renamed into place whose record a kill
        // kept from the registry. tmp/: blob writes of dead owners (partial downloads, named
        // without an owner, stay for the next pull to resume).
        LXBOX_TRY(clean_folder(root_ + "/layers/sha256",
                               [&](const std::string& n) { return reg.layers.count("sha256:" + n) > 0; }));
        return clean_folder(root_ + "/tmp", [](const std::string&) { return true; });
    });
}

}  // namespace lxbox::store
