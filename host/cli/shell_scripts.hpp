// `lxbox completion bash|zsh|fish` and the man page: text made from the CLI tree (cli_tree.hpp).
#pragma once

#include <string>

#include "host/cli/cli_tree.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::cli {

// The completion script for shell ("bash", "zsh" or "fish"). Each asks `lxbox __complete WORDS`
// (the same binary the user typed) what the word under the cursor may be, so verbs, flags and
// names all come from the tree and the store of the lxbox that runs. Pure.
Result<std::string> completion_script(const std::string& shell);

// The man page lxbox.1 (roff, man(7) macros): a subsection per verb with its options and
// subcommands; description is the README's opening. Pure.
std::string man_page(const CliCommand& tree, const std::string& version, const std::string& description);

// The README's first paragraphs (up to its first "## "), markdown marks dropped. Pure.
std::string readme_opening(const std::string& readme);

}  // namespace lxbox::cli
