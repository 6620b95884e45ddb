// Applying a SecurityPlan (runtime/plan/security.hpp) to the calling process: the capability
// bounding set, ambient capabilities, no_new_privs and the seccomp filter (built with
// libseccomp), then, once the process has its final user, the capability sets themselves.
#pragma once

#include <cstdint>

#include "runtime/base/error.hpp"
#include "runtime/plan/security.hpp"

namespace lxbox::linux_fx {

// Before the user switch, while still root with every capability: drops what the plan does
// not keep from the bounding set, clears the ambient set, sets no_new_privs and loads the
// seccomp filter (inherited by every child; it cannot be removed). Nothing for privileged.
Status enter_security(const runtime::SecurityPlan& plan);

// The plan's seccomp filters (its allowlist, and its refusals when it has any) as BPF
// programs packed into one string, compiled with libseccomp (~15 ms for docker's profile) or
// read from cache_dir, where compiled ones are kept by their cache key ("" = no cache). Empty
// when the plan has no filter.
Result<std::string> seccomp_program(const runtime::SecurityPlan& plan, const std::string& cache_dir);

// After the user switch: permitted and effective = the plan's capabilities, inheritable and
// ambient empty. For a non-root user the kernel already cleared them at setuid; nothing to do.
// With explicit sets (the caller set PR_SET_KEEPCAPS before the switch): every set as given.
Status set_capabilities(const runtime::SecurityPlan& plan, uid_t uid);

// The capability sets of the calling process, as /proc/self/status shows them (for tests).
struct CapabilitySets {
    uint64_t effective = 0, permitted = 0, inheritable = 0;
};
Result<CapabilitySets> current_capabilities();

}  // namespace lxbox::linux_fx
