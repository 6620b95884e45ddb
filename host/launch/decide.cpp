#include "host/launch/decide.hpp"

#include <sys/stat.h>

#include <cstdio>

#include "host/detect/facts_cache.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::launch {

std::string host_facts_cache(const std::string& root) { return root + "/cache/host-facts.json"; }

detect::HostFacts host_facts_for(const std::string& root, const std::string& image_arch, bool with_vm) {
    detect::HostFacts facts = detect::cached_host_facts({root + "/vm", std::nullopt}, host_facts_cache(root), with_vm);
    if (!image_arch.empty() && image_arch != facts.arch) facts.binfmt = detect::binfmt_handlers();
    return facts;
}

Result<backend::BackendChoice> decide_backend(const std::string& root, const std::string& image_arch,
                                              const std::string& requested, const std::string& kept_backend) {
    const auto wanted = requested == "vm"       ? backend::RequestedBackend::Vm
                        : requested == "native" ? backend::RequestedBackend::Native
                                                : backend::RequestedBackend::Auto;
    // A native choice does not depend on QEMU or KVM: the cache's VM part (a PATH walk) is
    // checked only when the choice is anything else, and the decision is then made again.
    auto choice = backend::choose_backend(host_facts_for(root, image_arch, false), {image_arch}, {wanted, kept_backend});
    if (choice.backend != backend::Backend::Native)
        choice = backend::choose_backend(host_facts_for(root, image_arch, true), {image_arch}, {wanted, kept_backend});
    spdlog::debug("backend {}", backend::describe(choice));
    if (choice.backend == backend::Backend::None) return Error(ErrorKind::Unsupported, choice.error);
    return choice;
}

vm::Accel vm_accel(backend::Accelerator a) {
    switch (a) {
        case backend::Accelerator::Kvm: return vm::Accel::Kvm;
        case backend::Accelerator::Hvf: return vm::Accel::Hvf;
        case backend::Accelerator::Whpx: return vm::Accel::Whpx;
        case backend::Accelerator::Tcg:
        case backend::Accelerator::None: break;
    }
    return vm::Accel::Tcg;
}

std::string vm_fallback_notice(const backend::BackendChoice& c) {
    if (!c.fallback || c.backend != backend::Backend::Vm) return "";
    // reasons[0] is auto's "not native: ..." (choose_backend).
    const std::string why = c.reasons.empty() ? "native cannot run here" : c.reasons.front();
    return std::string("running in the VM (") + c.arch + ", " + backend::to_string(c.accelerator) + "): " + why +
           ". --backend native forces native; this notice is shown once";
}

void notice_vm_fallback_once(const std::string& root, const backend::BackendChoice& choice) {
    const std::string line = vm_fallback_notice(choice);
    if (line.empty()) return;
    const std::string marker = root + "/vm/fallback-notice";
    if (auto shown = read_file(marker); shown && *shown == line + "\n") return;
    std::fprintf(stderr, "lxbox: %s\n", line.c_str());
    ::mkdir((root + "/vm").c_str(), 0700);
    if (auto st = write_file_atomic(marker, line + "\n", Durability::RenameOnly); !st)
        spdlog::debug("{}: {}", marker, st.error().message);
}

}  // namespace lxbox::launch
