// `lxbox doctor` as data: the rows of its table (check / status / detail / fix) and the
// backend each request would get, built purely from HostFacts. host/cli/doctor.cpp only
// detects, calls these and prints. The JSON shape is documented in docs/doctor.md.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "host/backend/choose_backend.hpp"
#include "host/detect/host_facts.hpp"

namespace lxbox::backend {

enum class CheckStatus {
    Ok,    // present and working
    Warn,  // missing or degraded, but some backend still works without it
    Fail,  // missing, and a backend cannot work without it
    Info,  // a fact, nothing to judge
};
const char* to_string(CheckStatus s);
CheckStatus check_status_from_string(const std::string& s);  // Info for anything else

struct DoctorCheck {
    std::string check;  // stable name: "os", "namespace user", "kvm", "qemu-system-x86_64",
                        // "backend auto", ...
    CheckStatus status = CheckStatus::Info;
    std::string detail;  // one line: the reason
    std::string fix;     // the command or step that fixes it, "" when nothing is missing

    bool operator==(const DoctorCheck&) const = default;
};

struct DoctorReport {
    detect::HostFacts host;
    BackendChoice native;     // --backend native
    BackendChoice vm;         // --backend vm
    BackendChoice automatic;  // --backend auto (what `launch` does by default)
    std::vector<DoctorCheck> checks;
    bool usable = false;  // at least one backend can run containers here: doctor's exit 0
};

// Pure: the report for these facts.
DoctorReport build_doctor_report(const detect::HostFacts& facts);

// Pure: the aligned human table, a "fix:" line under each row that has one, and a summary.
std::string render_doctor_table(const DoctorReport& report);

// {"schema_version", "usable", "backends", "checks", "host"}: see docs/doctor.md.
void to_json(nlohmann::json& j, const DoctorCheck& c);
void to_json(nlohmann::json& j, const DoctorReport& r);

inline constexpr int kDoctorSchemaVersion = 1;

}  // namespace lxbox::backend
