// `lxbox launch --backend vm`: a container run by the guest agent in a VM, with the same spec
// and the same runtime/ as natively. This slice boots a VM for the launch and powers it off
// after (the shared, kept-running utility VM comes next): the distro reaches the guest as a
// read-only ext4 disk image built once per imported distro (research: 4-20x faster than 9p),
// the container's changes live in the guest's memory (--rm only), and stdio crosses the
// channel as frames under credit-based flow control.
#pragma once

#include <functional>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/proto/messages.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::vm {

// The distro's disk image: vm_dir/disks/<image>.ext4 holding rootfs/, (re)built with mkfs.ext4 -d when the
// image's rootfs is not the one it was built from.
Result<std::string> ensure_distro_disk(const std::string& vm_dir, const std::string& image,
                                       const std::string& rootfs);

// Pure: the spec as the guest runs it (its paths under /run/lxbox; the distro disk mounted at
// the image's place) and the Run message carrying it. Host paths (binds) cannot cross yet:
// an error names them.
Result<proto::Run> guest_run(const runtime::ContainerSpec& host_spec, const std::string& image);

struct VmRunRequest {
    runtime::ContainerSpec spec;  // as the native path would run it
    std::string image;            // the distro's name
    std::string vm_dir;           // $LXBOX_ROOT/vm
    std::function<void(const std::string&)> notice;  // one-line notices (the KVM fallback)
};

// Runs the container in a VM with lxbox's stdin, stdout and stderr; returns its exit code.
Result<int> run_in_vm(const VmRunRequest& request);

}  // namespace lxbox::vm
