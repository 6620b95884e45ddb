// Shared by the VM tests and the VM bench: the guest image built once per build tree (kept in
// <build>/vm-test-cache, rebuilt only when the agent or kernel changes), and a BootRequest
// whose sockets and logs live in a scratch dir.
#pragma once

#include <string>

#include "host/vm/guest_image.hpp"
#include "host/vm/vm_launcher.hpp"

namespace lxbox::test {

// The image for tests (builds it on first use); an error when this host cannot build it.
Result<vm::GuestImage> test_guest_image();

// A TCG boot of that image with runtime files under run_dir.
vm::BootRequest test_boot_request(const vm::GuestImage& image, const std::string& run_dir);

// Why VM tests cannot run here ("" when they can): no QEMU, no apt.
std::string vm_unavailable_reason();

}  // namespace lxbox::test
