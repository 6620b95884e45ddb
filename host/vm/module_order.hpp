// Which kernel modules the guest loads, in which order: the wanted modules plus their
// dependencies, dependencies first, resolved from depmod's modules.dep format. Debian's
// package ships no modules.dep (its postinst runs depmod), so the image builder writes one
// from the modules' own .modinfo depends= (what depmod reads) and resolves from that.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::vm {

struct ModuleFile {
    std::string path;                  // relative to /lib/modules/<version>, e.g. kernel/fs/9p/9p.ko
    std::vector<std::string> depends;  // module names
};

// Pure: depmod's modules.dep text ("kernel/a.ko: kernel/b.ko kernel/c.ko\n", sorted by path)
// from module name → file; a dependency with no file is left out (built in).
std::string write_modules_dep(const std::map<std::string, ModuleFile>& modules);

// Pure: each module's dependencies by name (modules.dep lists the transitive closure).
std::map<std::string, std::vector<std::string>> module_dependencies(std::string_view modules_dep);

// Pure: the paths to load, dependencies before dependents, each once, from modules.dep text.
// A wanted module that is neither in modules.dep nor in modules.builtin is NotFound.
Result<std::vector<std::string>> resolve_module_order(std::string_view modules_dep,
                                                      const std::vector<std::string>& wanted,
                                                      std::string_view modules_builtin);

}  // namespace lxbox::vm
