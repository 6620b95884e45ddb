#include "tests/vm/vm_fixture.hpp"

#include <unistd.h>

#include <boost/process.hpp>
#include <mutex>

namespace lxbox::test {

Result<vm::GuestImage> test_guest_image() {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    vm::ImageRequest req;
    req.vm_dir = LXBOX_VM_CACHE_DIR;
    req.agent_path = LXBOX_AGENT_BINARY;
    return vm::ensure_guest_image(req);
}

vm::BootRequest test_boot_request(const vm::GuestImage& image, const std::string& run_dir) {
    vm::BootRequest req;
    req.config.kernel = image.vmlinux;
    req.config.initrd = image.initramfs;
    req.facts = vm::detect_vm_platform();
    // Nested KVM hangs real guests on these hosts: the tests pin TCG unless they test KVM.
    req.facts.accel = vm::Accel::Tcg;
    req.vm_dir = run_dir;
    req.boot_deadline = std::chrono::seconds(40);
    return req;
}

std::string vm_unavailable_reason() {
    if (boost::process::search_path("qemu-system-x86_64").empty())
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)";
    if (boost::process::search_path("apt-get").empty()) return "no apt-get to fetch the kernel";
    return "";
}

}  // namespace lxbox::test
