// `lxbox oci update|events|list|checkpoint|restore`: runc's verbs that containerd and CRI use
// besides the lifecycle (Task.Update, UpdateContainerResources, `ctr task metrics` through
// `events --stats`). The decisions are host/oci/manage; here are the files read and written.
#include "host/cli/oci_manage_commands.hpp"

#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "host/oci/manage.hpp"
#include "host/oci/state.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"
#include "runtime/cgroups/resources.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/oci/config.hpp"

namespace lxbox::cli {

namespace {

using nlohmann::json;
using oci::Record;
using oci::RunState;
using oci::StateDir;

// root is oci's --root, set (to the checked default when not given) before any verb runs.
StateDir state_dir(const std::string& root) { return StateDir(root); }

bool is_v2_dir(const std::string& dir) {
    struct stat st;
    return ::stat((dir + "/cgroup.controllers").c_str(), &st) == 0;
}

oci::CgroupFiles read_stats_files(const Record& r) {
    oci::CgroupFiles files;
    for (const auto& dir : r.cgroup_paths) {
        const bool v2 = is_v2_dir(dir);
        auto& into = v2 ? files.v2 : files.v1;
        for (const auto& name : v2 ? oci::stats_files_v2() : oci::stats_files_v1()) {
            if (into.count(name)) continue;
            if (auto text = read_file(dir + "/" + name)) into[name] = *text;
        }
    }
    return files;
}

// Where a cgroup file is among the container's directories of one version ("" = nowhere).
std::string dir_with(const Record& r, bool v2, const std::string& file) {
    struct stat st;
    for (const auto& dir : r.cgroup_paths)
        if (is_v2_dir(dir) == v2 && ::stat((dir + "/" + file).c_str(), &st) == 0) return dir;
    return "";
}

// Each write where its file is: v1's where the host has the controller there (a hybrid host's
// controllers are), v2's for the rest. A write the kernel refuses for now (EINVAL: a v1 memory
// limit above memory+swap's) is tried again after the others, as runc orders them.
Status apply_writes(const Record& r, const cgroups::Resources& res) {
    std::vector<std::pair<std::string, cgroups::Write>> todo;
    std::vector<std::string> v1_controllers;
    for (const auto& w : cgroups::plan_resources_v1(res)) {
        const std::string dir = dir_with(r, false, w.file);
        if (dir.empty()) continue;
        if (!w.refused.empty()) return Error(ErrorKind::Unsupported, w.refused);
        todo.emplace_back(dir, w);
        v1_controllers.push_back(w.controller == "blkio" ? "io" : w.controller);
    }
    for (const auto& w : cgroups::plan_resources_v2(res)) {
        if (std::find(v1_controllers.begin(), v1_controllers.end(), w.controller) != v1_controllers.end()) continue;
        if (!w.refused.empty()) return Error(ErrorKind::Unsupported, w.refused);
        const std::string dir = dir_with(r, true, w.file);
        if (dir.empty()) {
            if (w.if_present) continue;
            return Error(ErrorKind::Unsupported, "the container's cgroup has no " + w.file + " (no " + w.controller + " controller)");
        }
        todo.emplace_back(dir, w);
    }
    std::vector<std::pair<std::string, cgroups::Write>> again;
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& [dir, w] : todo) {
            Status st = cgroups::detail::write_cgroup_file(dir + "/" + w.file, w.value);
            if (!st && pass == 0 && st.error().errno_value == EINVAL) {
                again.emplace_back(dir, w);
                continue;
            }
            if (!st) return std::move(st).error().context("set " + w.file);
        }
        todo = std::move(again);
        again.clear();
    }
    return {};
}

Result<json> resources_from(const std::string& file, const oci::UpdateFlags& flags) {
    if (file.empty()) return oci::update_resources(flags);
    std::string text;
    if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        text = LXBOX_TRY(read_file(file));
    }
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return Error(ErrorKind::Invalid, "--resources " + file + ": not a JSON object (linux.resources)");
    return j;
}

// runc's update: what the update names over what the container has (a lone --cpu-period keeps
// the quota), every value written again, and kept in the container's state.
Result<int> cmd_update(const std::string& root, const std::string& id, const std::string& file,
                       const oci::UpdateFlags& flags) {
    const StateDir sd = state_dir(root);
    auto lock = LXBOX_TRY(sd.lock(id).context("update " + id));
    auto [r, status] = LXBOX_TRY(sd.current(id).context("update " + id));
    if (status == RunState::Stopped) return Error(ErrorKind::Invalid, "update " + id + ": container not running");
    if (r.cgroup_paths.empty()) return Error(ErrorKind::Unsupported, "update " + id + ": the container has no cgroup");
    const json update = LXBOX_TRY(resources_from(file, flags).context("update " + id));
    LXBOX_TRY(runtime::oci::parse_resources(update, "resources").context("update " + id));
    const json merged = oci::merged_resources(r.resources, update);
    const auto parsed = LXBOX_TRY(runtime::oci::parse_resources(merged, "resources").context("update " + id));
    LXBOX_TRY(apply_writes(r, parsed).context("update " + id));
    r.resources = merged;
    LXBOX_TRY(sd.save(r).context("update " + id));
    return 0;
}

void print_event(const std::string& type, const std::string& id, const json& data) {
    json e = {{"type", type}, {"id", id}};
    if (!data.is_null()) e["data"] = data;
    std::printf("%s\n", e.dump().c_str());
    std::fflush(stdout);
}

// runc events: --stats prints the stats once; otherwise stats every interval and an "oom"
// event for each OOM kill, until the container stops.
Result<int> cmd_events(const std::string& root, const std::string& id, bool stats, const std::string& interval) {
    const StateDir sd = state_dir(root);
    auto [r, status] = LXBOX_TRY(sd.current(id).context("events " + id));
    if (status == RunState::Stopped) return Error(ErrorKind::Invalid, "events " + id + ": container not running");
    if (stats) {
        print_event("stats", id, oci::stats_json(read_stats_files(r)));
        return 0;
    }
    const int every = LXBOX_TRY(oci::parse_interval_ms(interval).context("events " + id));
    UniqueFd pidfd(sys::pidfd_open(r.pid));
    if (!pidfd) return Error::last("events " + id + ": open the container's process", ErrorKind::NotFound);
    uint64_t ooms = oci::oom_kills(read_stats_files(r));
    for (;;) {
        struct pollfd p{pidfd.get(), POLLIN, 0};
        const int n = ::poll(&p, 1, every);
        if (n < 0 && errno != EINTR) return Error::last("events " + id + ": poll");
        const oci::CgroupFiles files = read_stats_files(r);
        for (uint64_t now = oci::oom_kills(files); ooms < now; ++ooms) print_event("oom", id, nullptr);
        if (n > 0) return 0;  // the container's process is gone
        print_event("stats", id, oci::stats_json(files));
    }
}

std::string owner_of(const std::string& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return "";
    if (const passwd* pw = ::getpwuid(st.st_uid)) return pw->pw_name;
    return "#" + std::to_string(st.st_uid);
}

std::string rootfs_of(const std::string& bundle) {
    auto text = read_file(bundle + "/config.json");
    json j = text ? json::parse(*text, nullptr, false) : json();
    const json* path = j.is_object() && j.contains("root") && j["root"].is_object() && j["root"].contains("path")
                           ? &j["root"]["path"] : nullptr;
    if (!path || !path->is_string()) return "";
    const std::string p = path->get<std::string>();
    return p.empty() || p[0] == '/' ? p : bundle + "/" + p;
}

Result<int> cmd_list(const std::string& root, const std::string& format, bool quiet) {
    const StateDir sd = state_dir(root);
    std::vector<std::string> ids = sd.ids();
    std::sort(ids.begin(), ids.end());
    std::vector<oci::ListRow> rows;
    json out = json::array();
    for (const auto& id : ids) {
        auto current = sd.current(id);
        if (!current) continue;  // being created or deleted just now
        const auto& [r, status] = *current;
        oci::ListRow row{id, oci::status_name(status), r.bundle, r.created, owner_of(sd.dir(id))};
        row.pid = status == RunState::Stopped ? 0 : r.pid;
        json j = {{"ociVersion", r.oci_version}, {"id", id}, {"pid", row.pid}, {"status", row.status},
                  {"bundle", r.bundle}, {"rootfs", rootfs_of(r.bundle)}, {"created", r.created}, {"owner", row.owner}};
        if (!r.annotations.empty()) j["annotations"] = r.annotations;
        out.push_back(std::move(j));
        rows.push_back(std::move(row));
    }
    if (quiet) {
        for (const auto& row : rows) std::printf("%s\n", row.id.c_str());
    } else if (format == "json") {
        std::printf("%s\n", out.dump().c_str());
    } else {
        std::fputs(oci::list_table(rows).c_str(), stdout);
    }
    return 0;
}

}  // namespace

void add_oci_manage_commands(CLI::App* oci, const std::string& root,
                             const std::function<void(std::function<Result<int>()>)>& wrap) {
    static std::string id, file, interval = "5s", format = "table";
    static bool stats = false, quiet = false;
    static oci::UpdateFlags f;

    auto* update = oci->add_subcommand("update", "Change a running container's cgroup resources (runc's flags)");
    update->add_option("id", id, "Container id")->required();
    update->add_option("-r,--resources", file, "A linux.resources JSON file ('-': standard input)");
    update->add_option("--memory", f.memory, "Memory limit (bytes, or 512m, 1g; -1: none)");
    update->add_option("--memory-reservation", f.memory_reservation, "Memory soft limit");
    update->add_option("--memory-swap", f.memory_swap, "Memory plus swap limit");
    update->add_option("--kernel-memory", f.kernel_memory, "Kernel memory limit (ignored by Linux 5.16+)");
    update->add_option("--kernel-memory-tcp", f.kernel_memory_tcp, "Kernel TCP buffer limit");
    update->add_option("--cpu-period", f.cpu_period, "CPU CFS period (microseconds)");
    update->add_option("--cpu-quota", f.cpu_quota, "CPU CFS quota (microseconds; -1: none)");
    update->add_option("--cpu-share", f.cpu_share, "CPU shares (relative weight)");
    update->add_option("--cpu-rt-period", f.cpu_rt_period, "CPU realtime period (microseconds)");
    update->add_option("--cpu-rt-runtime", f.cpu_rt_runtime, "CPU realtime runtime (microseconds)");
    update->add_option("--cpuset-cpus", f.cpuset_cpus, "CPUs to use (0-3, 0,1)");
    update->add_option("--cpuset-mems", f.cpuset_mems, "Memory nodes to use");
    update->add_option("--pids-limit", f.pids_limit, "Maximum number of processes");
    update->add_option("--blkio-weight", f.blkio_weight, "Block IO weight (10 to 1000)");
    update->callback([wrap, &root] { wrap([&root] { return cmd_update(root, id, file, f); }); });

    auto* events = oci->add_subcommand("events", "Print a container's stats and OOM events as JSON lines");
    events->add_option("id", id, "Container id")->required();
    events->add_flag("--stats", stats, "Print the stats once and exit");
    events->add_option("--interval", interval, "Time between stats (default 5s)");
    events->callback([wrap, &root] { wrap([&root] { return cmd_events(root, id, stats, interval); }); });

    auto* list = oci->add_subcommand("list", "List the containers under --root");
    list->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
    list->add_flag("-q,--quiet", quiet, "Print the ids only");
    list->callback([wrap, &root] { wrap([&root] { return cmd_list(root, format, quiet); }); });

    for (const char* verb : {"checkpoint", "restore"}) {
        auto* cmd = oci->add_subcommand(verb, std::string("Refused: lxbox has no ") + verb + " (it needs CRIU)");
        cmd->allow_extras();
        cmd->callback([wrap, verb = std::string(verb)] {
            wrap([verb] {
                return Result<int>(Error(ErrorKind::Unsupported,
                                         verb + ": not supported: lxbox has no CRIU support to checkpoint or restore containers"));
            });
        });
    }
}

}  // namespace lxbox::cli
