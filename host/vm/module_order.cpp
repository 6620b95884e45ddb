#include "host/vm/module_order.hpp"

#include <set>

#include "host/vm/kernel_package.hpp"

namespace lxbox::vm {

std::string write_modules_dep(const std::map<std::string, ModuleFile>& modules) {
    std::map<std::string, std::string> lines;  // by path, as depmod sorts
    for (const auto& [name, file] : modules) {
        std::string line = file.path + ":";
        for (const auto& dep : file.depends) {
            auto it = modules.find(dep);
            if (it != modules.end()) line += " " + it->second.path;
        }
        lines[file.path] = line + "\n";
    }
    std::string out;
    for (const auto& [path, line] : lines) out += line;
    return out;
}

namespace {

using DepGraph = std::map<std::string, std::pair<std::string, std::vector<std::string>>>;

DepGraph parse_modules_dep(std::string_view text) {
    DepGraph graph;  // name → (path, dependency names)
    while (!text.empty()) {
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string path(line.substr(0, colon));
        std::vector<std::string> deps;
        std::string_view rest = line.substr(colon + 1);
        while (!rest.empty()) {
            size_t start = rest.find_first_not_of(' ');
            if (start == std::string_view::npos) break;
            size_t end = rest.find(' ', start);
            deps.push_back(module_name(rest.substr(start, end - start)));
            rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        }
        std::string name = module_name(path);  // before path is moved from
        graph[name] = {std::move(path), std::move(deps)};
    }
    return graph;
}

std::set<std::string> parse_builtin(std::string_view text) {
    std::set<std::string> names;
    while (!text.empty()) {
        size_t eol = text.find('\n');
        if (eol != 0) names.insert(module_name(text.substr(0, eol)));
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    }
    return names;
}

// Depth-first, dependencies first. modules.dep lists a module's full transitive closure,
// so depth stays small; `visiting` guards against a (malformed) cycle.
void visit(const DepGraph& graph, const std::string& name, std::set<std::string>& done,
           std::set<std::string>& visiting, std::vector<std::string>& order) {
    if (done.count(name) || visiting.count(name)) return;
    auto it = graph.find(name);
    if (it == graph.end()) return;  // built in
    visiting.insert(name);
    for (const auto& dep : it->second.second) visit(graph, dep, done, visiting, order);
    visiting.erase(name);
    done.insert(name);
    order.push_back(it->second.first);
}

}  // namespace

std::map<std::string, std::vector<std::string>> module_dependencies(std::string_view modules_dep) {
    std::map<std::string, std::vector<std::string>> out;
    for (auto& [name, entry] : parse_modules_dep(modules_dep)) out[name] = std::move(entry.second);
    return out;
}

Result<std::vector<std::string>> resolve_module_order(std::string_view modules_dep,
                                                      const std::vector<std::string>& wanted,
                                                      std::string_view modules_builtin) {
    DepGraph graph = parse_modules_dep(modules_dep);
    std::set<std::string> builtin = parse_builtin(modules_builtin);
    std::set<std::string> done, visiting;
    std::vector<std::string> order;
    for (const auto& want : wanted) {
        std::string name = module_name(want);
        if (!graph.count(name) && !builtin.count(name))
            return Error(ErrorKind::NotFound, "kernel module " + name +
                                                  " is neither in modules.dep nor built in");
        visit(graph, name, done, visiting, order);
    }
    return order;
}

}  // namespace lxbox::vm
