// images, inspect, image rm, image prune: what the image store holds and its housekeeping.
#include <cstdio>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"
#include "host/launch/containers.hpp"
#include "host/cli/progress.hpp"
#include "host/cli/store_commands.hpp"
#include "host/vm/image_disk.hpp"
#include "host/vm/qemu_command.hpp"
#include "host/vm/supervisor.hpp"
#include "runtime/image/housekeeping.hpp"
#include "runtime/image/layers.hpp"
#include "runtime/store/images.hpp"

namespace lxbox::cli {

namespace {

// The VM disks on file in every arch's VM dir (vm_dir_for): an image's is in the one it ran in.
std::vector<vm::DiskOnFile> vm_disks_on_file(const store::Store& store) {
    std::vector<vm::DiskOnFile> out;
    for (const auto& arch : vm::guest_arches(vm::build_arch())) {
        auto disks = vm::disks_on_file(vm::vm_dir_for(store.root(), arch));
        out.insert(out.end(), disks.begin(), disks.end());
    }
    return out;
}

// Sizes count each image's layers and its VM disks (built on its first vm launch: a distro's
// rootfs, or an OCI image's layers merged, as ext4), the total each layer and disk once.
Result<int> cmd_images(const GlobalOptions& g, bool json) {
    auto store = LXBOX_TRY(open_store(g));
    auto reg = LXBOX_TRY(store.load());
    const auto usage = image::disk_usage(reg);
    const auto vm = vm::vm_disk_usage(reg, vm_disks_on_file(store));
    auto size_of = [&](const std::string& name) { return usage.image_bytes.at(name) + vm.image_bytes.at(name); };
    const uint64_t total = usage.total_bytes + vm.total_bytes;
    if (json) {
        nlohmann::json out = {
            {"images", nlohmann::json::array()}, {"total_bytes", total}, {"vm_disk_bytes", vm.total_bytes}};
        for (const auto& [name, img] : reg.images)
            out["images"].push_back({{"name", name},
                                     {"arch", img.arch},
                                     {"layers", img.layers.empty() ? 1 : img.layers.size()},
                                     {"size_bytes", size_of(name)},
                                     {"vm_disk_bytes", vm.image_bytes.at(name)},
                                     {"source", img.source},
                                     {"created", img.created}});
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }
    std::printf("%-24s %-8s %6s %10s  %s\n", "NAME", "ARCH", "LAYERS", "SIZE", "SOURCE");
    for (const auto& [name, img] : reg.images)
        std::printf("%-24s %-8s %6zu %10s  %s\n", name.c_str(), img.arch.c_str(),
                    img.layers.empty() ? size_t{1} : img.layers.size(), format_bytes(size_of(name)).c_str(),
                    img.source.c_str());
    std::printf("%zu images, %s on disk (shared layers counted once", reg.images.size(), format_bytes(total).c_str());
    if (vm.total_bytes > 0) std::printf("; %s of it VM disks", format_bytes(vm.total_bytes).c_str());
    std::printf(")\n");
    return 0;
}

nlohmann::json inspect_json(const store::Store& store, const store::Registry& reg, const store::ImageRecord& img,
                            const image::ImageConfig& config) {
    nlohmann::json layers = nlohmann::json::array();
    if (img.layers.empty())
        layers.push_back({{"dir", store.image_rootfs(img.name)}, {"size_bytes", img.size_bytes}});
    for (const auto& id : img.layers) {
        auto it = reg.layers.find(id);
        auto d = image::parse_digest(id);
        layers.push_back({{"diff_id", id},
                          {"dir", store.layer_dir(d ? d->hex : id)},
                          {"size_bytes", it == reg.layers.end() ? 0 : it->second.size_bytes}});
    }
    nlohmann::json j = img;
    j["layers"] = layers;
    j["config"] = {{"digest", img.config},     {"env", config.env},
                   {"entrypoint", config.entrypoint}, {"cmd", config.cmd},
                   {"working_dir", config.working_dir}, {"user", config.user}};
    return j;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out.empty() ? "-" : out;
}

Result<int> cmd_inspect(const GlobalOptions& g, const std::string& name, bool json) {
    auto store = LXBOX_TRY(open_store(g));
    auto reg = LXBOX_TRY(store.load());
    auto it = reg.images.find(name);
    if (it == reg.images.end()) return Error(ErrorKind::NotFound, "inspect: no image named '" + name + "'");
    const auto config = LXBOX_TRY_CTX(image::image_config(store, it->second), "inspect " + name);
    const auto j = inspect_json(store, reg, it->second, config);
    if (json) {
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("name:        %s\narch:        %s\nsource:      %s\ncreated:     %s\n", name.c_str(),
                it->second.arch.c_str(), it->second.source.c_str(), it->second.created.c_str());
    if (!it->second.manifest.empty())
        std::printf("manifest:    %s\nconfig:      %s\n", it->second.manifest.c_str(), it->second.config.c_str());
    std::printf("entrypoint:  %s\ncmd:         %s\nworkdir:     %s\nuser:        %s\n", joined(config.entrypoint).c_str(),
                joined(config.cmd).c_str(), config.working_dir.empty() ? "-" : config.working_dir.c_str(),
                config.user.empty() ? "-" : config.user.c_str());
    for (const auto& e : config.env) std::printf("env:         %s\n", e.c_str());
    std::printf("layers (bottom first):\n");
    for (const auto& l : j["layers"])
        std::printf("  %-71s %10s\n", l.value("diff_id", l.value("dir", "")).c_str(),
                    format_bytes(l.value("size_bytes", uint64_t{0})).c_str());
    return 0;
}

// The lower dirs of every running container: prune must leave them.
Result<std::set<std::string>> live_lower_dirs(const store::Store& store) {
    std::set<std::string> out;
    for (const auto& c : LXBOX_TRY(launch::list_containers(store)))
        if (c.instance) out.insert(c.instance->lower_dirs.begin(), c.instance->lower_dirs.end());
    return out;
}

Result<int> cmd_prune(const GlobalOptions& g) {
    auto store = LXBOX_TRY(open_store(g));
    auto live = LXBOX_TRY(live_lower_dirs(store));
    auto r = LXBOX_TRY_CTX(image::prune(store, live), "image prune");
    drop_vm_disks(store, "image prune", "");
    if (!g.quiet)
        std::printf("removed %zu layers and %zu blobs, %s\n", r.layers, r.blobs, format_bytes(r.bytes).c_str());
    return 0;
}

Result<int> cmd_image_rm(const GlobalOptions& g, const std::string& name, bool force) {
    auto store = LXBOX_TRY(open_store(g));
    LXBOX_TRY_CTX(store::unregister_image(store, name, force), "image rm " + name);
    // What only it used goes with it; what another image or a running container uses stays.
    auto live = LXBOX_TRY(live_lower_dirs(store));
    LXBOX_TRY_CTX(image::prune(store, live), "image rm " + name);
    // Its disk for the VM backend too (a rootfs distro's, or its manifest's once no image names it).
    drop_vm_disks(store, "image rm " + name, name);
    return 0;
}

}  // namespace

void add_image_commands(CLI::App& app, CommandContext& ctx) {
    auto images_json = std::make_shared<bool>(false);
    auto* ls = app.add_subcommand("images", "List images with their sizes (shared layers counted once)");
    ls->add_flag("--json", *images_json, "Machine-readable output");
    ls->callback([&ctx, images_json] { ctx.action = [&ctx, images_json] { return cmd_images(ctx.global, *images_json); }; });

    struct Inspect {
        std::string name;
        bool json = false;
    };
    auto ins = std::make_shared<Inspect>();
    auto* i = app.add_subcommand("inspect", "Show an image's config (launch defaults) and layers");
    i->add_option("name", ins->name, "Image name")->required();
    i->add_flag("--json", ins->json, "Machine-readable output");
    i->callback([&ctx, ins] { ctx.action = [&ctx, ins] { return cmd_inspect(ctx.global, ins->name, ins->json); }; });

    auto* img = app.add_subcommand("image", "Image housekeeping: rm, prune");
    img->require_subcommand(1);
    struct Rm {
        std::string name;
        bool force = false;
    };
    auto rm = std::make_shared<Rm>();
    auto* r = img->add_subcommand("rm", "Remove an image and the layers and blobs only it used");
    r->add_option("name", rm->name, "Image name")->required();
    r->add_flag("--force", rm->force, "Also remove the image's containers");
    r->callback([&ctx, rm] { ctx.action = [&ctx, rm] { return cmd_image_rm(ctx.global, rm->name, rm->force); }; });
    auto* p = img->add_subcommand("prune", "Delete layers and blobs that no image or running container uses");
    p->callback([&ctx] { ctx.action = [&ctx] { return cmd_prune(ctx.global); }; });
}

}  // namespace lxbox::cli
