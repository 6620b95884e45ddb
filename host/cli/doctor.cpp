// `lxbox doctor [--json]`: what this host can do, with the reason and the fix for each check,
// and the backend `launch` would pick. Exit 0 when some backend can run containers, 1 if none.
// Detection is host/detect, every judgement host/backend; this file only prints.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "host/backend/doctor_report.hpp"
#include "host/cli/app.hpp"
#include "host/detect/facts_cache.hpp"
#include "host/install/version.hpp"
#include "host/launch/decide.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

namespace {

struct DoctorRequest {
    bool json = false;
};

Result<int> cmd_doctor(const GlobalOptions& global, const DoctorRequest& request) {
    // Reads the state dir (the remembered KVM verdict) and refreshes the facts cache of an
    // existing store: doctor never creates a store.
    const std::string root = store_root(global);
    auto start = std::chrono::steady_clock::now();
    // Afresh, and cached for launch: the facts its decision reads are the ones shown here.
    detect::HostFacts facts = detect::detect_and_cache({root + "/vm", std::nullopt}, launch::host_facts_cache(root));
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    backend::DoctorReport report = backend::build_doctor_report(facts);
    if (request.json) {
        nlohmann::json j = report;
        j["probe_ms"] = elapsed.count();
        j["version"] = install::kVersion;
        j["commit"] = install::kCommit;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::fputs(backend::render_doctor_table(report).c_str(), stdout);
    }
    return report.usable ? 0 : 1;
}

}  // namespace

void add_doctor_command(CLI::App& app, CommandContext& ctx) {
    auto request = std::make_shared<DoctorRequest>();
    auto* sub = app.add_subcommand(
        "doctor", "Report what this host can do, and which backend launch would use");
    sub->add_flag("--json", request->json, "Machine-readable output (see docs/doctor.md)");
    sub->callback([&ctx, request] {
        ctx.action = [&ctx, request] { return cmd_doctor(ctx.global, *request); };
    });
}

}  // namespace lxbox::cli
