// `lxbox check [--dry-run] [--json]`: the store's health (runtime/store/check.hpp decides),
// repairing what can be repaired safely. A verb of its own, not a `doctor` check: doctor
// reports what the host can do and never creates or writes a store; check takes the store's
// locks and changes it. Exit 0 when nothing is left to fix, 1 otherwise.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"
#include "host/launch/containers.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/store/check.hpp"

namespace lxbox::cli {

namespace {

struct CheckRequest {
    bool json = false;
    bool dry_run = false;
};

Result<int> cmd_check(const GlobalOptions& g, const CheckRequest& req) {
    // Not open_store(): its clean-up would remove leftovers before they could be reported.
    auto store = LXBOX_TRY(store::Store::open(store_root(g), false));
    store::CgroupAccess cgroups;
    // "lxbox-<store id>-" + a containers/ entry (launch::cgroup_name).
    const std::string probe = launch::cgroup_name(store, "/x");
    cgroups.prefix = probe.substr(0, probe.size() - 1);
    cgroups.list = [&] { return cgroups::Cgroup::list_lxbox_groups(cgroups.prefix); };
    cgroups.remove = [](const std::string& name) -> Status {
        auto cg = LXBOX_TRY(cgroups::Cgroup::open_leftover(name));
        return cg.remove();
    };
    auto findings = LXBOX_TRY(store::check_store(store, cgroups, req.dry_run).context("check " + store.root()));
    const bool ok = req.dry_run ? findings.empty() : store::healthy(findings);
    if (req.json) {
        nlohmann::json j = {{"root", store.root()}, {"healthy", ok}, {"dry_run", req.dry_run}, {"findings", findings}};
        std::printf("%s\n", j.dump(2).c_str());
        return ok ? 0 : 1;
    }
    for (const auto& f : findings) {
        const char* state = f.repaired ? "repaired" : f.repair == store::Repair::None ? "left" : req.dry_run ? "repairable" : "FAILED";
        std::printf("%-10s %-22s %s: %s%s%s\n", state, f.kind.c_str(), f.target.c_str(), f.detail.c_str(),
                    f.error.empty() ? "" : ": ", f.error.c_str());
    }
    std::printf("%s\n", ok ? "store is healthy" : "store has problems left (see above)");
    return ok ? 0 : 1;
}

}  // namespace

void add_check_command(CLI::App& app, CommandContext& ctx) {
    auto req = std::make_shared<CheckRequest>();
    auto* cmd = app.add_subcommand("check", "Check the store's health and repair what is safe to repair");
    cmd->add_flag("--dry-run", req->dry_run, "Report only, change nothing");
    cmd->add_flag("--json", req->json, "Machine-readable output (see docs/check.md)");
    cmd->callback([&ctx, req] { ctx.action = [&ctx, req] { return cmd_check(ctx.global, *req); }; });
}

}  // namespace lxbox::cli
