// Logging goes through spdlog to stderr. debug: every syscall-level step (so
// `--log-level debug` explains a failure); info: what a user would want to see;
// nothing on the hot path at the default level (warn).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace lxbox {

// Sets up the stderr logger at the given level ("trace", "debug", "info", "warn", "error", "off").
// Returns false for an unknown level name.
bool init_logging(const std::string& level);

}  // namespace lxbox
