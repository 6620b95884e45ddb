// An OCI bundle's config.json (runtime-spec 1.0/1.1, the Linux parts) read into lxbox's
// ContainerSpec. Pure: everything here is unit-tested, and each refusal names the field, as
// the spec's JSON schema would ("process.args: expected an array of strings").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/cgroups/devices.hpp"
#include "runtime/cgroups/resources.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime::oci {

using Hook = runtime::Hook;

struct Hooks {
    std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
};

struct Config {
    std::string oci_version;
    // bundle, process (explicit_user set), hostname, userns: filled; name, cgroup and the
    // exec fifo are the caller's.
    ContainerSpec spec;
    bool has_process = false;
    Hooks hooks;
    std::map<std::string, std::string> annotations;
    // linux.resources as read; spec.bundle carries them planned as cgroup writes (and
    // linux.cgroupsPath).
    cgroups::Resources resources;
    std::vector<cgroups::DeviceRule> device_rules;  // linux.resources.devices, as read
};

// bundle_dir: absolute; root.path and relative bind sources are taken relative to it.
Result<Config> parse_config(const std::string& json_text, const std::string& bundle_dir);

// linux.resources (or `update --resources FILE`'s object); q names it in errors.
Result<cgroups::Resources> parse_resources(const nlohmann::json& res, const std::string& q);

// A process object (config.json's "process", or `exec --process FILE`); path names it in errors.
Result<ProcessSpec> parse_process(const nlohmann::json& j, const std::string& path);

}  // namespace lxbox::runtime::oci
