// A string from outside (a name, a path, a mode) as an error message shows it: control
// characters escaped (\n, \t, \r, \xNN), so whatever it holds, the error stays one line (the
// bar for bad input; the fuzz targets check it).
#pragma once

#include <string>
#include <string_view>

namespace lxbox {

inline std::string printable(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c != 0x7f) {
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

}  // namespace lxbox
