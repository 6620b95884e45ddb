// Placeholder until host/detect lands (being written now).
#include "host/cli/app.hpp"
namespace lxbox::cli {
void add_doctor_command(CLI::App& app, CommandContext& ctx) {
    auto* sub = app.add_subcommand("doctor", "Report what this host can do");
    sub->callback([&ctx] { ctx.action = [] { return Result<int>(Error(ErrorKind::Unsupported, "doctor: not yet")); }; });
}
}  // namespace lxbox::cli
