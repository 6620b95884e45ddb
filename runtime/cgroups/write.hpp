// One write to a cgroup file: the unit every resource plan (launch's limits, an OCI bundle's
// linux.resources) is made of. Plain data: it travels in the container spec.
#pragma once

#include <string>

namespace lxbox::cgroups {

struct Write {
    std::string controller;  // the controller whose hierarchy holds the file ("memory", "io", ...)
    std::string file;
    std::string value;
    bool if_present = false;  // skipped when the kernel lacks the file (no swap accounting)
    // Set instead of a file: the setting has no equivalent in this cgroup version, and a cgroup
    // that would need it is refused with this message (a hybrid host may take the controller
    // from the other version).
    std::string refused;
    bool operator==(const Write&) const = default;
};

}  // namespace lxbox::cgroups
