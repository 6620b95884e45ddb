// Placeholder until the store lands (being written now).
#include "host/cli/app.hpp"
namespace lxbox::cli {
void add_store_commands(CLI::App&, CommandContext&) {}
}  // namespace lxbox::cli
