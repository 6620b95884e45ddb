// The guest's kernel modules: the image's load order (written by host/vm/guest_image.cpp) and
// the loader that works through it on the vCPUs from the first instant of boot.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::agent {

// When a module is needed, in the order of the load-order file's phases.
enum class ModulePhase {
    Boot,     // the channel: before the port can appear
    Later,    // every container: disks, ext4, overlay, the network
    Share,    // host directories over 9p: loaded from the first container on; only a container
              // with a -v share waits for them
    Hotplug,  // the SCSI stack: only when a disk was hot-plugged (most VMs never load it)
};

struct ModuleToLoad {
    std::string file;  // as the loader opens it (a name in the module directory, or a path)
    ModulePhase phase = ModulePhase::Later;
    std::vector<std::string> after;  // files of the modules it needs loaded first
    uint64_t size = 0;               // bytes: the loader's estimate of its load time
};

// Where the image keeps its modules and their load order.
inline constexpr const char* kModuleDir = "/lib/modules";

// Pure: the load-order text ("<file> boot|later|share|hotplug[ dep,...]" per line) → modules,
// their files and dependencies under dir ("" keeps the bare names). A line with an unknown
// phase is left out.
std::vector<ModuleToLoad> parse_load_order(const std::string& text, const std::string& dir);

// Pure: for each module, its size plus the heaviest chain of modules that wait for it (the
// list being a valid serial order). Loading the heaviest chain first finishes a phase
// soonest: ext4 (2 MB, ~130 ms under TCG) behind jbd2 starts first, the rest loads beside it.
std::vector<uint64_t> chain_weights(const std::vector<ModuleToLoad>& modules);

// Loads modules on `workers` threads (TCG runs a vCPU per host thread, so two loads do run
// side by side). A module is loaded once it is requested and every module of its `after` that
// is in the list was tried; among those ready, the earliest phase goes first (the channel's
// modules are a short chain: the other vCPUs start on the Later ones meanwhile), and within a
// phase the heaviest chain (chain_weights). A failed load still releases
// its dependents (their own loads report it) and never stops the rest: a missing fs module
// must not cost the channel. EEXIST is fine.
class ModuleLoader {
public:
    using Load = std::function<Status(const ModuleToLoad&)>;
    ModuleLoader(std::vector<ModuleToLoad> modules, unsigned workers, Load load);
    ~ModuleLoader();
    ModuleLoader(const ModuleLoader&) = delete;
    ModuleLoader& operator=(const ModuleLoader&) = delete;

    // Queues every module of this phase and the ones before it; returns at once.
    void request(ModulePhase upto);
    // request(upto), then waits until each of those modules was tried: the failures' messages
    // joined with "; " as one error.
    Status wait(ModulePhase upto);
    // Requests the phase of the module loaded from file, then waits until that module was tried:
    // its failure, if it failed. At once when no module has that file.
    Status wait_for(const std::string& file);

private:
    void queue(ModulePhase upto);  // request() under mu_
    ptrdiff_t next_ready() const;  // the best module to load now; -1 when none is
    void work();

    std::vector<ModuleToLoad> modules_;
    std::vector<std::vector<size_t>> deps_;  // where each one's `after` are in modules_
    std::vector<uint64_t> weight_;
    Load load_;
    std::mutex mu_;
    std::condition_variable changed_;
    std::vector<bool> queued_, taken_, done_;
    std::vector<std::string> failure_;  // per module: "" when its load succeeded
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

// finit_module of `name` opened relative to the directory fd dir (or a path).
Status load_module_file(int dir, const std::string& name);

}  // namespace lxbox::agent
