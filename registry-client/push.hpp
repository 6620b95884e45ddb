// A push: each blob of a local image (config, layers) that the registry lacks is uploaded
// (HEAD to skip what is there, POST to open an upload, one PUT with the whole blob and its
// digest, which the registry verifies), then the manifest is PUT under the tag. With
// mount_from (a repository of the same registry that has the blobs: where the image was
// pulled from), the POST asks the registry to mount each blob from there instead, and only
// what it cannot mount is uploaded.
#pragma once

#include <string>

#include "host/registry/reference.hpp"
#include "registry-client/events.hpp"
#include "registry-client/session.hpp"
#include "runtime/image/digest.hpp"

namespace lxbox::registry {

struct PushOptions {
    ImageReference ref;
    TransportOptions transport;
    std::string store_root;
    image::Digest manifest;  // the local image's manifest, in the blob store
    std::string mount_from;  // a repository on the same registry ("library/debian"), or ""
};

struct PushResult {
    image::Digest manifest;
    int uploaded = 0, mounted = 0, present = 0;
};

Result<PushResult> push_image(const PushOptions& options, Events& events);

// Logs in: asks the registry's /v2/ with the credentials (through its token server when it
// has one); Refused when the registry does not accept them.
Status check_login(const ImageReference& registry_only, const TransportOptions& transport, const Credentials& c);

}  // namespace lxbox::registry
