// A pull: the manifest (an index resolved to one platform), then the config and the layers
// into the store's blob store, several at once, each verified against its digest before it
// is in place. Blobs already there are not fetched; a partial one left by an interrupted pull
// goes on with a Range request; one being fetched by another pull is waited for (the blob
// store's per-digest lock) and then found present. The manifest goes in last: lxbox
// registers the image from its digest.
#pragma once

#include <string>

#include "host/registry/reference.hpp"
#include "registry-client/events.hpp"
#include "registry-client/session.hpp"
#include "runtime/image/oci.hpp"

namespace lxbox::registry {

struct PullOptions {
    ImageReference ref;
    TransportOptions transport;
    image::Platform platform;
    std::string store_root;
    int jobs = 4;  // blobs fetched at once
};

struct PullResult {
    image::Digest manifest;
    uint64_t fetched_bytes = 0;
    int fetched = 0, present = 0;
};

Result<PullResult> pull_image(const PullOptions& options, Events& events);

// The manifest a reference names on the registry (an index resolved to platform), its digest
// checked against a pinned reference's and the index's. Shared by pull and push's checks.
struct FetchedManifest {
    std::string body, media_type;
    image::Digest digest;
    image::Manifest manifest;
};
Result<FetchedManifest> fetch_manifest(RegistrySession& session, HttpClient& client, const image::Platform& platform);

}  // namespace lxbox::registry
