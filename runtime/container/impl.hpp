// Container::Impl (internal to runtime/container): what the parent holds for a running
// container beyond its pid and fds, kept out of the public header.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/container/container.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::runtime {

// What the parent's wait loop reads: the signals it forwards (linux_fx::forwarded_signals)
// and job control's stop (TSTP) and continue (CONT), which it forwards as well.
sigset_t waited_signals();

struct Container::Impl {
    explicit Impl(const sigset_t& set) : blocked(set) {}
    // Blocked from before clone3 until the container is reaped, then read through a signalfd:
    // a Ctrl-C or a TERM to lxbox is forwarded, never lost and never fatal to lxbox.
    linux_fx::SignalBlock blocked;
    std::optional<cgroups::Cgroup> cgroup;  // the container's own; none for a joined process
    std::vector<std::string> warnings;      // what the caller should tell the user
};

}  // namespace lxbox::runtime
