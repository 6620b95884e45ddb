#include "runtime/archive/libarchive.hpp"

#if !defined(LXBOX_LIBARCHIVE_STATIC)  // a static build links the library: nothing to load

#include <dlfcn.h>

#include <cstdio>
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

}  // namespace

Result<void> load() {
    const Loaded& s = loaded();
    if (s.handle == nullptr) return Error(ErrorKind::Unsupported, s.error);
    return {};
}

namespace detail {

void* symbol(const char* name) noexcept {
    const Loaded& s = loaded();
    if (s.handle == nullptr) {
        std::fprintf(stderr, "lxbox: %s\n", s.error.c_str());
        std::abort();
    }
    void* p = ::dlsym(s.handle, name);
    if (p == nullptr) {
        std::fprintf(stderr, "lxbox: %s has no symbol %s: lxbox was built against a newer libarchive\n",
                     kLibrary, name);
        std::abort();
    }
    return p;
}

}  // namespace detail
}  // namespace lxbox::libarchive

#endif  // !LXBOX_LIBARCHIVE_STATIC
