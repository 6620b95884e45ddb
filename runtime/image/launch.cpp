#include "runtime/image/launch.hpp"

#include "runtime/image/layers.hpp"

namespace lxbox::image {

void apply_config_defaults(const ImageConfig& config, runtime::ProcessSpec& process) {
    std::vector<std::string> env = config.env;
    env.insert(env.end(), process.env.begin(), process.env.end());
    process.env = std::move(env);
    std::vector<std::string> args = config.entrypoint;
    const auto& tail = process.args.empty() ? config.cmd : process.args;
    args.insert(args.end(), tail.begin(), tail.end());
    process.args = std::move(args);
    if (process.cwd.empty()) process.cwd = config.working_dir;
    if (process.user.empty()) process.user = config.user;
}

void set_image_layers(const store::Store& store, const store::ImageRecord& image, runtime::ContainerSpec& spec) {
    const auto lowers = image_lower_dirs(store, image);
    spec.image_rootfs = lowers.front();
    spec.image_layers.clear();
    if (lowers.size() > 1) {
        spec.image_layers = lowers;
        spec.layers_dir = store.root() + "/layers";
    }
}

Status apply_image(const store::Store& store, const store::ImageRecord& image, runtime::ContainerSpec& spec) {
    set_image_layers(store, image, spec);
    if (image.config.empty()) return {};
    apply_config_defaults(LXBOX_TRY(image_config(store, image)), spec.process);
    return {};
}

}  // namespace lxbox::image
