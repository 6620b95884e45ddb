// libarchive, named through one namespace so that how it is linked is decided in one place.
//
// Only import, export and the VM image builder read or write archives; `lxbox launch` never
// does. Two ways, chosen by the build (CMake option LXBOX_STATIC):
//  - static (Linux, the default): lxbox is one static PIE, libarchive and its compressors
//    linked in. No dynamic loader runs at start-up, so a launch pays for no shared object at
//    all (15.0 -> 12.8 ms of `launch --rm -- /bin/true` here, against the same code linked to
//    libc.so); the archive code is in the file but never paged in by a launch. The names
//    below are the library's own functions.
//  - dynamic (LXBOX_STATIC=OFF, and hosts without static archives): libarchive is dlopen'ed
//    on first use, as systemd does for its optional libraries, because linking libarchive.so
//    made every launch load it and its eleven dependencies (4.5 ms of a 25 ms launch).
//
// Call sites name the functions through this namespace, with the prototypes of <archive.h>:
//
//     namespace la = lxbox::libarchive;
//     LXBOX_TRY(la::load());                      // the one error a user can see
//     la::ReadPtr a(la::archive_read_new());
//     la::archive_read_support_filter_all(a.get());
//
// In a dynamic build an unqualified archive_*() call names the real symbol, which nothing
// links: the build fails at link time, so a call site cannot bypass the loader by accident.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <atomic>
#include <memory>

#include "runtime/base/error.hpp"

// Every libarchive function lxbox calls. Add a name here to use it.
#define LXBOX_LIBARCHIVE_FUNCTIONS(X)                                                          \
    X(archive_entry_filetype) X(archive_entry_free) X(archive_entry_gid)                      \
    X(archive_entry_hardlink) X(archive_entry_linkify) X(archive_entry_linkresolver_free)     \
    X(archive_entry_linkresolver_new) X(archive_entry_linkresolver_set_strategy)              \
    X(archive_entry_mtime) X(archive_entry_mtime_nsec) X(archive_entry_new)                   \
    X(archive_entry_pathname) X(archive_entry_perm) X(archive_entry_rdev)                     \
    X(archive_entry_set_filetype) X(archive_entry_set_gid) X(archive_entry_set_gname)         \
    X(archive_entry_set_hardlink) X(archive_entry_set_mtime) X(archive_entry_set_nlink)       \
    X(archive_entry_set_pathname) X(archive_entry_set_perm) X(archive_entry_set_rdev)         \
    X(archive_entry_set_rdevmajor) X(archive_entry_set_rdevminor) X(archive_entry_set_size)   \
    X(archive_entry_set_symlink) X(archive_entry_set_uid) X(archive_entry_set_uname)          \
    X(archive_entry_size) X(archive_entry_sourcepath) X(archive_entry_symlink)                \
    X(archive_entry_uid) X(archive_entry_xattr_add_entry) X(archive_entry_xattr_next)         \
    X(archive_entry_xattr_reset) X(archive_error_string)                     \
    X(archive_filter_bytes) X(archive_read_data) X(archive_read_data_block)                   \
    X(archive_read_disk_descend) X(archive_read_disk_new) X(archive_read_disk_open)           \
    X(archive_read_disk_set_behavior) X(archive_read_disk_set_symlink_physical)               \
    X(archive_read_free) X(archive_read_new) X(archive_read_next_header)                      \
    X(archive_read_next_header2) X(archive_read_open) X(archive_read_open_fd)                 \
    X(archive_read_open_filename) X(archive_read_open_memory)                                 \
    X(archive_read_support_filter_all) X(archive_read_support_format_ar)                      \
    X(archive_read_support_format_cpio) X(archive_read_support_format_raw)                    \
    X(archive_read_support_format_tar) X(archive_write_add_filter_bzip2) \
    X(archive_write_add_filter_gzip) X(archive_write_add_filter_none)                         \
    X(archive_write_add_filter_xz) X(archive_write_add_filter_zstd) X(archive_write_close)    \
    X(archive_write_data) X(archive_write_data_block) X(archive_write_free)                   \
    X(archive_write_header) X(archive_write_new) X(archive_write_open_fd)                     \
    X(archive_write_open_filename) X(archive_write_open_memory)                               \
    X(archive_write_set_bytes_in_last_block) X(archive_write_set_filter_option)               \
    X(archive_write_set_format_cpio_newc) X(archive_write_set_format_pax_restricted)          \
    X(archive_write_set_format_raw)

namespace lxbox::libarchive {

#if defined(LXBOX_LIBARCHIVE_STATIC)

// Linked in: nothing to load.
inline Result<void> load() { return {}; }

#define LXBOX_LIBARCHIVE_DECLARE(name) inline constexpr auto& name = ::name;
LXBOX_LIBARCHIVE_FUNCTIONS(LXBOX_LIBARCHIVE_DECLARE)
#undef LXBOX_LIBARCHIVE_DECLARE
using ::archive_set_error;

#else

// Loads the library once and resolves every function of the list above (thread-safe; later
// calls are free). The error names the library and the package that ships it, or the function
// the library lacks. Every entry point calls it before any function.
Result<void> load();

namespace detail {
// The address of `name` in the loaded library, for a function called before load(): loads it
// here (a call without a successful load() is lxbox's defect, and ends the process).
void* symbol(const char* name) noexcept;
}  // namespace detail

// dlsym(handle, name) into ptr; false when the library has no such symbol.
bool resolve_in(void* handle, const char* name, std::atomic<void*>& ptr) noexcept;

template <typename F>
class Fn;

// A function of the library with the exact prototype F; resolved on its first call.
template <typename R, typename... A>
class Fn<R(A...)> {
public:
    explicit constexpr Fn(const char* name) : name_(name) {}
    R operator()(A... args) const { return get()(args...); }
    // load()'s step: false when the library has no such function.
    bool resolve(void* handle) const { return resolve_in(handle, name_, ptr_); }

private:
    using Ptr = R (*)(A...);
    Ptr get() const {
        void* p = ptr_.load(std::memory_order_acquire);
        if (p == nullptr) {
            p = detail::symbol(name_);
            ptr_.store(p, std::memory_order_release);
        }
        return reinterpret_cast<Ptr>(p);
    }
    const char* name_;
    mutable std::atomic<void*> ptr_{nullptr};
};

// The variadic ones (archive_set_error's printf-style format).
template <typename R, typename... A>
class Fn<R(A..., ...)> {
public:
    explicit constexpr Fn(const char* name) : name_(name) {}
    bool resolve(void* handle) const { return resolve_in(handle, name_, ptr_); }
    template <typename... V>
    R operator()(A... args, V... varargs) const {
        void* p = ptr_.load(std::memory_order_acquire);
        if (p == nullptr) {
            p = detail::symbol(name_);
            ptr_.store(p, std::memory_order_release);
        }
        return reinterpret_cast<R (*)(A..., ...)>(p)(args..., varargs...);
    }

private:
    const char* name_;
    mutable std::atomic<void*> ptr_{nullptr};
};

#define LXBOX_LIBARCHIVE_DECLARE(name) inline const Fn<decltype(::name)> name{#name};
LXBOX_LIBARCHIVE_FUNCTIONS(LXBOX_LIBARCHIVE_DECLARE)
#undef LXBOX_LIBARCHIVE_DECLARE
// Spelled out: decltype would carry the printf-format attribute into a template argument.
inline const Fn<void(struct ::archive*, int, const char*, ...)> archive_set_error{"archive_set_error"};

#endif  // LXBOX_LIBARCHIVE_STATIC

// unique_ptr deleters calling a libarchive free function.
template <const auto& Free>
struct Deleter {
    template <typename T>
    void operator()(T* p) const {
        if (p != nullptr) Free(p);
    }
};
using ReadPtr = std::unique_ptr<struct ::archive, Deleter<archive_read_free>>;
using WritePtr = std::unique_ptr<struct ::archive, Deleter<archive_write_free>>;
using EntryPtr = std::unique_ptr<struct ::archive_entry, Deleter<archive_entry_free>>;
using LinkResolverPtr =
    std::unique_ptr<struct ::archive_entry_linkresolver, Deleter<archive_entry_linkresolver_free>>;

}  // namespace lxbox::libarchive
