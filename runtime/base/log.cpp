#include "runtime/base/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace lxbox {

bool init_logging(const std::string& level) {
    auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") return false;
    static auto logger = spdlog::stderr_logger_st("lxbox");
    logger->set_pattern("lxbox[%P] %l: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(lvl);
    return true;
}

}  // namespace lxbox
