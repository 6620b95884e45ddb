// Linux probes: each one forks a small child that tries the real thing (unshare, an overlay
// mount, a seccomp filter, a KVM guest) and reports how far it got through a pipe. Whatever the
// child creates (namespaces, mounts, a VM) dies with it: no probe leaves anything behind, and
// the mount probes run in the child's own private mount namespace.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "host/detect/host_facts.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::detect::probes {

// What a probe child sends back. step 0 means it got through; otherwise `step` names the stage
// that failed (the probe's own numbering) and `err` its errno (0 for a wrong answer, in `value`).
struct ChildReport {
    int step = 0;
    int err = 0;
    long value = 0;
};

// Runs `body` in a forked child and returns its report. An error when the child cannot be
// forked, dies without reporting, or overruns `deadline` (it is then killed and reaped).
// `body` runs in a copy of this process: it must not return into the caller's state.
Result<ChildReport> run_probe_child(const std::function<ChildReport()>& body,
                                    std::chrono::milliseconds deadline);

// unshare(flag) in a child; with `with_userns`, together with CLONE_NEWUSER, as a rootless
// container creates it (an ordinary user gets EPERM for any other namespace alone).
ProbeResult probe_namespace(int flag, const std::string& flag_name, bool with_userns);

// A real overlay mount (lower/upper/work on a fresh tmpfs) in a child's new mount namespace,
// inside a new user namespace when `in_userns`. `scratch_parent` is a directory the child may
// mount its tmpfs on (its mount is private to the child).
ProbeResult probe_overlay_mount(bool in_userns, const std::string& scratch_parent);

// no_new_privs + a trivial allow-all filter loaded with libseccomp, in a child.
ProbeResult probe_seccomp_filter();

// Opens /dev/kvm and, in a child, checks the API version, creates a VM and a vcpu and (x86)
// KVM_RUNs a real-mode `out 0x10, al; hlt`. Never more than ProbeOkBootUnverified: see KvmState.
KvmFacts probe_kvm();

}  // namespace lxbox::detect::probes
