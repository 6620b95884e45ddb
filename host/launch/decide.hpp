// The backend decision as launch, exec and the shim take it: this host's facts (cached,
// host/detect/facts_cache.hpp), the image's arch, and the request, through the one pure
// backend::choose_backend that doctor reports too.
#pragma once

#include <string>

#include "host/backend/choose_backend.hpp"
#include "host/vm/qemu_command.hpp"
#include "runtime/base/error.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::launch {

// Where a store keeps the cached host facts.
std::string host_facts_cache(const std::string& root);

// This host's facts as the decision reads them: the cache (detected afresh when stale; its
// QEMU and KVM part checked only with_vm), and the binfmt_misc handlers read now when
// image_arch is not the host's.
detect::HostFacts host_facts_for(const std::string& root, const std::string& image_arch, bool with_vm = true);

// The backend for an image of image_arch ("" = the host's), requested as "auto", "native" or
// "vm", of a kept container made on kept_backend ("" for a new or throwaway one). An error, its
// one line naming what is missing, when none can run it. --log-level debug prints the choice.
Result<backend::BackendChoice> decide_backend(const std::string& root, const std::string& image_arch,
                                              const std::string& requested, const std::string& kept_backend);

// Pure: the decision's accelerator as QEMU's command line names it (tcg for none).
vm::Accel vm_accel(backend::Accelerator accelerator);

// Pure: the notice of a launch that auto sent to the VM because native cannot run (empty
// otherwise): why, and how to force native.
std::string vm_fallback_notice(const backend::BackendChoice& choice);

// Prints vm_fallback_notice on stderr the first time it is what it is in this store (the last
// one shown is kept in vm/fallback-notice): nothing is chosen silently, and nothing nags.
void notice_vm_fallback_once(const std::string& root, const backend::BackendChoice& choice);

}  // namespace lxbox::launch
