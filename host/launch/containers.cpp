#include "host/launch/containers.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "host/launch/integrate.hpp"
#include "host/vm/qemu_command.hpp"
#include "host/vm/vm_run.hpp"
#include "runtime/base/files.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/security.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::launch {

namespace {

// The most an --env-file may hold: what exec(2) can pass as arguments and environment together
// under the default 8 MiB stack (a quarter of the stack limit). A bigger file could never reach
// the command; reading one only costs memory (a device like /dev/zero has no end at all).
constexpr size_t kEnvFileMax = 2u << 20;
// docker's default profile is 20 KiB.
constexpr size_t kSeccompProfileMax = 2u << 20;

}  // namespace

Result<runtime::ProcessSpec> make_process_spec(const ProcessOptions& o) {
    runtime::ProcessSpec p;
    p.args = o.command;
    p.user = o.user;
    p.cwd = o.cwd;
    p.security = o.security;
    if (p.security.seccomp != "default" && p.security.seccomp != "unconfined") {
        const std::string path = p.security.seccomp;
        // A file a user names, as --env-file: a device or a fifo would be read (or waited on) for ever.
        p.security.seccomp_profile = LXBOX_TRY_CTX(read_regular_file(path, kSeccompProfileMax), "--seccomp " + path);
        p.security.seccomp = "profile";
    }
    LXBOX_TRY(runtime::validate_security(p.security));  // an unknown capability fails here, not in the child
    const runtime::EnvLookup host_env = [](const std::string& k) { return std::getenv(k.c_str()); };
    for (const auto& f : o.env_files) {
        const std::string what = "--env-file " + f;
        auto text = LXBOX_TRY_CTX(read_regular_file(f, kEnvFileMax), what);
        auto vars = LXBOX_TRY_CTX(runtime::parse_env_file(text, host_env), what);
        p.env.insert(p.env.end(), vars.begin(), vars.end());
    }
    auto env = LXBOX_TRY(runtime::resolve_env_args(o.env, host_env));
    p.env.insert(p.env.end(), env.begin(), env.end());
    if (o.force_tty && o.no_tty) return Error(ErrorKind::Invalid, "-t and -T cannot be used together");
    // Like wsl: a pty when lxbox itself talks to a terminal, unless told otherwise.
    p.tty = o.force_tty || (!o.no_tty && ::isatty(0) && ::isatty(1));
    const char* term = std::getenv("TERM");
    p.term = term && *term ? term : "xterm";
    return p;
}

void inherit_security(runtime::ProcessSpec& process, const ProcessOptions& opts, const store::InstanceState& running) {
    if (opts.security == runtime::SecuritySpec{}) process.security = running.security;
}

Result<int> exec_in_vm_container(const store::Store& store, const std::string& name,
                                 const store::InstanceState& instance, const ProcessOptions& opts, bool integrated) {
    if (instance.guest_dir.empty())
        return Error(ErrorKind::Unsupported, "container '" + name + "' was started by an lxbox without exec into vm "
                                             "containers: start it again");
    vm::VmExecRequest req{store.root(), instance.arch, name, instance.guest_dir, LXBOX_TRY(make_process_spec(opts))};
    inherit_security(req.process, opts, instance);
    if (integrated) integrate_process(req.process, plan_integration(vm_session(LXBOX_TRY(read_host_session()))));
    return vm::exec_in_vm(req);
}

store::InstanceState vm_instance_state(const vm::VmRunRequest& request, const std::string& guest_dir) {
    store::InstanceState st;
    st.pid = ::getpid();
    st.start_time = linux_fx::process_start_time(st.pid).value_or(0);
    st.started = store::now_rfc3339();
    st.command = request.spec.process.args;
    st.backend = "vm";
    st.security = request.spec.process.security;
    st.guest_dir = guest_dir;
    st.arch = request.arch;
    return st;
}

std::string unscoped_cgroup_name(const std::string& container_dir) {
    return "lxbox-" + container_dir.substr(container_dir.rfind('/') + 1);
}

std::string cgroup_name(const store::Store& store, const std::string& container_dir) {
    return "lxbox-" + store.id() + "-" + container_dir.substr(container_dir.rfind('/') + 1);
}

void remove_leftover_cgroup(const std::string& name) {
    auto found = cgroups::Cgroup::open_leftover(name);
    if (!found) {
        spdlog::debug("{}", found.error().message);
        return;
    }
    if (auto st = found->remove(); !st) spdlog::debug("{}", st.error().message);
}

Status write_ephemeral_state(const std::string& dir, const store::InstanceState& s, const std::string& image) {
    nlohmann::json j = s;
    j["image"] = image;
    return write_file_atomic(dir + "/state.json", j.dump() + "\n", Durability::RenameOnly);
}

namespace {

// name part of ".rm-<pid>-<start>-<name>"
std::optional<std::string> ephemeral_name(const std::string& entry) {
    if (!entry.starts_with(std::string(".") + kEphemeralKind + "-") || !store::parse_work_dir_name(entry))
        return std::nullopt;
    size_t pos = entry.find('-');
    pos = entry.find('-', pos + 1);
    pos = entry.find('-', pos + 1);
    return entry.substr(pos + 1);
}

Result<std::optional<ContainerView>> ephemeral_view(const store::Store& store, const std::string& entry) {
    auto name = ephemeral_name(entry);
    if (!name) return std::optional<ContainerView>{};
    ContainerView v{*name, "", store.root() + "/containers/" + entry, true, std::nullopt};
    auto text = read_file(v.dir + "/state.json");
    if (!text) return std::optional<ContainerView>{};
    const auto j = nlohmann::json::parse(*text, nullptr, false);  // discarded when torn
    auto s = store::instance_state_of(j);
    if (!s) return std::optional<ContainerView>{};
    // "image" is the throwaway's own field, beside the instance's (write_ephemeral_state).
    if (const auto it = j.find("image"); it != j.end() && it->is_string()) v.image = it->get<std::string>();
    v.backend = s->backend;
    if (linux_fx::process_start_time(s->pid) == s->start_time) v.instance = *s;
    // A throwaway container exists only while it runs.
    if (!v.instance) return std::optional<ContainerView>{};
    return std::optional<ContainerView>{std::move(v)};
}

}  // namespace

Result<std::vector<ContainerView>> list_containers(const store::Store& store) {
    std::vector<ContainerView> out;
    auto reg = LXBOX_TRY(store.load());
    for (const auto& [name, rec] : reg.containers) {
        ContainerView v{name, rec.image, store.container_dir(name), false, std::nullopt, rec.backend};
        v.instance = LXBOX_TRY(store.running_instance(name));
        out.push_back(std::move(v));
    }
    const std::string folder = store.root() + "/containers";
    DIR* d = ::opendir(folder.c_str());
    if (!d) return out;
    std::vector<std::string> entries;
    while (auto* e = ::readdir(d)) entries.emplace_back(e->d_name);
    ::closedir(d);
    for (const auto& entry : entries) {
        auto v = LXBOX_TRY(ephemeral_view(store, entry));
        if (v) out.push_back(std::move(*v));
    }
    for (auto& v : out) {
        auto image = reg.images.find(v.image);
        v.arch = v.instance && !v.instance->arch.empty()       ? v.instance->arch
                 : image != reg.images.end() && !image->second.arch.empty() ? image->second.arch
                                                                          : vm::build_arch();
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

Result<ContainerView> find_container(const store::Store& store, const std::string& name) {
    auto all = LXBOX_TRY(list_containers(store));
    for (auto& v : all) {
        if (v.name == name) return std::move(v);
    }
    return Error(ErrorKind::NotFound, "no container named '" + name + "'");
}

}  // namespace lxbox::launch
