// `lxbox vm ...`: the utility VM's guest image (and, later, start/stop/logs of the VM).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"
#include "host/cli/progress.hpp"
#include "host/vm/guest_image.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

namespace {

struct VmImageRequest {
    bool rebuild = false;
    bool json = false;
};

std::string vm_dir(const GlobalOptions& global) {
    std::string root = global.root;
    if (root.empty())
        root = store::default_root(std::getenv("LXBOX_ROOT"), std::getenv("XDG_DATA_HOME"),
                                   std::getenv("HOME"));
    return root + "/vm";
}

void print_image(const vm::GuestImage& image) {
    std::printf("guest image  %s\n", image.rebuilt ? "built now" : "up to date");
    std::printf("kernel       %s (%s)\n", image.kernel_package.c_str(), image.kernel_release.c_str());
    std::printf("vmlinux      %s (%s)\n", image.vmlinux.c_str(), format_bytes(image.vmlinux_bytes).c_str());
    std::printf("initramfs    %s (%s)\n", image.initramfs.c_str(),
                format_bytes(image.initramfs_bytes).c_str());
    std::printf("init         %s\n", image.agent.c_str());
    std::string modules;
    for (const auto& m : image.modules) modules += (modules.empty() ? "" : " ") + m;
    std::printf("modules      %s\n", modules.c_str());
    std::printf("package      %s\n", image.deb.c_str());
    std::printf("inputs hash  %s\n", image.inputs_hash.c_str());
}

Result<int> cmd_vm_image(const GlobalOptions& global, const VmImageRequest& request) {
    vm::ImageRequest req;
    req.vm_dir = vm_dir(global);
    req.rebuild = request.rebuild;
    std::unique_ptr<Progress> bar;
    std::string current;
    bool draw = Progress::wanted(global.quiet);
    req.progress = [&](const std::string& step, uint64_t done, uint64_t total) {
        if (step != current) {
            bar.reset();  // clears the previous step's line first
            bar = std::make_unique<Progress>(step, draw);
            current = step;
        }
        bar->update(done, total);
    };
    auto image = vm::ensure_guest_image(req);
    bar.reset();
    if (!image) return std::move(image).error();
    if (request.json) {
        nlohmann::json j = *image;
        j["rebuilt"] = image->rebuilt;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        print_image(*image);
    }
    return 0;
}

}  // namespace

void add_vm_commands(CLI::App& app, CommandContext& ctx) {
    auto* vm = app.add_subcommand("vm", "The utility VM that runs containers on non-Linux hosts");
    vm->require_subcommand(1);
    auto request = std::make_shared<VmImageRequest>();
    auto* image = vm->add_subcommand("image", "Build the guest image if an input changed; show it");
    image->add_flag("--rebuild", request->rebuild, "Rebuild even when nothing changed");
    image->add_flag("--json", request->json, "Print the image's manifest as JSON");
    image->callback([&ctx, request] {
        ctx.action = [&ctx, request] { return cmd_vm_image(ctx.global, *request); };
    });
}

}  // namespace lxbox::cli
