// Content digests: "sha256:<64 lowercase hex>", what OCI names every blob and layer by.
//
// SHA-256 comes from nettle, which libarchive already links (its own digests), so hashing a
// multi-gigabyte layer adds no library. Only sha256 is accepted: it is what every registry and
// image tool writes; a sha512 digest is refused as unsupported rather than trusted unverified.
#pragma once

#include <nettle/sha2.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/base/error.hpp"

namespace lxbox::image {

struct Digest {
    std::string hex;  // 64 lowercase hex digits

    std::string str() const { return "sha256:" + hex; }
    bool empty() const { return hex.empty(); }
    friend bool operator==(const Digest&, const Digest&) = default;
    friend auto operator<=>(const Digest&, const Digest&) = default;
};

// Pure: "sha256:<64 lowercase hex>" → Digest. Invalid for anything else (another algorithm is
// Unsupported), naming the text.
Result<Digest> parse_digest(std::string_view text);

// A streaming SHA-256.
class Sha256 {
public:
    Sha256() { ::nettle_sha256_init(&ctx_); }
    void update(const void* data, size_t size) {
        ::nettle_sha256_update(&ctx_, size, static_cast<const uint8_t*>(data));
    }
    void update(std::string_view data) { update(data.data(), data.size()); }
    // The digest of everything so far; the hasher starts over afterwards.
    Digest finish();

private:
    struct sha256_ctx ctx_;
};

// The digest of a string (a manifest, a config).
Digest sha256_of(std::string_view data);

}  // namespace lxbox::image
