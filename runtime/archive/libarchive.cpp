#include "runtime/archive/libarchive.hpp"

#if !defined(LXBOX_LIBARCHIVE_STATIC)  // a static build links the library: nothing to load

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace lxbox::libarchive {
namespace {

// The SONAME of libarchive 3.x on Linux (Debian package libarchive13).
#if defined(__APPLE__)
constexpr const char* kLibrary = "libarchive.13.dylib";
#else
constexpr const char* kLibrary = "libarchive.so.13";
#endif

struct Loaded {
    void* handle = nullptr;
    std::string error;
};

const Loaded& loaded() {
    static const Loaded state = [] {
        Loaded s;
        // RTLD_LOCAL: its symbols resolve our calls only, through detail::symbol().
        s.handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
        if (s.handle == nullptr) {
            const char* why = ::dlerror();
            s.error = std::string("load ") + kLibrary + ": " + (why ? why : "unknown error") +
                      " (install libarchive13)";
        }
        return s;
    }();
    return state;
}

// Every function lxbox calls, resolved while loading: a library without one of them is an
// error load() returns (the archive verbs print it in one line), not a failure at the first
// call of that function, half-way through an import.
Status resolve_all(const Loaded& s) {
#define LXBOX_LIBARCHIVE_RESOLVE(name)                                                               \
    if (!name.resolve(s.handle))                                                                     \
        return Error(ErrorKind::Unsupported, std::string(kLibrary) + " has no symbol " #name         \
                                                 ": lxbox was built against a newer libarchive");
    LXBOX_LIBARCHIVE_FUNCTIONS(LXBOX_LIBARCHIVE_RESOLVE)
    LXBOX_LIBARCHIVE_RESOLVE(archive_set_error)
#undef LXBOX_LIBARCHIVE_RESOLVE
    return {};
}

}  // namespace

Result<void> load() {
    const Loaded& s = loaded();
    if (s.handle == nullptr) return Error(ErrorKind::Unsupported, s.error);
    static const Status resolved = resolve_all(s);
    return resolved;
}

bool resolve_in(void* handle, const char* name, std::atomic<void*>& ptr) noexcept {
    void* p = ::dlsym(handle, name);
    if (p != nullptr) ptr.store(p, std::memory_order_release);
    return p != nullptr;
}

namespace detail {

void* symbol(const char* name) noexcept {
    // Reached only by a call before load() succeeded, which every entry point makes first: a
    // defect of lxbox's own, not of the library, and nothing a caller could handle.
    if (!load()) std::abort();
    return ::dlsym(loaded().handle, name);
}

}  // namespace detail
}  // namespace lxbox::libarchive

#endif  // !LXBOX_LIBARCHIVE_STATIC
