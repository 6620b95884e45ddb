#include "host/cli/oci_create.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "runtime/base/log.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/oci/config.hpp"
#include "runtime/oci/hooks.hpp"
#include "runtime/plan/bundle.hpp"
#include "runtime/plan/idmap.hpp"

namespace lxbox::cli::oci_cli {

std::string now_rfc3339() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000;
    struct tm tm {};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns));
    return buf;
}

std::string absolute_path(const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) return path;
    return path.empty() || path == "." ? std::string(cwd) : std::string(cwd) + "/" + path;
}

Status send_console(const std::string& socket_path, int master) {
    UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) return Error::last("socket");
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path)
        return Error(ErrorKind::Invalid, "--console-socket: path too long: " + socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::last("connect to the console socket " + socket_path);
    return linux_fx::send_fd(sock.get(), master).context("send the pty to " + socket_path);
}

Status detach_root_mount(const std::string& path, uint64_t mount_id) {
    if (path.empty() || mount_id == 0) return {};
    auto now = linux_fx::mount_id(path);
    if (!now || *now != mount_id) return {};
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) return Error::last("unmount the root " + path);
    return {};
}

namespace {

using oci::Record;
using oci::RunState;
using oci::StateDir;

// Ids are unique per --root only: two engines (or tests) may both have a "web"; the cgroup's
// name carries the state root's FNV-1a.
std::string cgroup_name(const StateDir& sd, const std::string& id) {
    uint32_t root_hash = 2166136261u;
    for (unsigned char ch : sd.root()) root_hash = (root_hash ^ ch) * 16777619u;
    char tag[16];
    std::snprintf(tag, sizeof tag, "%08x", root_hash);
    std::string cgroup = "oci-" + std::string(tag) + "-" + id;
    for (char& c : cgroup)
        if (c == '+') c = '_';
    return cgroup;
}

// The bundle's spec with what lxbox-oci adds: names, the cgroup, the exec fifo, the hooks the
// container's process runs itself (it knows its own host pid) and the seccomp cache.
// (config.spec itself is moved in as spec.)
runtime::ContainerSpec container_spec(runtime::ContainerSpec spec, const runtime::oci::Config& config, const StateDir& sd,
                                      const std::string& id, const std::string& cgroup, bool detached,
                                      const std::string& bundle) {
    spec.name = id;
    spec.detached = detached;
    spec.cgroup = cgroup;
    // Without a cgroupsPath, lxbox's own place, but in every hierarchy as for an explicit one
    // (the container's view of /sys/fs/cgroup shows its own cgroup in each).
    if (spec.bundle->cgroups_path.empty()) spec.bundle->cgroups_path = "lxbox/" + cgroup;
    spec.cgroup_optional = ::geteuid() != 0;
    spec.userns.use_helpers = spec.userns.enabled && ::geteuid() != 0;
    spec.bundle->exec_fifo = sd.fifo(id);
    spec.bundle->create_container_hooks = config.hooks.create_container;
    spec.bundle->start_container_hooks = config.hooks.start_container;
    if (!config.hooks.create_container.empty() || !config.hooks.start_container.empty()) {
        Record pending;
        pending.oci_version = config.oci_version;
        pending.id = id;
        pending.bundle = bundle;
        pending.annotations = config.annotations;
        spec.bundle->hook_state = oci::state_json(pending, RunState::Created).dump();
    }
    // A compiled seccomp filter is kept by its hash: the next container with the same profile
    // loads it instead of compiling it again (~15 ms of libseccomp).
    spec.cache_dir = sd.root() + "/.seccomp-cache";
    return spec;
}

// The exec fifo start writes to. The container's process opens it as its own root: with a
// user namespace, the host ids that root maps to own it.
Status make_exec_fifo(const StateDir& sd, const std::string& id, const runtime::ContainerSpec& spec) {
    if (::mkfifo(sd.fifo(id).c_str(), 0600) != 0) return Error::last("create " + sd.fifo(id));
    auto joined = std::find_if(spec.bundle->namespaces.begin(), spec.bundle->namespaces.end(),
                               [](const runtime::NamespaceEntry& n) { return n.type == "user" && !n.path.empty(); });
    if (!spec.userns.enabled && joined == spec.bundle->namespaces.end()) return {};
    runtime::IdMapsView maps{true, spec.userns.uids, spec.userns.gids};
    if (!spec.userns.enabled) maps = LXBOX_TRY(linux_fx::id_maps_of_namespace(joined->path));
    const auto uid = runtime::host_id(maps.uids, 0), gid = runtime::host_id(maps.gids, 0);
    if (uid && ::chown(sd.fifo(id).c_str(), *uid, gid ? *gid : static_cast<gid_t>(-1)) != 0)
        return Error::last("chown " + sd.fifo(id));
    return {};
}

// The state a created container is saved with (what delete and the hooks need later).
Record record_of(const runtime::oci::Config& config, const std::string& id, const std::string& bundle,
                 const runtime::Container& c, const std::string& text) {
    Record r;
    r.oci_version = config.oci_version;
    r.id = id;
    r.pid = c.pid();
    r.start_time = linux_fx::process_start_time(c.pid()).value_or(0);
    r.bundle = bundle;
    r.created = now_rfc3339();
    r.annotations = config.annotations;
    r.cgroup_paths = c.cgroup_paths();
    r.namespaces = c.namespaces();
    r.poststart = config.hooks.poststart;
    r.poststop = config.hooks.poststop;
    if (const auto j = nlohmann::json::parse(text, nullptr, false); j.is_object() && j.contains("linux"))
        r.resources = oci::merged_resources(nullptr, j["linux"].value("resources", nlohmann::json::object()));
    return r;
}

}  // namespace

// create (and the first half of run): the container is set up and waits on its exec fifo.
Result<Created> create_container(const OciGlobal& g, const CreateOptions& o, bool detached) {
    LXBOX_TRY(oci::validate_id(o.id));
    if (g.systemd_cgroup)
        return Error(ErrorKind::Unsupported,
                     "--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs "
                     "(podman: --cgroup-manager cgroupfs)");
    const std::string bundle = absolute_path(o.bundle);
    const std::string text = LXBOX_TRY(read_file(bundle + "/config.json").context("read the bundle"));
    auto config = LXBOX_TRY(runtime::oci::parse_config(text, bundle).context(bundle + "/config.json"));
    if (!config.has_process) return Error(ErrorKind::Invalid, bundle + "/config.json: process: required to create a container");
    if (config.spec.process.tty && detached && o.console_socket.empty())
        return Error(ErrorKind::Invalid, "process.terminal needs --console-socket when the container is detached");
    const StateDir sd = state_dir(g);
    const std::string cgroup = cgroup_name(sd, o.id);
    runtime::ContainerSpec spec = container_spec(std::move(config.spec), config, sd, o.id, cgroup, detached, bundle);
    // Without a mount namespace of its own the container binds its root in ours: the mount at
    // the root's path before it does tells that bind apart (and what a failed create removes).
    std::string root_mount;
    uint64_t mount_before = 0;
    if (!LXBOX_TRY(runtime::plan_namespaces(*spec.bundle)).has(CLONE_NEWNS)) {
        root_mount = spec.bundle->rootfs;
        mount_before = LXBOX_TRY(linux_fx::mount_id(root_mount).context("the root of the bundle"));
    }
    LXBOX_TRY(sd.claim(o.id));
    auto undo = [&](Error e) -> Error {
        (void)sd.remove(o.id);
        return e;
    };
    if (auto st = make_exec_fifo(sd, o.id, spec); !st) return undo(std::move(st).error());
    auto made_root = [&]() -> uint64_t {
        if (root_mount.empty()) return 0;
        auto now = linux_fx::mount_id(root_mount);
        return now && *now != mount_before ? *now : 0;
    };
    auto undo_all = [&](Error e) -> Error {
        (void)detach_root_mount(root_mount, made_root());
        return undo(std::move(e));
    };
    // No lock is needed while creating: the directory is ours (claim) and others see no state
    // until it is saved. (A lock held now would be inherited by the container's process.)
    auto started = runtime::Container::start(spec);
    if (!started) return undo_all(std::move(started).error());
    runtime::Container c = std::move(*started);
    for (const auto& w : c.warnings()) spdlog::warn("{}", w);
    if (auto st = c.wait_created(); !st) return undo_all(std::move(st).error());
    if (spec.process.tty && !o.console_socket.empty()) {
        UniqueFd master = c.take_pty_master();
        if (auto st = send_console(o.console_socket, master.get()); !st) return undo_all(std::move(st).error());
    }
    Record r = record_of(config, o.id, bundle, c, text);
    r.cgroup = c.has_cgroup() ? cgroup : "";
    r.root_mount_id = made_root();
    if (r.root_mount_id != 0) r.root_mount = root_mount;
    r.userns = spec.userns.enabled;
    if (auto st = sd.save(r); !st) return undo_all(std::move(st).error());
    if (!o.pid_file.empty()) {
        if (auto st = write_file_atomic(absolute_path(o.pid_file), std::to_string(r.pid), Durability::RenameOnly, 0644); !st)
            return undo_all(std::move(st).error());
    }
    const std::string state = oci::state_json(r, RunState::Created).dump();
    Status hooks = runtime::oci::run_hooks(config.hooks.prestart, "prestart", state);
    if (hooks) hooks = runtime::oci::run_hooks(config.hooks.create_runtime, "createRuntime", state);
    if (!hooks) return undo_all(std::move(hooks).error());  // ~Container kills it, and its cgroup goes
    return Created{std::move(c), std::move(r)};
}

}  // namespace lxbox::cli::oci_cli
