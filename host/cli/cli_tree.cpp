#include "host/cli/cli_tree.hpp"

namespace lxbox::cli {

const CliCommand* CliCommand::find(const std::string& sub) const {
    for (const CliCommand& c : subcommands)
        if (c.name == sub) return &c;
    return nullptr;
}

const CliOption* CliCommand::option(const std::string& spelled) const {
    for (const CliOption& o : options)
        for (const std::string& n : o.names)
            if (n == spelled) return &o;
    return nullptr;
}

CliCommand describe(const CLI::App& app) {
    CliCommand c;
    c.name = app.get_name();
    c.description = app.get_description();
    for (const CLI::Option* o : app.get_options()) {
        if (o->get_positional()) {
            c.positionals.push_back({o->get_name(), o->get_description(), o->get_required(),
                                     o->get_items_expected_max() > 1});
            continue;
        }
        CliOption opt;
        for (const std::string& n : o->get_snames()) opt.names.push_back("-" + n);
        for (const std::string& n : o->get_lnames()) opt.names.push_back("--" + n);
        if (o->get_expected_min() > 0) opt.value_name = o->get_type_name().empty() ? "VALUE" : o->get_type_name();
        opt.description = o->get_description();
        c.options.push_back(std::move(opt));
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (sub->get_group().empty()) continue;  // hidden: __complete, __man
        c.subcommands.push_back(describe(*sub));
    }
    return c;
}

Words positional_words(const std::string& path, const std::string& positional) {
    if (positional == "KEY") return Words::ConfigKeys;
    if (positional == "container" || positional == "containers")
        return path == "shim" ? Words::Targets : Words::Containers;
    if (positional == "target") return Words::Targets;
    if (positional == "tarball" || positional == "file" || positional == "command") return Words::Files;
    // A distro (an image of the store) by name; import's NAME is a new one.
    if (positional == "name" && path != "import" && path != "launch") return Words::Distros;
    return Words::None;
}

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::vector<std::string> matching(const std::vector<std::string>& all, const std::string& prefix) {
    std::vector<std::string> out;
    for (const std::string& w : all)
        if (starts_with(w, prefix)) out.push_back(w);
    return out;
}

}  // namespace

CompletionQuery complete(const CliCommand& tree, const std::vector<std::string>& words) {
    CompletionQuery q;
    q.prefix = words.empty() ? "" : words.back();
    const CliCommand* node = &tree;
    std::string path;
    size_t position = 0;  // positionals of node seen so far
    const size_t done = words.empty() ? 0 : words.size() - 1;
    for (size_t i = 0; i < done; ++i) {
        const std::string& w = words[i];
        if (w == "--") {  // the command run in the container: its words are files as far as we know
            q.dynamic = Words::Files;
            return q;
        }
        if (starts_with(w, "-")) {
            const CliOption* o = node->option(w.substr(0, w.find('=')));
            if (o == nullptr && node != &tree) o = tree.option(w.substr(0, w.find('=')));
            if (o && !o->value_name.empty() && w.find('=') == std::string::npos) {
                if (i + 1 == done) {  // the word being completed is this option's value
                    q.dynamic = Words::Files;
                    return q;
                }
                if (w == "--root") q.root = words[i + 1];
                ++i;
            }
            continue;
        }
        if (const CliCommand* sub = node->find(w); sub && position == 0) {
            node = sub;
            path += (path.empty() ? "" : " ") + w;
            continue;
        }
        ++position;
    }
    if (starts_with(q.prefix, "-")) {
        std::vector<std::string> names;
        for (const CliOption& o : node->options) names.insert(names.end(), o.names.begin(), o.names.end());
        q.words = matching(names, q.prefix);
        return q;
    }
    if (!node->subcommands.empty() && position == 0) {
        std::vector<std::string> names;
        for (const CliCommand& c : node->subcommands) names.push_back(c.name);
        q.words = matching(names, q.prefix);
        if (node->positionals.empty()) return q;
    }
    if (!node->positionals.empty()) {
        const CliPositional& p = node->positionals[std::min(position, node->positionals.size() - 1)];
        if (position < node->positionals.size() || p.many) q.dynamic = positional_words(path, p.name);
    }
    return q;
}

}  // namespace lxbox::cli
