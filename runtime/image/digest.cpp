#include "runtime/image/digest.hpp"

namespace lxbox::image {

Result<Digest> parse_digest(std::string_view text) {
    const std::string shown(text.substr(0, 100));
    auto colon = text.find(':');
    if (colon == std::string_view::npos)
        return Error(ErrorKind::Invalid, "digest '" + shown + "' has no algorithm (expected sha256:<hex>)");
    if (text.substr(0, colon) != "sha256")
        return Error(ErrorKind::Unsupported,
                     "digest '" + shown + "': algorithm '" + std::string(text.substr(0, colon)) + "' is not supported");
    std::string_view hex = text.substr(colon + 1);
    if (hex.size() != 64) return Error(ErrorKind::Invalid, "digest '" + shown + "' does not have 64 hex digits");
    for (char c : hex) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return Error(ErrorKind::Invalid, "digest '" + shown + "' holds a character other than 0-9a-f");
    }
    return Digest{std::string(hex)};
}

Digest Sha256::finish() {
    uint8_t raw[SHA256_DIGEST_SIZE];
    ::nettle_sha256_digest(&ctx_, sizeof raw, raw);  // also re-initialises ctx_
    static const char kHex[] = "0123456789abcdef";
    Digest d;
    d.hex.reserve(2 * sizeof raw);
    for (uint8_t b : raw) {
        d.hex.push_back(kHex[b >> 4]);
        d.hex.push_back(kHex[b & 15]);
    }
    return d;
}

Digest sha256_of(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

}  // namespace lxbox::image
