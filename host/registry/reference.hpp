// Image references as docker reads them: `debian:bookworm` is
// `docker.io/library/debian:bookworm`, `localhost:5000/x` names a registry, `@sha256:HEX` pins
// a manifest by digest. Pure: parsed and normalised without touching the network.
#pragma once

#include <string>
#include <string_view>

#include "runtime/base/error.hpp"

namespace lxbox::registry {

struct ImageReference {
    std::string registry;    // "docker.io", "localhost:5000", "ghcr.io"
    std::string repository;  // "library/debian"
    std::string tag;         // "bookworm"; "latest" when neither a tag nor a digest was given
    std::string digest;      // "sha256:<64 hex>" or empty

    // The host the registry API answers on: docker.io's is registry-1.docker.io.
    std::string api_host() const;
    // What /v2/<repository>/manifests/ takes: the digest when pinned, else the tag.
    std::string manifest_reference() const;
    // The normalised text: "docker.io/library/debian:bookworm", "...@sha256:...".
    std::string to_string() const;
};

// Parses REF as docker does ([registry/]name[:tag][@digest]); one-line errors name what is wrong.
Result<ImageReference> parse_reference(std::string_view text);
// The store name a pulled image gets unless --name says otherwise: the repository's last
// component and the tag ("debian:bookworm" → "debian-bookworm"; "latest" is left out), or
// the digest's first 12 hex digits for a reference pinned by digest alone.
std::string default_image_name(const ImageReference& ref);
// Whether text is "sha256:" and 64 lowercase hex digits.
bool is_sha256_digest(std::string_view text);

}  // namespace lxbox::registry
