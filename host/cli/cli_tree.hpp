// The command line as plain data, read from CLI11's tree (describe): shell completion and the
// man page are made from it, so neither can drift from the verbs and flags lxbox parses.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace lxbox::cli {

struct CliOption {
    std::vector<std::string> names;  // as argv spells them: "-q", "--quiet"
    std::string value_name;          // "" for a flag, else what it takes ("TEXT", "DIR")
    std::string description;
};

struct CliPositional {
    std::string name, description;
    bool required = false;
    bool many = false;  // takes every remaining word
};

struct CliCommand {
    std::string name, description;
    std::vector<CliOption> options;  // --help included
    std::vector<CliPositional> positionals;
    std::vector<CliCommand> subcommands;  // the hidden ones (__complete) left out
    const CliCommand* find(const std::string& sub) const;
    const CliOption* option(const std::string& spelled) const;  // by "-q" or "--quiet"
};

// The tree CLI11 holds for app. Pure over app.
CliCommand describe(const CLI::App& app);

// What a positional of a verb names, for completion: path is the verb's words ("config get").
enum class Words { None, Files, Distros, Containers, Targets /* distros and containers */, ConfigKeys };
Words positional_words(const std::string& path, const std::string& positional);

// What to offer for the last of words (the args after "lxbox", the last one being completed,
// maybe ""): fixed words (verbs, flags) already filtered by its prefix, or names of a kind the
// caller lists from the store. root is a --root DIR given among words ("" if none). Pure.
struct CompletionQuery {
    std::vector<std::string> words;
    Words dynamic = Words::None;
    std::string prefix, root;
};
CompletionQuery complete(const CliCommand& tree, const std::vector<std::string>& words);

}  // namespace lxbox::cli
