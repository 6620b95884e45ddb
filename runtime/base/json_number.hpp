// Numbers read from JSON that lxbox did not just make itself (its state files, the guest
// agent's messages, a bundle's spec): whole and within the target type's range, else a
// json::type_error (302) the reader's catch already handles. nlohmann converts with a
// static_cast: an integer out of range wraps (a pid, a port, a uid becomes another) and a
// float out of range converts undefined (UBSan, the registry_json fuzz target: 7.9e49 as a
// size_bytes). Each reader names the field, so the error says which.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace lxbox {

template <class Int>
Int json_whole(const nlohmann::json& v, const char* what) {
    static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
    const auto refuse = [&]() -> Int {
        throw nlohmann::json::type_error::create(302, std::string(what) + " must be a whole number in range",
                                                 static_cast<const nlohmann::json*>(nullptr));
    };
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        return u <= static_cast<uint64_t>(std::numeric_limits<Int>::max()) ? static_cast<Int>(u) : refuse();
    }
    if (v.is_number_integer()) {
        const int64_t i = v.get<int64_t>();
        if constexpr (std::is_unsigned_v<Int>) {
            return i >= 0 && static_cast<uint64_t>(i) <= std::numeric_limits<Int>::max() ? static_cast<Int>(i) : refuse();
        } else {
            return i >= std::numeric_limits<Int>::min() && i <= std::numeric_limits<Int>::max() ? static_cast<Int>(i)
                                                                                                 : refuse();
        }
    }
    return refuse();
}

namespace json_detail {
template <class T> inline constexpr bool is_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <class T> struct is_int_vector : std::false_type {};
template <class T> struct is_int_vector<std::vector<T>> : std::bool_constant<is_int<T>> {};
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace json_detail

// v.get_to(out), with every integer in out (itself, an optional's, a vector's) read by
// json_whole.
template <class T>
void json_get_to(const nlohmann::json& v, T& out, const char* what) {
    if constexpr (json_detail::is_int<T>) {
        out = json_whole<T>(v, what);
    } else if constexpr (json_detail::is_optional<T>::value) {
        if (v.is_null()) {
            out.reset();
        } else {
            typename T::value_type inner{};
            json_get_to(v, inner, what);
            out = std::move(inner);
        }
    } else if constexpr (json_detail::is_int_vector<T>::value) {
        if (!v.is_array())
            throw nlohmann::json::type_error::create(302, std::string(what) + " must be an array",
                                                     static_cast<const nlohmann::json*>(nullptr));
        T list;
        for (const auto& e : v) list.push_back(json_whole<typename T::value_type>(e, what));
        out = std::move(list);
    } else {
        v.get_to(out);
    }
}

// j.value(key, fallback) with json_get_to's checks: absent or null gives fallback.
template <class T>
T json_value(const nlohmann::json& j, const char* key, T fallback) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    T out{};
    json_get_to(*it, out, key);
    return out;
}

}  // namespace lxbox
