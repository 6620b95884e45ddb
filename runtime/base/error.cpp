#include "runtime/base/error.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/base/json_number.hpp"

namespace lxbox {

const char* to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::Invalid: return "invalid";
        case ErrorKind::NotFound: return "not-found";
        case ErrorKind::Exists: return "exists";
        case ErrorKind::Refused: return "refused";
        case ErrorKind::Unsupported: return "unsupported";
        case ErrorKind::System: return "system";
        case ErrorKind::Busy: return "busy";
        case ErrorKind::Internal: return "internal";
    }
    return "internal";
}

static ErrorKind kind_from_string(const std::string& s) {
    for (auto k : {ErrorKind::Invalid, ErrorKind::NotFound, ErrorKind::Exists, ErrorKind::Refused,
                   ErrorKind::Unsupported, ErrorKind::System, ErrorKind::Busy}) {
        if (s == to_string(k)) return k;
    }
    return ErrorKind::Internal;
}

// Built with append() rather than operator+: GCC 12 at -O2 reports a false -Wrestrict on
// `a + ": " + b` (GCC bug 105329).
static std::string join_clause(const std::string& outer, const std::string& inner) {
    std::string s;
    s.reserve(outer.size() + 2 + inner.size());
    s.append(outer).append(": ").append(inner);
    return s;
}

Error Error::sys(int err, std::string what, ErrorKind k) {
    Error e(k, join_clause(what, std::strerror(err)));
    e.errno_value = err;
    return e;
}

Error& Error::context(const std::string& outer) & {
    if (!outer.empty()) message = join_clause(outer, message);
    return *this;
}

Error&& Error::context(const std::string& outer) && {
    if (!outer.empty()) message = join_clause(outer, message);
    return std::move(*this);
}

void to_json(nlohmann::json& j, const Error& e) {
    j = nlohmann::json{{"kind", to_string(e.kind)}, {"errno", e.errno_value}, {"message", e.message}};
}

void from_json(const nlohmann::json& j, Error& e) {
    e.kind = kind_from_string(j.value("kind", std::string("internal")));
    e.errno_value = json_value<int>(j, "errno", 0);
    e.message = j.value("message", std::string());
}

}  // namespace lxbox
