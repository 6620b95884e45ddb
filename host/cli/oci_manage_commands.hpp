// `lxbox oci` verbs beyond a container's lifecycle, as runc has them: update, events, list,
// and checkpoint/restore (refused: lxbox has no CRIU).
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/base/error.hpp"

namespace lxbox::cli {

// root: --root's value (empty: the default), read when a verb runs; wrap: how the oci verbs
// set their action (the --log and --debug handling).
void add_oci_manage_commands(CLI::App* oci, const std::string& root,
                             const std::function<void(std::function<Result<int>()>)>& wrap);

}  // namespace lxbox::cli
