// The one error model of lxbox (see docs/errors.md).
//
// A fallible function returns Result<T>: either a value or an Error{kind, errno, message}.
// The message reads as a sentence fragment naming the object ("open /x: No such file or
// directory"); each caller that knows more adds its clause with .context("import debian"),
// so the final line reads outermost first: "import debian: open /x: No such file or directory".
// A function either returns an error or logs it, never both; only main prints.
//
// GCC 12 has no std::expected in C++20, hence this small type of our own.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json_fwd.hpp>

namespace lxbox {

enum class ErrorKind {
    Invalid,      // bad input from the user or a file (manifest, archive entry, spec)
    NotFound,     // a named object (distro, container, file) does not exist
    Exists,       // a named object already exists
    Refused,      // a safety check refused the operation (path escape, hostile archive)
    Unsupported,  // this host cannot do it (missing kernel feature, tool, permission)
    System,       // a syscall or library call failed; errno says why
    Busy,         // the object is in use (running container, held lock)
    Internal,     // a bug in lxbox
};

const char* to_string(ErrorKind kind);

struct Error {
    ErrorKind kind = ErrorKind::Internal;
    int errno_value = 0;  // 0 when no syscall is behind the error
    std::string message;  // full text, outermost clause first

    Error() = default;
    Error(ErrorKind k, std::string msg) : kind(k), message(std::move(msg)) {}

    // "<what>: <strerror(err)>" with kind System (or the given kind).
    static Error sys(int err, std::string what, ErrorKind k = ErrorKind::System);
    // Same, with the current errno.
    static Error last(std::string what, ErrorKind k = ErrorKind::System) {
        return sys(errno, std::move(what), k);
    }

    // Prefixes the outer clause: context("import debian") → "import debian: <message>".
    Error& context(const std::string& outer) &;
    Error&& context(const std::string& outer) &&;

    const std::string& what() const { return message; }
};

void to_json(nlohmann::json& j, const Error& e);
void from_json(const nlohmann::json& j, Error& e);

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    Error& error() & { return std::get<1>(v_); }
    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

    // Adds an outer clause to the error, if any; a value passes through untouched.
    Result&& context(const std::string& outer) && {
        if (!ok()) error().context(outer);
        return std::move(*this);
    }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : err_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    void value() const {}

    Error& error() & { return err_; }
    const Error& error() const& { return err_; }
    Error&& error() && { return std::move(err_); }

    Result&& context(const std::string& outer) && {
        if (failed_) err_.context(outer);
        return std::move(*this);
    }

private:
    Error err_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace lxbox

// LXBOX_TRY(expr): evaluates a Result; on error returns the Error from the enclosing function,
// otherwise yields the value. Uses a GNU statement expression (GCC and Clang), as SerenityOS's TRY.
#define LXBOX_TRY(expr)                                       \
    ({                                                        \
        auto _lxbox_try_result = (expr);                      \
        if (!_lxbox_try_result.ok())                          \
            return std::move(_lxbox_try_result).error();      \
        std::move(_lxbox_try_result).value();                 \
    })

// LXBOX_TRY_CTX(expr, clause): as LXBOX_TRY, adding an outer clause to the error.
#define LXBOX_TRY_CTX(expr, clause)                                          \
    ({                                                                       \
        auto _lxbox_try_result = (expr);                                     \
        if (!_lxbox_try_result.ok())                                         \
            return std::move(std::move(_lxbox_try_result).error().context(clause)); \
        std::move(_lxbox_try_result).value();                                \
    })
