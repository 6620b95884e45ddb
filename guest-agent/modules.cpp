#include "guest-agent/modules.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <sstream>

#include "runtime/base/unique_fd.hpp"

namespace lxbox::agent {

std::vector<ModuleToLoad> parse_load_order(const std::string& text, const std::string& dir) {
    static const std::map<std::string, ModulePhase> phases{{"boot", ModulePhase::Boot},
                                                           {"later", ModulePhase::Later},
                                                           {"share", ModulePhase::Share},
                                                           {"hotplug", ModulePhase::Hotplug}};
    auto path = [&dir](const std::string& file) { return dir.empty() ? file : dir + "/" + file; };
    std::vector<ModuleToLoad> modules;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream in(line);
        std::string file, phase, deps;
        if (!(in >> file >> phase) || !phases.count(phase)) continue;
        ModuleToLoad m{path(file), phases.at(phase), {}, 0};
        if (in >> deps) {
            std::istringstream list(deps);
            for (std::string dep; std::getline(list, dep, ',');)
                if (!dep.empty()) m.after.push_back(path(dep));
        }
        modules.push_back(std::move(m));
    }
    return modules;
}

namespace {

// For each module, the places in the list of the modules of its `after` (one that is not in
// the list is built in, or not in the image: nothing to wait for).
std::vector<std::vector<size_t>> dependency_indices(const std::vector<ModuleToLoad>& modules) {
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < modules.size(); ++i) index[modules[i].file] = i;
    std::vector<std::vector<size_t>> deps(modules.size());
    for (size_t i = 0; i < modules.size(); ++i)
        for (const auto& dep : modules[i].after)
            if (auto it = index.find(dep); it != index.end()) deps[i].push_back(it->second);
    return deps;
}

std::vector<uint64_t> chain_weights(const std::vector<ModuleToLoad>& modules,
                                    const std::vector<std::vector<size_t>>& deps) {
    std::vector<uint64_t> weight(modules.size(), 0);
    // From the end: every module that waits for modules[i] comes after it in a serial order.
    for (size_t i = modules.size(); i-- > 0;) {
        weight[i] += modules[i].size;
        for (size_t d : deps[i])
            if (d < i) weight[d] = std::max(weight[d], weight[i]);
    }
    return weight;
}

}  // namespace

std::vector<uint64_t> chain_weights(const std::vector<ModuleToLoad>& modules) {
    return chain_weights(modules, dependency_indices(modules));
}

ModuleLoader::ModuleLoader(std::vector<ModuleToLoad> modules, unsigned workers, Load load)
    : modules_(std::move(modules)),
      deps_(dependency_indices(modules_)),
      weight_(chain_weights(modules_, deps_)),
      load_(std::move(load)),
      queued_(modules_.size(), false),
      taken_(modules_.size(), false),
      done_(modules_.size(), false),
      failure_(modules_.size()) {
    for (unsigned w = 0; w < std::max(workers, 1u); ++w) workers_.emplace_back([this] { work(); });
}

ModuleLoader::~ModuleLoader() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    changed_.notify_all();
    for (auto& t : workers_) t.join();
}

void ModuleLoader::queue(ModulePhase upto) {
    for (size_t i = 0; i < modules_.size(); ++i)
        if (modules_[i].phase <= upto) queued_[i] = true;
}

void ModuleLoader::request(ModulePhase upto) {
    {
        std::lock_guard lock(mu_);
        queue(upto);
    }
    changed_.notify_all();
}

Status ModuleLoader::wait_for(const std::string& file) {
    std::unique_lock lock(mu_);
    const auto it = std::find_if(modules_.begin(), modules_.end(), [&](const ModuleToLoad& m) { return m.file == file; });
    if (it == modules_.end()) return {};
    const size_t k = size_t(it - modules_.begin());
    queue(it->phase);
    changed_.notify_all();
    changed_.wait(lock, [&] { return bool(done_[k]); });
    if (!failure_[k].empty()) return Error(ErrorKind::System, failure_[k]);
    return {};
}

Status ModuleLoader::wait(ModulePhase upto) {
    request(upto);
    std::unique_lock lock(mu_);
    auto in_phase = [&](size_t i) { return modules_[i].phase <= upto; };
    changed_.wait(lock, [&] {
        for (size_t i = 0; i < modules_.size(); ++i)
            if (in_phase(i) && !done_[i]) return false;
        return true;
    });
    std::string failures;
    for (size_t i = 0; i < modules_.size(); ++i)
        if (in_phase(i) && !failure_[i].empty()) failures += (failures.empty() ? "" : "; ") + failure_[i];
    if (!failures.empty()) return Error(ErrorKind::System, failures);
    return {};
}

ptrdiff_t ModuleLoader::next_ready() const {
    ptrdiff_t best = -1;
    for (size_t i = 0; i < modules_.size(); ++i) {
        if (!queued_[i] || taken_[i]) continue;
        if (!std::all_of(deps_[i].begin(), deps_[i].end(), [&](size_t d) { return bool(done_[d]); })) continue;
        if (best < 0) {
            best = ptrdiff_t(i);
            continue;
        }
        const auto& b = modules_[size_t(best)];
        if (modules_[i].phase < b.phase || (modules_[i].phase == b.phase && weight_[i] > weight_[size_t(best)]))
            best = ptrdiff_t(i);
    }
    return best;
}

void ModuleLoader::work() {
    std::unique_lock lock(mu_);
    for (;;) {
        ptrdiff_t i = -1;
        changed_.wait(lock, [&] { return stopping_ || (i = next_ready()) >= 0; });
        if (stopping_) return;
        const size_t k = size_t(i);
        taken_[k] = true;
        lock.unlock();
        Status st = load_(modules_[k]);
        lock.lock();
        if (!st) failure_[k] = st.error().message;
        done_[k] = true;
        changed_.notify_all();
    }
}

Status load_module_file(int dir, const std::string& name) {
    UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::last("open module " + name);
    // glibc has no finit_module wrapper; finit_module lets the kernel read the file itself.
    if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST) return Error::last("load " + name);
    return {};
}

}  // namespace lxbox::agent
