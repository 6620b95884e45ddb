// The Cgroup RAII type: executes the plan of layout.cpp/limits.cpp in each hierarchy, and
// tears the cgroup down (kill, wait, rmdir) when the container is done.
#include "runtime/cgroups/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <string_view>
#include <chrono>
#include <thread>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"

namespace lxbox::cgroups {

namespace detail {

bool permission_errno(int err) {
    return err == EACCES || err == EPERM || err == EROFS;
}

namespace {

// Removes the child cgroups a container made below its own (a nested runtime or systemd in
// the container), deepest first, killing what they hold. v1 lists only a group's own
// processes in cgroup.procs, so each level is killed separately.
void evict_tree(const std::string& dir) {
    if (DIR* d = ::opendir(dir.c_str())) {
        std::vector<std::string> children;
        while (dirent* e = ::readdir(d))
            if (e->d_type == DT_DIR && std::string_view(e->d_name) != "." &&
                std::string_view(e->d_name) != "..")
                children.push_back(dir + "/" + e->d_name);
        ::closedir(d);
        for (const auto& child : children) {
            evict_tree(child);
            if (::rmdir(child.c_str()) == 0) spdlog::debug("cgroup: rmdir {}", child);
        }
    }
    if (auto st = kill_listed_processes(dir); !st.ok())
        spdlog::debug("cgroup: {}", st.error().message);
}

}  // namespace

Result<std::vector<pid_t>> read_cgroup_pids(const std::string& dir) {
    auto text = LXBOX_TRY(read_file(dir + "/cgroup.procs"));
    std::vector<pid_t> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        pid_t pid = 0;
        auto [p, ec] = std::from_chars(text.data() + pos, text.data() + end, pid);
        if (ec == std::errc() && pid > 0) out.push_back(pid);
        pos = end + 1;
    }
    return out;
}

Status write_cgroup_file(const std::string& path, const std::string& value) {
    spdlog::debug("cgroup: write '{}' to {}", value, path);
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    int err = errno;
    UniqueFd owner(fd);
    if (fd >= 0 && ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size()))
        return {};
    if (fd >= 0) err = errno;
    // A cgroup file takes one value per write(2); a short write is the kernel refusing it.
    ErrorKind kind = permission_errno(err) ? ErrorKind::Unsupported
                     : err == ENOENT       ? ErrorKind::NotFound
                     : err == EINVAL       ? ErrorKind::Invalid
                                           : ErrorKind::System;
    return Error::sys(err, "write '" + value + "' to " + path, kind);
}

Status write_limits(const std::string& dir, const std::vector<Write>& writes) {
    for (const auto& w : writes) {
        if (w.file == kDeviceProgram) {
            auto rules = LXBOX_TRY(decode_device_rules(w.value));
            LXBOX_TRY(attach_device_program(dir, compile_device_program(rules)).context("set the device rules"));
            continue;
        }
        const std::string path = dir + "/" + w.file;
        auto st = write_cgroup_file(path, w.value);
        if (!st.ok() && w.if_present && st.error().errno_value == ENOENT) {
            spdlog::debug("cgroup: {} absent (no swap accounting), skipped", path);
            continue;
        }
        if (!st.ok()) return std::move(st).context("set the " + w.controller + " limit");
    }
    return {};
}

}  // namespace detail

namespace {

struct Placement {
    CgroupMounts mounts;
    OwnCgroups own;
};

Result<Placement> current_placement() {
    auto mountinfo = LXBOX_TRY(read_file("/proc/self/mountinfo"));
    auto own = LXBOX_TRY(read_file("/proc/self/cgroup"));
    return Placement{parse_cgroup_mounts(mountinfo), parse_proc_cgroup(own)};
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// The hierarchy's name in messages: "the memory cgroup v1 hierarchy" / "the cgroup v2 hierarchy".
std::string describe(const Hierarchy& h) {
    return h.v2 ? "the cgroup v2 hierarchy" : "the " + h.label + " cgroup v1 hierarchy";
}

}  // namespace

Status Cgroup::make_dir(const Hierarchy& h) {
    if (!h.path.empty()) return make_dir_at(h);
    const size_t made = dirs_.size();
    auto st = make_dir_once(h);
    // A failure before the container's own directory exists must not leave an empty "lxbox"
    // group behind; rmdir removes it only if empty, so a concurrent user keeps it.
    if (!st.ok() && dirs_.size() == made && ::rmdir(h.parent_dir().c_str()) == 0)
        spdlog::debug("cgroup: rmdir {}", h.parent_dir());
    return st;
}

Status Cgroup::make_dir_once(const Hierarchy& h) {
    const std::string parent = h.parent_dir(), target = parent + "/" + name_;
    // A few rounds: the last container of another launch may take the empty parent away
    // between our mkdirs (its remove() removes the parent it leaves empty).
    for (int round = 0; round < 10; ++round) {
        bool parent_is_new = ::mkdir(parent.c_str(), 0755) == 0;
        if (parent_is_new)
            spdlog::debug("cgroup: mkdir {}", parent);
        else if (errno != EEXIST) {
            int err = errno;
            if (detail::permission_errno(err))
                return Error::sys(
                    err, "create " + parent + " (this user cannot write " + describe(h) + ")",
                    ErrorKind::Unsupported);
            return Error::sys(err, "create " + parent);
        }
        if (h.v2) {
            auto enabled = detail::v2_enable_controllers(h, parent_is_new);
            if (!enabled && enabled.error().errno_value == ENOENT) continue;  // the parent went
            LXBOX_TRY(std::move(enabled));
        }

        if (::mkdir(target.c_str(), 0755) == 0) {
            spdlog::debug("cgroup: mkdir {}", target);
            dirs_.push_back(Dir{target, h.v2, h.label == "memory" || has(h.enable, "memory"), true});
            return detail::write_limits(target, h.writes);
        }
        int err = errno;
        if (err == ENOENT) continue;
        if (err == EEXIST) {
            // Left by a run that crashed before its remove(): adopt the name if it is empty.
            if (::rmdir(target.c_str()) == 0) {
                spdlog::debug("cgroup: rmdir stale {}", target);
                continue;
            }
            if (errno == EBUSY)
                return Error(
                    ErrorKind::Busy,
                    "cgroup " + target + " already exists and is in use (container running?)");
            return Error::last("remove the stale cgroup " + target);
        }
        if (detail::permission_errno(err))
            return Error::sys(err,
                              "create " + target + " (this user cannot write " + describe(h) + ")",
                              ErrorKind::Unsupported);
        return Error::sys(err, "create " + target);
    }
    return Error(ErrorKind::Busy, "create " + target + ": its parent keeps disappearing");
}

Status Cgroup::make_dir_at(const Hierarchy& h) {
    const std::string target = h.target(name_);
    // The directories above the cgroup, made where missing. On a failure, those made here go.
    std::vector<std::string> made;
    auto undo = [&](Status st) {
        for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
        return st;
    };
    std::string dir = h.base;
    std::vector<std::string> chain{h.base};  // v2: each one hands the controllers down
    for (size_t b = 0; b < h.path.size();) {
        size_t e = h.path.find('/', b);
        if (e == std::string::npos) e = h.path.size();
        const std::string parent = dir;
        dir += "/" + h.path.substr(b, e - b);
        b = e + 1;
        if (::mkdir(dir.c_str(), 0755) == 0) {
            spdlog::debug("cgroup: mkdir {}", dir);
            made.push_back(dir);
            // A new v1 cpuset group starts with no CPUs and no memory nodes: no process could
            // join it. It gets its parent's, as runc does.
            if (!h.v2 && h.label == "cpuset")
                for (const char* f : {"cpuset.cpus", "cpuset.mems"})
                    if (auto v = read_file(parent + "/" + f); v && *v != "\n")
                        if (auto st = detail::write_cgroup_file(dir + "/" + f, *v); !st.ok()) return undo(std::move(st));
        } else if (errno == EEXIST) {
            if (dir == target) {
                // An existing cgroup is used (an engine may make it first), if nothing runs in it.
                auto pids = detail::read_cgroup_pids(dir);
                if (pids && !pids->empty())
                    return Error(ErrorKind::Busy, "cgroup " + dir + " already holds processes (container running?)");
            }
        } else {
            int err = errno;
            return undo(Error::sys(err, "create " + dir + (detail::permission_errno(err) ? " (this user cannot write " + describe(h) + ")" : ""),
                                   detail::permission_errno(err) ? ErrorKind::Unsupported : ErrorKind::System));
        }
        if (dir != target) chain.push_back(dir);
    }
    if (h.v2 && !h.enable.empty())
        for (const auto& d : chain)
            if (auto st = detail::v2_hand_down(d, h.enable); !st.ok()) return undo(std::move(st));
    // Owned from here: remove() takes the cgroup itself (not the directories above it, but for
    // the "lxbox" group of lxbox's own place, where an OCI container without a cgroupsPath goes).
    dirs_.push_back(Dir{target, h.v2, h.label == "memory" || has(h.enable, "memory"),
                        h.base == h.own_dir && h.path == "lxbox/" + name_});
    if (made.empty() || made.back() != target) made.clear();
    else made.pop_back();
    if (auto st = detail::write_limits(target, h.writes); !st.ok()) return undo(std::move(st));
    return {};
}

Result<Cgroup> Cgroup::create_in(const CgroupMounts& mounts, const OwnCgroups& own,
                                 const std::string& name, const Limits& limits) {
    const std::string what = "create cgroup " + name;
    LXBOX_TRY_CTX(validate_name(name), what);
    LXBOX_TRY_CTX(validate_limits(limits), what);
    auto plan = LXBOX_TRY_CTX(plan_hierarchies(mounts, own, limits), what);
    // Built up one hierarchy at a time: on a failure half way, its destructor removes what
    // was made.
    Cgroup cg(name, true);
    for (const auto& h : plan) LXBOX_TRY_CTX(cg.make_dir(h), what);
    return cg;
}

Result<Cgroup> Cgroup::create_in(const CgroupMounts& mounts, const OwnCgroups& own, const std::string& name,
                                 const std::vector<Write>& v1, const std::vector<Write>& v2, const Place& place) {
    const std::string what = "create cgroup " + (place.cgroups_path.empty() ? name : place.cgroups_path);
    LXBOX_TRY_CTX(validate_name(name), what);
    auto plan = LXBOX_TRY_CTX(plan_hierarchies(mounts, own, v1, v2, place), what);
    Cgroup cg(name, true);
    for (const auto& h : plan) LXBOX_TRY_CTX(cg.make_dir(h), what);
    return cg;
}

Result<Cgroup> Cgroup::create(const std::string& name, const std::vector<Write>& v1, const std::vector<Write>& v2,
                              const Place& place) {
    auto where = LXBOX_TRY_CTX(current_placement(), "create cgroup " + name);
    return create_in(where.mounts, where.own, name, v1, v2, place);
}

Result<Cgroup> Cgroup::create(const std::string& name, const Limits& limits) {
    auto where = LXBOX_TRY_CTX(current_placement(), "create cgroup " + name);
    return create_in(where.mounts, where.own, name, limits);
}

// Every hierarchy create() may have used for a container at lxbox's own place: the membership
// one and each limit's.
static std::vector<Hierarchy> lxbox_hierarchies(const CgroupMounts& mounts, const OwnCgroups& own) {
    std::vector<Hierarchy> candidates;
    auto add = [&](const Limits& l) {
        auto plan = plan_hierarchies(mounts, own, l);
        if (!plan) return;
        for (auto& h : *plan)
            if (std::none_of(candidates.begin(), candidates.end(),
                             [&](auto& c) { return c.own_dir == h.own_dir; }))
                candidates.push_back(std::move(h));
    };
    // The all-limits plan first, so the order of paths() is the order create() used.
    add(Limits{1, 1.0, 1, default_device_rules()});
    add(Limits{});
    add(Limits{1, std::nullopt, std::nullopt, {}});
    add(Limits{std::nullopt, 1.0, std::nullopt, {}});
    add(Limits{std::nullopt, std::nullopt, 1, {}});
    add(Limits{std::nullopt, std::nullopt, std::nullopt, default_device_rules()});

    return candidates;
}

Result<Cgroup> Cgroup::open_existing_in(const CgroupMounts& mounts, const OwnCgroups& own,
                                        const std::string& name) {
    LXBOX_TRY_CTX(validate_name(name), "open cgroup " + name);
    const std::vector<Hierarchy> candidates = lxbox_hierarchies(mounts, own);
    Cgroup cg(name, false);
    for (const auto& h : candidates) {
        const std::string target = h.parent_dir() + "/" + name;
        struct stat st {};
        if (::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            cg.dirs_.push_back(Dir{target, h.v2, h.label == "memory" || h.v2, true});
    }
    if (cg.dirs_.empty())
        return Error(
            ErrorKind::NotFound,
            "open cgroup " + name + ": no lxbox cgroup of that name below this process's cgroups");
    return cg;
}

Result<Cgroup> Cgroup::open_existing(const std::string& name) {
    auto where = LXBOX_TRY_CTX(current_placement(), "open cgroup " + name);
    return open_existing_in(where.mounts, where.own, name);
}

Result<std::vector<std::string>> Cgroup::list_lxbox_groups(const std::string& prefix) {
    auto where = LXBOX_TRY_CTX(current_placement(), "list lxbox cgroups");
    std::set<std::string> names;
    for (const auto& h : lxbox_hierarchies(where.mounts, where.own)) {
        DIR* d = ::opendir(h.parent_dir().c_str());
        if (!d) continue;
        while (auto* e = ::readdir(d))
            if (e->d_type == DT_DIR && std::string_view(e->d_name).starts_with(prefix)) names.insert(e->d_name);
        ::closedir(d);
    }
    return std::vector<std::string>(names.begin(), names.end());
}

Result<Cgroup> Cgroup::open_leftover(const std::string& name) {
    auto cg = LXBOX_TRY(open_existing(name));
    cg.owned_ = true;
    return cg;
}

void Cgroup::remove_lxbox_group(const Dir& d) {
    if (!d.in_lxbox_group) return;
    const std::string parent = d.path.substr(0, d.path.rfind('/'));
    if (::rmdir(parent.c_str()) == 0) spdlog::debug("cgroup: rmdir {}", parent);
}

Cgroup Cgroup::adopt(const std::string& name, const std::vector<std::string>& paths) {
    Cgroup cg(name, true);
    for (const auto& p : paths) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        // Only a v2 group has cgroup.controllers.
        const bool v2 = ::access((p + "/cgroup.controllers").c_str(), F_OK) == 0;
        cg.dirs_.push_back(Dir{p, v2, v2 || ::access((p + "/memory.limit_in_bytes").c_str(), F_OK) == 0,
                               p.ends_with("/lxbox/" + name)});
    }
    return cg;
}

Status Cgroup::add_process(pid_t pid) {
    for (const auto& d : dirs_) {
        auto st = detail::write_cgroup_file(d.path + "/cgroup.procs", std::to_string(pid));
        if (!st.ok() && st.error().errno_value == ESRCH) st.error().kind = ErrorKind::NotFound;
        LXBOX_TRY_CTX(std::move(st), "add process " + std::to_string(pid) + " to cgroup " + name_);
    }
    return {};
}

Status join_cgroups_of(pid_t member, pid_t pid) {
    const Placement here = LXBOX_TRY(current_placement());
    const auto theirs = parse_proc_cgroup(LXBOX_TRY(read_file("/proc/" + std::to_string(member) + "/cgroup")));
    std::vector<std::string> dirs;
    for (const auto& [key, path] : theirs) {
        const auto v1 = here.mounts.v1_controllers.find(key);
        const std::string mountpoint = key.empty() ? here.mounts.v2_path
                                       : v1 != here.mounts.v1_controllers.end() ? v1->second
                                                                                : "";
        if (mountpoint.empty()) continue;  // a hierarchy this host does not mount
        const auto root = here.mounts.roots.find(mountpoint);
        const std::string dir =
            LXBOX_TRY(dir_in_mount(mountpoint, root == here.mounts.roots.end() ? "/" : root->second, path));
        if (!has(dirs, dir)) dirs.push_back(dir);  // co-mounted controllers (cpu,cpuacct) once
    }
    for (const auto& dir : dirs)
        LXBOX_TRY_CTX(detail::write_cgroup_file(dir + "/cgroup.procs", std::to_string(pid)),
                      "add process " + std::to_string(pid) + " to cgroup " + dir);
    return {};
}

bool Cgroup::oom_killed() const {
    return std::any_of(dirs_.begin(), dirs_.end(), [](const Dir& d) {
        return d.memory && (d.v2 ? detail::v2_oom_killed(d.path) : detail::v1_oom_killed(d.path));
    });
}

Status Cgroup::remove() {
    if (!owned_) {
        dirs_.clear();
        return {};
    }
    // The common case is an empty cgroup (the container exited and was reaped): one rmdir
    // per hierarchy, nothing read. Only a busy one pays for killing and waiting.
    // The bound keeps a process stuck in D state from hanging lxbox.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto pause = std::chrono::milliseconds(1);
    Status result;
    while (!dirs_.empty()) {
        bool busy = false;
        for (auto it = dirs_.begin(); it != dirs_.end();) {
            if (::rmdir(it->path.c_str()) == 0 || errno == ENOENT) {
                spdlog::debug("cgroup: rmdir {}", it->path);
                // An empty "lxbox" group would stay in every hierarchy after the last container
                // (docker's and systemd's stay, but lxbox has no daemon to keep one for).
                remove_lxbox_group(*it);
                it = dirs_.erase(it);
                continue;
            }
            if (errno != EBUSY) {
                if (result.ok()) result = Error::last("remove cgroup " + it->path);
                it = dirs_.erase(it);
                continue;
            }
            busy = true;
            // cgroup.kill takes the whole v2 subtree at once, forks in flight included
            // (Linux 5.14+); evict_tree kills by pid list (v1, older v2) and removes the child
            // groups a container may have made.
            if (it->v2)
                if (auto st = detail::v2_kill(it->path); !st.ok())
                    spdlog::debug("cgroup: {}", st.error().message);
            detail::evict_tree(it->path);
            ++it;
        }
        if (!busy) break;
        if (std::chrono::steady_clock::now() > deadline) {
            if (result.ok())
                result =
                    Error(ErrorKind::Busy, "remove cgroup " + dirs_.front().path +
                                               ": still in use 5 s after killing its processes");
            dirs_.clear();
            break;
        }
        // Killed processes take a few ms to exit.
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    return result;
}

void Cgroup::remove_if_empty() {
    // rmdir refuses a cgroup with processes or children (EBUSY): nothing else to check.
    for (const auto& d : dirs_)
        if (::rmdir(d.path.c_str()) == 0) {
            spdlog::debug("cgroup: rmdir {}", d.path);
            remove_lxbox_group(d);
        }
    dirs_.clear();
}

void Cgroup::release() {
    dirs_.clear();
}

std::vector<std::string> Cgroup::paths() const {
    std::vector<std::string> out;
    for (const auto& d : dirs_) out.push_back(d.path);
    return out;
}

namespace {

// The freezer of a cgroup's directories: one mechanism only. The v1 freezer where the freezer
// controller is bound to v1 (a task it froze never reaches the v2 freezer's stop, so a hybrid
// host's v2 tree would never report frozen), else v2's cgroup.freeze.
struct Freezer {
    std::string dir;
    bool v2 = false;
    std::string file() const { return dir + (v2 ? "/cgroup.freeze" : "/freezer.state"); }
    bool reports(bool frozen) const {
        if (v2) {
            auto events = read_file(dir + "/cgroup.events");
            return events && detail::keyed_value(*events, "frozen").value_or(2) == (frozen ? 1u : 0u);
        }
        auto state = read_file(dir + "/freezer.state");
        return state && *state == (frozen ? "FROZEN\n" : "THAWED\n");
    }
};

std::optional<Freezer> freezer_of(const std::vector<std::string>& paths) {
    for (const auto& p : paths)
        if (::access((p + "/freezer.state").c_str(), F_OK) == 0) return Freezer{p, false};
    for (const auto& p : paths)
        if (::access((p + "/cgroup.freeze").c_str(), F_OK) == 0) return Freezer{p, true};
    return std::nullopt;
}

}  // namespace

Status set_frozen(const std::vector<std::string>& paths, bool frozen) {
    const auto f = freezer_of(paths);
    if (!f) return Error(ErrorKind::Unsupported, "the container's cgroup has no freezer");
    LXBOX_TRY(detail::write_cgroup_file(f->file(), f->v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED")));
    // Freezing takes until every task has stopped (v1 shows FREEZING meanwhile).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!f->reports(frozen)) {
        if (std::chrono::steady_clock::now() > deadline)
            return Error(ErrorKind::Busy, std::string(frozen ? "freeze " : "thaw ") + f->dir + ": not done after 5 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
}

bool is_frozen(const std::vector<std::string>& paths) {
    const auto f = freezer_of(paths);
    return f && f->reports(true);
}

Cgroup::Cgroup(Cgroup&& o) noexcept
    : name_(std::move(o.name_)),
      dirs_(std::exchange(o.dirs_, {})),
      owned_(std::exchange(o.owned_, false)) {}

Cgroup& Cgroup::operator=(Cgroup&& o) noexcept {
    if (this != &o) {
        if (auto st = remove(); !st.ok()) spdlog::warn("{}", st.error().message);
        name_ = std::move(o.name_);
        dirs_ = std::exchange(o.dirs_, {});
        owned_ = std::exchange(o.owned_, false);
    }
    return *this;
}

Cgroup::~Cgroup() {
    // The one place an error is logged rather than returned: a destructor has no caller to tell.
    if (auto st = remove(); !st.ok()) spdlog::warn("{}", st.error().message);
}

}  // namespace lxbox::cgroups
