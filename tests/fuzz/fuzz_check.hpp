// What every fuzz target checks besides "no crash, no leak, no UB" (ASan/UBSan under clang):
// a parser refuses bad input with an Error, never an exception, and the error is one clear
// line (the project's bar for bad input).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>

#include "runtime/base/error.hpp"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) std::abort();     \
    } while (0)

namespace lxbox::fuzz {

inline void check_error(const Error& e) {
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.message.find('\n') == std::string::npos);
}

template <class T>
void check_result(const Result<T>& r) {
    if (!r.ok()) check_error(r.error());
}

inline std::string text_of(const uint8_t* data, size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace lxbox::fuzz
