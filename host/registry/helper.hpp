// lxbox's side of lxbox-registry (registry-client/): finds the helper beside lxbox, runs it
// and reads its JSON lines, handing each progress event to the caller and returning the
// last ("done"), or its "error" as one Error. lxbox stays one static PIE without libcurl;
// the helper, linked dynamically, is only started for a pull, push or login.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"

namespace lxbox::registry {

// $LXBOX_REGISTRY_HELPER, else lxbox-registry beside lxbox, in the build tree's
// registry-client/, or in ../libexec/lxbox/.
Result<std::string> find_registry_helper();

// Every event line but the last, as it arrives (progress, manifest, resume).
using EventFn = std::function<void(const nlohmann::json&)>;

// Runs `lxbox-registry args...` with stdin_text on its stdin; the "done" event, or the
// "error" event's message as an Error of its kind.
Result<nlohmann::json> run_registry_helper(const std::vector<std::string>& args, const EventFn& on_event,
                                           const std::string& stdin_text = "");

// Pure: the Error an "error" event carries ({"event":"error","error":<Error's JSON>}).
Error error_from_event(const nlohmann::json& event);

}  // namespace lxbox::registry
