// The CLI registers only the named verb's group: the table must name exactly what each group
// registers, and the verb must be found past the global options.
#include <gtest/gtest.h>

#include <set>

#include "host/cli/app.hpp"

namespace lxbox {
namespace {

using V = std::vector<std::string>;

std::vector<std::string> registered(const cli::VerbGroup& g) {
    CLI::App app{"test", "lxbox"};
    cli::CommandContext ctx;
    g.add(app, ctx);
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    return names;
}

TEST(CliVerbs, EachGroupRegistersExactlyTheVerbsTheTableNames) {
    std::set<std::string> seen;
    for (const cli::VerbGroup& g : cli::verb_groups()) {
        EXPECT_EQ(registered(g), g.verbs);
        for (const std::string& v : g.verbs) EXPECT_TRUE(seen.insert(v).second) << v << " is in two groups";
    }
    EXPECT_EQ(seen.size(), 27u);  // doctor, check, 5 store verbs, 6 container verbs, shim, vm, config, oci, images, inspect, image, pull, push, login, logout, completion, __complete, __man
}

const V kValueOptions{"--root", "--log-level"};

TEST(CliVerbs, TheGlobalOptionsThatTakeAValueAreRootAndLogLevel) {
    CLI::App app{"test", "lxbox"};
    cli::GlobalOptions global;
    cli::add_global_options(app, global);
    EXPECT_EQ(cli::value_option_names(app), kValueOptions);
}

TEST(CliVerbs, TheVerbIsFoundPastGlobalOptionsAndTheirValues) {
    EXPECT_EQ(cli::named_verb(V{"lxbox", "launch", "--rm", "--", "true"}, kValueOptions), "launch");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "--root", "/tmp/s", "-q", "ps", "--json"}, kValueOptions), "ps");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "--root=/tmp/s", "--log-level", "debug", "vm", "status"}, kValueOptions), "vm");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "--log-level", "launch", "oci"}, kValueOptions), "oci");  // "launch" is a value there
}

TEST(CliVerbs, NoVerbOrHelpFirstMeansEveryGroup) {
    EXPECT_EQ(cli::named_verb(V{"lxbox"}, kValueOptions), "");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "--help"}, kValueOptions), "");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "-h", "launch"}, kValueOptions), "");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "-q", "--", "launch"}, kValueOptions), "");
    EXPECT_EQ(cli::named_verb(V{"lxbox", "--version"}, kValueOptions), "");
}

}  // namespace
}  // namespace lxbox
