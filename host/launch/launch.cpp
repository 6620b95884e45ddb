// `lxbox launch`: resolve the distro or container, build the spec, run it natively or in the VM.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "host/launch/launch.hpp"

#include "host/backend/choose_backend.hpp"
#include "host/launch/decide.hpp"
#include "host/launch/integrate.hpp"
#include "host/launch/systemd.hpp"
#include "host/config/config.hpp"
#include "host/detect/detect.hpp"
#include "host/vm/image_disk.hpp"
#include "host/vm/supervisor.hpp"
#include "host/vm/qmp.hpp"
#include "host/vm/vm_run.hpp"
#include "runtime/image/launch.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"
#include "runtime/container/quiet_join.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/systemd.hpp"
#include "runtime/store/stale.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/userns_holder.hpp"

namespace lxbox::launch {

Result<Target> choose_target(const store::Store& store, const store::Registry& reg, const LaunchRequest& req) {
    std::string target = req.target.empty() ? reg.default_distro : req.target;
    // No default: the store is empty and this lxbox has no share/lxbox/ with its busybox.
    if (target.empty())
        return Error(ErrorKind::NotFound,
                     "no distro to launch: import one (lxbox import NAME ROOTFS.tar.gz, or lxbox import --script "
                     "MANIFEST.json), then lxbox launch NAME; the busybox default ships in share/lxbox/ of an installed lxbox");
    Target t;
    if (reg.images.count(target)) {
        t.image = target;
        t.image_record = reg.images.at(target);
        t.container = req.name.empty() ? target : req.name;
    } else if (auto it = reg.containers.find(target); it != reg.containers.end() && req.name.empty()) {
        t.image = it->second.image;
        t.container = target;
        if (auto img = reg.images.find(t.image); img != reg.images.end()) t.image_record = img->second;
    } else {
        return Error(ErrorKind::NotFound, "no distro" + std::string(req.name.empty() ? " or container" : "") +
                                              " named '" + target + "'");
    }
    LXBOX_TRY(store::validate_name(t.container));
    t.settings = LXBOX_TRY(config::parse_distro_settings(t.image_record.settings)
                               .context("distro " + t.image + "'s settings (lxbox config list --distro " + t.image + ")"));
    // A kept container lives where it was made: without --backend, launch follows it there.
    const auto kept = reg.containers.find(t.container);
    t.integrated = req.integrate.value_or(t.settings.integration);
    if (kept != reg.containers.end() && !req.rm) {
        if (req.integrate && *req.integrate != kept->second.integrated)
            return Error(ErrorKind::Exists, "container '" + t.container + "' was made " +
                                                (kept->second.integrated ? "integrated" : "isolated") +
                                                ": give another with --name");
        t.integrated = kept->second.integrated;
    }
    const std::string kept_backend = kept != reg.containers.end() && !req.rm ? kept->second.backend : "";
    t.choice = LXBOX_TRY(decide_backend(store.root(), reg.images.at(t.image).arch, req.backend, kept_backend)
                             .context("launch " + t.container));
    t.backend = backend::to_string(t.choice.backend);
    return t;
}

Result<Target> resolve_target(store::Store& store, const LaunchRequest& req) {
    auto reg = LXBOX_TRY(store.load());
    Target t = LXBOX_TRY(choose_target(store, reg, req));
    if (req.rm) {
        t.ephemeral = true;
        t.dir = store.root() + "/containers/" + store::work_dir_name(kEphemeralKind, store::self_owner(), t.container);
        return t;
    }
    // Refused before the container is made, so a launch that cannot run leaves nothing.
    if (t.settings.systemd && linux_fx::rootless_userns().enabled)
        return Error(ErrorKind::Unsupported, "boot.systemd runs containers as root only so far: systemd needs a "
                                             "cgroup tree of its own, which a rootless lxbox does not set up (lxbox "
                                             "config set --distro " + t.image + " boot.systemd false, or run lxbox as root)");
    // Only a new container pays for a registry write (flock + fsync).
    auto known = reg.containers.find(t.container);
    if (known == reg.containers.end() || known->second.image != t.image || known->second.backend != t.backend)
        LXBOX_TRY(store.ensure_container(t.container, t.image, t.backend, t.integrated));
    t.dir = store.container_dir(t.container);
    return t;
}

Result<runtime::ContainerSpec> make_spec(const store::Store& store, const LaunchRequest& req, const Target& t) {
    runtime::ContainerSpec s;
    s.name = t.container;
    s.image_rootfs = store.image_rootfs(t.image);
    s.container_dir = t.dir;
    s.ephemeral = t.ephemeral;
    s.hostname = req.hostname;
    s.network = req.network;
    s.init = !req.no_init;
    s.cgroup = cgroup_name(store, t.dir);
    s.cache_dir = store.root() + "/cache";
    s.userns = linux_fx::rootless_userns();
    for (const auto& v : req.volumes) s.binds.push_back(LXBOX_TRY(runtime::parse_bind(v)));
    s.process = LXBOX_TRY(make_process_spec(req.process));
    if (s.process.user.empty() && !t.integrated) s.process.user = t.settings.default_user;
    // The image's layers and its config's defaults (Env, Entrypoint + Cmd, WorkingDir, User).
    LXBOX_TRY(image::apply_image(store, t.image_record, s));
    if (req.share_cwd) {
        char cwd[4096];
        if (!::getcwd(cwd, sizeof cwd)) return Error::last("read the current directory");
        s.binds.push_back({cwd, cwd, false});
        if (s.process.cwd.empty()) s.process.cwd = cwd;
    }
    auto resolv = read_file("/etc/resolv.conf");
    s.resolv_conf = resolv ? *resolv : "";
    const bool in_vm = t.backend == "vm";
    if (t.integrated || (in_vm && t.settings.host_mount != "none")) {
        const HostSession session = LXBOX_TRY(read_host_session());
        // The distro's vm.host-mount, before -v (which may bind over it); integration's home
        // is bound once.
        auto shared = host_mount_binds(in_vm ? t.settings.host_mount : "none", session.user.home);
        if (t.integrated) LXBOX_TRY(integrate(s, session, in_vm).context("integrate " + t.container));
        for (const auto& b : shared)
            if (std::none_of(s.binds.begin(), s.binds.end(),
                             [&](const auto& o) { return o.source == b.source && o.target == b.target; }))
                s.binds.insert(s.binds.begin(), b);
    }
    if (!req.memory.empty()) s.limits.memory_bytes = LXBOX_TRY(runtime::parse_memory(req.memory));
    s.limits.cpus = req.cpus;
    s.limits.pids = req.pids;
    if (s.userns.enabled) {
        // Rootless: a cgroup only for limits, and only where the system delegated one.
        s.cgroup_optional = true;
        if (!s.limits.memory_bytes && !s.limits.cpus && !s.limits.pids) s.cgroup.clear();
    }
    // The root's overlay: the kernel's, or fuse-overlayfs where the user asked for it or
    // (rootless) as the stand-in where the kernel refuses it. PATH is searched only then.
    const auto settings = LXBOX_TRY(config::load(store.root()));
    const std::string& mode = settings.storage.overlay;
    const bool wanted = mode == "fuse" || (mode == "auto" && s.userns.enabled);
    const std::string fuse = wanted ? detect::find_on_path("fuse-overlayfs") : "";
    const auto overlay = LXBOX_TRY(backend::overlay_mount(mode, s.userns.enabled, fuse));
    s.fuse_overlay = overlay.fuse_program;
    s.fuse_overlay_only = overlay.fuse_only;
    return s;
}

namespace {

// Prints a command's exec failure the way users know it, or that the memory limit killed a
// process of it (runtime::oom_notice), and returns its exit code.
int report(const runtime::Outcome& o) {
    if (o.exec_error) std::fprintf(stderr, "lxbox: %s\n", o.exec_error->message.c_str());
    if (const auto oom = runtime::oom_notice(o.exit_code, o.oom_killed); !oom.empty())
        std::fprintf(stderr, "lxbox: %s\n", oom.c_str());
    return o.exit_code;
}

// The distro's boot.command (runtime::run_boot_command) in the native container that just
// started, with the container's own security settings, before its command runs
// (spec.hold_command): what it starts is up when the command starts, and the container cannot
// end under it.
Status run_boot_command(const store::Store& store, const std::string& command, const store::InstanceState& st) {
    runtime::JoinSpec j{st.pid, st.start_time, st.cgroup, {}, store.root() + "/cache", st.namespaces};
    j.process.security = st.security;
    return runtime::run_boot_command(std::move(j), command);
}

// The distro's boot.command in a running vm container (boot.systemd's, once systemd answered)
// through the agent's exec, as run_boot_command natively: as root, its stdio on /dev/null. A
// shell in front of it sets those: an exec's stdio are its session's, which a daemon left
// holding them would keep open.
Status run_boot_command_in_vm(const store::Store& store, const std::string& command, const store::InstanceState& st,
                              const std::string& container) {
    std::string dropped;
    vm::VmExecRequest req{store.root(), st.arch, container, st.guest_dir, {}, &dropped};
    req.process.args = {"/bin/sh", "-c", "exec </dev/null >/dev/null 2>&1 /bin/sh -c \"$1\"", "sh", command};
    req.process.user = "0";
    req.process.security = st.security;
    const int code = LXBOX_TRY(vm::exec_in_vm(req));
    if (code != 0) return Error(ErrorKind::Internal, "'" + command + "' exited " + std::to_string(code));
    return {};
}

Result<int> run_container(store::Store& store, const runtime::ContainerSpec& made, const Target& t) {
    runtime::ContainerSpec spec = made;
    // A container in a user namespace of its own is entered through a child of its init (which
    // is not dumpable), so there the boot command runs beside the command, not before it.
    spec.hold_command = !t.settings.boot_command.empty() && !spec.userns.enabled;
    // Rootless with subordinate ids: the holder's namespace has the maps, without a setuid
    // newuidmap and newgidmap per launch (the caller's own id alone is mapped without them).
    if (spec.userns.enabled && spec.userns.use_helpers && !t.integrated)
        spec.userns.join = LXBOX_TRY(linux_fx::ensure_userns_holder(store.root(), spec.userns));
    auto c = LXBOX_TRY(runtime::Container::start(spec));
    for (const auto& w : c.warnings()) std::fprintf(stderr, "lxbox: warning: %s\n", w.c_str());
    store::InstanceState st;
    st.pid = c.pid();
    st.start_time = linux_fx::process_start_time(c.pid()).value_or(0);
    st.started = store::now_rfc3339();
    st.command = spec.process.args;
    st.backend = t.backend;
    st.security = spec.process.security;
    if (c.has_cgroup()) st.cgroup = spec.cgroup;
    st.namespaces = c.namespaces();
    st.lower_dirs = spec.image_layers.empty() ? std::vector<std::string>{spec.image_rootfs} : spec.image_layers;
    Status written = t.ephemeral ? write_ephemeral_state(t.dir, st, t.image) : store.write_instance(t.container, st);
    if (!written) return std::move(written).error();
    if (!t.settings.boot_command.empty()) {
        if (auto held = spec.hold_command ? c.wait_held() : Status{}; !held) {
            if (!t.ephemeral) (void)store.clear_instance(t.container);
            return std::move(held).error().context("launch " + t.container);
        }
        if (auto st_boot = run_boot_command(store, t.settings.boot_command, st); !st_boot)
            std::fprintf(stderr, "lxbox: warning: boot.command: %s\n", st_boot.error().message.c_str());
        // Fails only when the container died meanwhile, which its wait reports.
        if (spec.hold_command) (void)c.release();
    }
    auto outcome = c.wait();
    if (!t.ephemeral) (void)store.clear_instance(t.container);
    if (!outcome) return std::move(outcome).error().context("launch " + t.container);
    return report(*outcome);
}

// A kept container's lock, held by its launch for the container's life: taken here (nullopt)
// when the container is stopped; else the running instance, once the launch holding the lock
// has written it. A second `launch` of a running container opens another process in it, as
// wsl does, on either backend.
Result<std::optional<store::InstanceState>> lock_or_running(store::Store& store, const Target& t, UniqueFd& lock) {
    lock = LXBOX_TRY(open_fd(t.dir + "/lock", O_RDWR | O_CREAT, 0600));
    for (int tries = 0; tries < 200; ++tries) {
        // Again each round: the launch holding it may end before its instance is seen (a
        // short command), and the container is then stopped, ours to start.
        if (::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) return std::optional<store::InstanceState>{};
        if (auto inst = LXBOX_TRY(store.running_instance(t.container))) return inst;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error(ErrorKind::Busy, "container '" + t.container + "' is starting or stopping: try again");
}

// Whether the running instance of a container is gone within 0.2 s (its init dying: a zombie
// counts as gone). A container that still runs keeps a genuine join error from being retried.
Result<bool> ended_soon(store::Store& store, const std::string& container) {
    for (int tries = 0; tries < 20; ++tries) {
        if (!LXBOX_TRY(store.running_instance(container))) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

Result<std::optional<int>> join_if_running(store::Store& store, const Target& t, const LaunchRequest& req,
                                           UniqueFd& lock) {
    for (int attempt = 0;; ++attempt) {
        auto inst = LXBOX_TRY(lock_or_running(store, t, lock));
        if (!inst) return std::optional<int>{};
        runtime::JoinSpec j{inst->pid, inst->start_time, inst->cgroup, LXBOX_TRY(make_process_spec(req.process)),
                            store.root() + "/cache", inst->namespaces};
        inherit_security(j.process, req.process, *inst);
        if (j.process.user.empty() && !t.integrated) j.process.user = t.settings.default_user;
        if (t.integrated) integrate_process(j.process, plan_integration(LXBOX_TRY(read_host_session())));
        // The container may end between the look and the join (its namespaces or cgroup gone:
        // ESRCH, ENODEV, ENOMEM of a dead pid namespace, before the command was exec'd): it is
        // stopped now, so this launch starts it, or joins whichever launch did.
        auto c = runtime::Container::join(j);
        if (!c) {
            if (attempt >= 10 || !LXBOX_TRY(ended_soon(store, t.container))) return std::move(c).error();
            continue;
        }
        auto outcome = c->wait();
        const bool failed = !outcome || (outcome->exec_error && outcome->exit_code == 125);
        if (failed && attempt < 10 && LXBOX_TRY(ended_soon(store, t.container))) continue;
        if (!outcome) return std::move(outcome).error();
        return std::optional<int>{report(*outcome)};
    }
}

// The image's disk for the VM: a rootfs import's tree as it is, an OCI image's layers merged.
Result<vm::DistroDisk> vm_disk(store::Store& store, const Target& t) {
    const std::string vm_dir = vm::vm_dir_for(store.root(), t.choice.arch);
    if (t.image_record.manifest.empty()) return vm::ensure_distro_disk(vm_dir, t.image, store.image_rootfs(t.image));
    return vm::ensure_image_disk(store, t.image_record, vm_dir);
}

void print_notice(const std::string& line) { std::fprintf(stderr, "lxbox: %s\n", line.c_str()); }

// -p's ports, checked before anything is started or joined.
Result<std::vector<proto::PortForward>> published_ports(const LaunchRequest& req) {
    std::vector<proto::PortForward> ports;
    for (const auto& p : req.publish) ports.push_back(LXBOX_TRY(vm::parse_publish(p)));
    return ports;
}

// What the vm backend runs for t's container: spec (make_spec's, or systemd's), the distro's
// disk (built here when needed), the ports to publish for the container's life.
Result<vm::VmRunRequest> vm_request(store::Store& store, const Target& t, runtime::ContainerSpec spec,
                                    std::vector<proto::PortForward> ports) {
    vm::VmRunRequest vr;
    vr.spec = std::move(spec);
    vr.image = t.image;
    vr.root = store.root();
    vr.arch = t.choice.arch;
    vr.disk = LXBOX_TRY(vm_disk(store, t).context("launch " + t.container));
    vr.notice = print_notice;
    vr.ports = std::move(ports);
    return vr;
}

// systemd booted as the container's PID 1 under a monitor of its own, which takes lock over:
// natively its parent, in the VM its launcher (the VM started first, on this terminal).
Result<Booted> boot_systemd(store::Store& store, const LaunchRequest& req, const Target& t, UniqueFd lock) {
    auto spec = systemd_spec(LXBOX_TRY(make_spec(store, req, t)));
    if (t.backend != "vm")
        return boot_in_background(store, t.container, std::move(lock), native_life(store, std::move(spec), t.container));
    auto vr = LXBOX_TRY(vm_request(store, t, std::move(spec), LXBOX_TRY(published_ports(req))));
    LXBOX_TRY(vm::start_vm(store.root(), vr.arch, print_notice).context("launch " + t.container));
    return boot_in_background(store, t.container, std::move(lock), vm_life(store, std::move(vr), t.container));
}

// Why systemd did not boot, in one line: with what to do when the distro has none.
Error boot_failure(Error e, const Target& t) {
    e.context("boot systemd in " + t.container);
    if (e.errno_value == ENOENT)
        e.message += " (boot.systemd needs systemd in the distro: install it there, or lxbox config unset "
                     "--distro " + t.image + " boot.systemd)";
    return e;
}

// A distro with boot.systemd: its kept container runs systemd as PID 1, booted in the
// background by the first launch (host/launch/systemd.hpp), and every launch joins it with its
// command once systemd has booted, as WSL does; natively or in the VM.
Result<int> launch_with_systemd(store::Store& store, const LaunchRequest& req, const Target& t) {
    const bool in_vm = t.backend == "vm";
    UniqueFd lock;
    auto inst = LXBOX_TRY(lock_or_running(store, t, lock));
    const bool booting = !inst;
    UniqueFd ends;  // the monitor's word, when systemd ends while it boots
    if (booting) {
        auto booted = boot_systemd(store, req, t, std::move(lock));
        if (!booted) return boot_failure(std::move(booted).error(), t);
        inst = std::move(booted->instance);
        ends = std::move(booted->ends);
    }
    auto waited = in_vm ? wait_for_systemd_in_vm(store, *inst, t.container, ends.get())
                        : wait_for_systemd(store, *inst, t.container, ends.get());
    if (!waited) return booting ? boot_failure(std::move(waited).error(), t) : std::move(waited).error();
    ends.reset();
    const std::string& state = *waited;
    if (booting) {
        if (const auto notice = runtime::systemd_state_notice(t.container, state); !notice.empty() && !state.empty())
            std::fprintf(stderr, "lxbox: %s\n", notice.c_str());
        if (const std::string& boot = t.settings.boot_command; !boot.empty()) {
            auto st_boot = in_vm ? run_boot_command_in_vm(store, boot, *inst, t.container)
                                 : run_boot_command(store, boot, *inst);
            if (!st_boot) std::fprintf(stderr, "lxbox: warning: boot.command: %s\n", st_boot.error().message.c_str());
        }
    }
    if (in_vm) return exec_in_vm_container(store, t.container, *inst, req.process, t.integrated).context("launch " + t.container);
    auto joined = LXBOX_TRY(join_if_running(store, t, req, lock));
    if (!joined) return Error(ErrorKind::Internal, "systemd in " + t.container + " stopped while the command was joining it");
    return *joined;
}

// The vm backend: the same spec, run by the guest agent in the shared VM. The launching lxbox
// stands for the container on the host: its pid is the instance's (ps, stop: a SIGTERM to it
// is forwarded), and the container's lock is held as natively.
Result<int> launch_in_vm(store::Store& store, const LaunchRequest& req, const Target& t) {
    auto ports = LXBOX_TRY(published_ports(req));
    UniqueFd lock;
    if (t.ephemeral) {
        if (::mkdir(t.dir.c_str(), 0700) != 0) return Error::last("create " + t.dir);
    } else {
        if (auto inst = LXBOX_TRY(lock_or_running(store, t, lock)))
            return exec_in_vm_container(store, t.container, *inst, req.process, t.integrated).context("launch " + t.container);
    }
    auto spec = make_spec(store, req, t);
    auto made = spec ? vm_request(store, t, std::move(*spec), std::move(ports)) : Result<vm::VmRunRequest>(spec.error());
    if (!made) {
        if (t.ephemeral) (void)remove_tree(t.dir);
        return std::move(made).error();
    }
    vm::VmRunRequest& vr = *made;
    vr.boot_command = t.settings.boot_command;  // run by the agent each time the container starts
    Status state_written;
    vr.started = [&](const std::string& guest_dir) {
        const store::InstanceState st = vm_instance_state(vr, guest_dir);
        state_written = t.ephemeral ? write_ephemeral_state(t.dir, st, t.image) : store.write_instance(t.container, st);
    };
    auto rc = vm::run_in_vm(vr);
    if (t.ephemeral) (void)remove_tree(t.dir);
    else (void)store.clear_instance(t.container);
    if (!state_written) spdlog::warn("container state: {}", state_written.error().message);
    if (!rc) return std::move(rc).error().context("launch " + t.container);
    return rc;
}

}  // namespace

Result<int> launch(store::Store& store, const LaunchRequest& req) {
    const Target t = LXBOX_TRY(resolve_target(store, req));
    if (t.backend == "vm") {
        notice_vm_fallback_once(store.root(), t.choice);
        if (t.settings.systemd && !t.ephemeral) return launch_with_systemd(store, req, t);
        return launch_in_vm(store, req, t);
    }
    if (!req.publish.empty())
        return Error(ErrorKind::Invalid, "-p publishes a port of a vm container; a native container with --network host "
                                         "already uses the host's ports");
    UniqueFd lock;
    if (t.ephemeral) {
        if (::mkdir(t.dir.c_str(), 0700) != 0) return Error::last("create " + t.dir);
    } else if (t.settings.systemd) {
        return launch_with_systemd(store, req, t);
    } else if (auto joined = LXBOX_TRY(join_if_running(store, t, req, lock))) {
        return *joined;
    }
    auto spec = make_spec(store, req, t);
    Result<int> rc = spec ? run_container(store, *spec, t) : Result<int>(std::move(spec).error());
    if (t.ephemeral) (void)remove_tree(t.dir);
    return rc;
}

}  // namespace lxbox::launch
