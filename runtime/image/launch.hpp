// What an image brings to a launch: its layer stack as the container's lower layers, and its
// config's defaults (Env, Entrypoint + Cmd, WorkingDir, User) under what the user asked for.
#pragma once

#include "runtime/image/oci.hpp"
#include "runtime/spec/spec.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::image {

// Pure, docker's rules: the image's Env comes first (the user's -e entries override it);
// `-- CMD` replaces Cmd but keeps Entrypoint; no command runs Entrypoint + Cmd (both empty:
// the login shell, as for a rootfs import); WorkingDir and User apply unless given.
void apply_config_defaults(const ImageConfig& config, runtime::ProcessSpec& process);

// Sets the spec's lower layers for the image: image_rootfs alone for one layer (as before),
// image_layers (topmost first) and layers_dir for several.
void set_image_layers(const store::Store& store, const store::ImageRecord& image, runtime::ContainerSpec& spec);

// Both, for a launch of `image`: layers, then (OCI images) the config's defaults.
Status apply_image(const store::Store& store, const store::ImageRecord& image, runtime::ContainerSpec& spec);

}  // namespace lxbox::image
