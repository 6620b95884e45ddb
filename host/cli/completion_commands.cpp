// `lxbox completion SHELL` prints a shell's completion script; the hidden `lxbox __complete --
// WORDS...` answers it (cli_tree.hpp's complete(), then the store's names); the hidden
// `lxbox __man [README]` prints the man page the build installs (host/CMakeLists.txt).
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "host/cli/app.hpp"
#include "host/cli/cli_tree.hpp"
#include "host/cli/shell_scripts.hpp"
#include "host/config/config.hpp"
#include "host/install/version.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

namespace {

CliCommand whole_tree() {
    CLI::App app{kDescription, "lxbox"};
    CommandContext ctx;
    add_every_verb(app, ctx);
    return describe(app);
}

// The names a kind of word may be, read from the store at root without creating it.
std::vector<std::string> store_names(Words kind, const std::string& root) {
    std::vector<std::string> out;
    if (kind == Words::ConfigKeys) {
        for (const config::KeyInfo& k : config::known_keys()) out.push_back(k.key);
        return out;
    }
    if (::access((root + "/registry.json").c_str(), R_OK) != 0) return out;
    auto store = store::Store::open(root);
    if (!store) return out;
    auto reg = store->load();
    if (!reg) return out;
    if (kind == Words::Distros || kind == Words::Targets)
        for (const auto& [name, image] : reg->images) out.push_back(name);
    if (kind == Words::Containers || kind == Words::Targets)
        for (const auto& [name, container] : reg->containers) out.push_back(name);
    return out;
}

Result<int> cmd_complete(const GlobalOptions& g, const std::vector<std::string>& words) {
    CompletionQuery q = complete(whole_tree(), words.empty() ? std::vector<std::string>{""} : words);
    if (q.dynamic == Words::Files) return 1;
    std::vector<std::string> names = q.words;
    if (q.dynamic != Words::None) {
        GlobalOptions at = g;
        if (!q.root.empty()) at.root = q.root;
        for (const std::string& n : store_names(q.dynamic, store_root(at)))
            if (n.compare(0, q.prefix.size(), q.prefix) == 0) names.push_back(n);
    }
    for (const std::string& n : names) std::printf("%s\n", n.c_str());
    return 0;
}

Result<int> cmd_man(const std::string& readme) {
    std::string opening;
    if (!readme.empty()) opening = readme_opening(LXBOX_TRY_CTX(read_file(readme), "__man"));
    std::fputs(man_page(whole_tree(), install::kVersion, opening).c_str(), stdout);
    return 0;
}

}  // namespace

void add_completion_commands(CLI::App& app, CommandContext& ctx) {
    auto shell = std::make_shared<std::string>();
    auto* c = app.add_subcommand("completion", "Print the shell completion script for bash, zsh or fish");
    c->add_option("shell", *shell, "bash, zsh or fish")->required();
    c->callback([&ctx, shell] {
        ctx.action = [shell]() -> Result<int> {
            std::fputs(LXBOX_TRY(completion_script(*shell)).c_str(), stdout);
            return 0;
        };
    });

    // Hidden (no group): what the scripts run at each <TAB>.
    auto words = std::make_shared<std::vector<std::string>>();
    auto* q = app.add_subcommand("__complete", "")->group("");
    // The scripts pass them after "--", so none is taken for an option of lxbox's own.
    q->add_option("words", *words, "The words after lxbox, the last being completed");
    q->set_help_flag();  // the words are data: a "--he" being completed is no request for help
    q->callback([&ctx, words] { ctx.action = [&ctx, words] { return cmd_complete(ctx.global, *words); }; });

    auto readme = std::make_shared<std::string>();
    auto* m = app.add_subcommand("__man", "")->group("");
    m->add_option("readme", *readme, "README.md, whose opening is the DESCRIPTION");
    m->callback([&ctx, readme] { ctx.action = [readme] { return cmd_man(*readme); }; });
}

}  // namespace lxbox::cli
