// Completion and the man page are made from CLI11's tree (host/cli/cli_tree.hpp): what they
// offer for a command line, and the roff they write.
#include <gtest/gtest.h>

#include "host/cli/app.hpp"
#include "host/cli/cli_tree.hpp"
#include "host/cli/shell_scripts.hpp"

namespace lxbox {
namespace {

using V = std::vector<std::string>;
using cli::Words;

const cli::CliCommand& tree() {
    static const cli::CliCommand t = [] {
        CLI::App app{cli::kDescription, "lxbox"};
        cli::CommandContext ctx;
        cli::add_every_verb(app, ctx);
        return cli::describe(app);
    }();
    return t;
}

bool has(const V& words, const std::string& w) { return std::find(words.begin(), words.end(), w) != words.end(); }

TEST(CliTree, DescribesEveryVerbButTheHiddenOnes) {
    const cli::CliCommand& t = tree();
    for (const cli::VerbGroup& g : cli::verb_groups())
        for (const std::string& v : g.verbs) EXPECT_EQ(t.find(v) != nullptr, v.rfind("__", 0) != 0) << v;
    ASSERT_NE(t.find("config"), nullptr);
    EXPECT_NE(t.find("config")->find("get"), nullptr);
    const cli::CliOption* root = t.option("--root");
    ASSERT_NE(root, nullptr);
    EXPECT_FALSE(root->value_name.empty());
    EXPECT_TRUE(t.option("-q")->value_name.empty());
}

TEST(CliCompletion, VerbsByPrefix) {
    auto q = cli::complete(tree(), {"co"});
    EXPECT_EQ(q.words, (V{"config", "completion"}));
    EXPECT_EQ(q.dynamic, Words::None);
    EXPECT_TRUE(has(cli::complete(tree(), {""}).words, "launch"));
}

TEST(CliCompletion, SubcommandsAfterGlobalOptionsAndTheirValues) {
    auto q = cli::complete(tree(), {"--root", "/s", "-q", "config", ""});
    EXPECT_EQ(q.words, (V{"list", "get", "set", "unset"}));
    EXPECT_EQ(q.root, "/s");
}

TEST(CliCompletion, FlagsOfTheVerb) {
    auto q = cli::complete(tree(), {"launch", "--r"});
    EXPECT_EQ(q.words, (V{"--rm"}));
    EXPECT_TRUE(has(cli::complete(tree(), {"launch", "-"}).words, "-e"));
}

TEST(CliCompletion, PositionalsAskTheStoreForNames) {
    EXPECT_EQ(cli::complete(tree(), {"launch", "deb"}).dynamic, Words::Targets);
    EXPECT_EQ(cli::complete(tree(), {"launch", "--rm", "-e", "A=1", ""}).dynamic, Words::Targets);
    EXPECT_EQ(cli::complete(tree(), {"exec", ""}).dynamic, Words::Containers);
    EXPECT_EQ(cli::complete(tree(), {"rm", "a", "b", ""}).dynamic, Words::Containers);  // many
    EXPECT_EQ(cli::complete(tree(), {"set-default", ""}).dynamic, Words::Distros);
    EXPECT_EQ(cli::complete(tree(), {"config", "set", "vm."}).dynamic, Words::ConfigKeys);
    EXPECT_EQ(cli::complete(tree(), {"config", "set", "vm.cpus", ""}).dynamic, Words::None);  // VALUE
    EXPECT_EQ(cli::complete(tree(), {"import", ""}).dynamic, Words::None);  // a new name
    EXPECT_EQ(cli::complete(tree(), {"import", "x", ""}).dynamic, Words::Files);
    EXPECT_EQ(cli::complete(tree(), {"stop", "web", ""}).dynamic, Words::None);  // stop takes one
}

TEST(CliCompletion, OptionValuesAndTheCommandAfterDashDashAreFiles) {
    EXPECT_EQ(cli::complete(tree(), {"--root", ""}).dynamic, Words::Files);
    EXPECT_EQ(cli::complete(tree(), {"launch", "--env-file", ""}).dynamic, Words::Files);
    EXPECT_EQ(cli::complete(tree(), {"launch", "debian", "--", "l"}).dynamic, Words::Files);
}

TEST(ShellScripts, EachShellHasAScriptThatAsksLxbox) {
    for (const char* shell : {"bash", "zsh", "fish"}) {
        auto s = cli::completion_script(shell);
        ASSERT_TRUE(s) << shell;
        EXPECT_NE(s->find("__complete --"), std::string::npos) << shell;
    }
    auto bad = cli::completion_script("tcsh");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "completion: no script for shell 'tcsh' (bash, zsh or fish)");
}

TEST(ManPage, ASubsectionPerVerbAndRoffSafeText) {
    const std::string page = cli::man_page(tree(), "1.2.3", "First line \u2014 dash\n.starts with a dot\n\nback\\slash");
    EXPECT_EQ(page.rfind(".TH LXBOX 1 \"\" \"lxbox 1.2.3\"", 0), 0u);
    for (const cli::CliCommand& c : tree().subcommands) {
        std::string name;  // a hyphen is \- in roff: set\-default
        for (char ch : c.name) name += ch == '-' ? std::string("\\-") : std::string(1, ch);
        EXPECT_NE(page.find(".SS \\fBlxbox " + name + "\\fR"), std::string::npos) << c.name;
    }
    EXPECT_NE(page.find(".SS \\fBlxbox config get\\fR"), std::string::npos);
    EXPECT_NE(page.find("First line \\[u2014] dash\n"), std::string::npos);
    EXPECT_NE(page.find("\\&.starts with a dot\n.PP\nback\\eslash\n"), std::string::npos);
    EXPECT_NE(page.find("\\fB\\-\\-root\\fR \\fI"), std::string::npos);
}

TEST(ManPage, TheReadmeOpeningIsItsTextUpToTheFirstSection) {
    EXPECT_EQ(cli::readme_opening("# lxbox\n\nA `launcher`, *fast*.\n\nMore.\n\n## Quick start\nno"),
              "A launcher, fast.\n\nMore.");
}

}  // namespace
}  // namespace lxbox
