// `lxbox vm ...`: the utility VM — its guest image, its supervisor (`vm serve`, started on
// demand by launch), status, stop and logs.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"
#include "host/cli/progress.hpp"
#include "host/config/config.hpp"
#include "host/launch/decide.hpp"
#include "host/vm/guest_image.hpp"
#include "host/vm/host_facts.hpp"
#include "host/vm/supervisor.hpp"
#include "host/vm/supervisor_client.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

namespace {

struct VmImageRequest {
    bool rebuild = false;
    bool json = false;
};

// Every vm verb takes --arch: the guest arch whose VM it means ("" = the host's). Each arch's
// VM has a dir, a supervisor and a socket of its own (vm::vm_dir_for).
std::string vm_dir(const GlobalOptions& global, const std::string& arch) {
    return vm::vm_dir_for(store_root(global), arch);
}

Status check_arch(const std::string& arch) {
    const auto arches = vm::guest_arches(vm::build_arch());
    if (arch.empty() || std::find(arches.begin(), arches.end(), arch) != arches.end()) return {};
    std::string known;
    for (const auto& a : arches) known += (known.empty() ? "" : ", ") + a;
    return Error(ErrorKind::Invalid, "--arch " + arch + ": lxbox boots guests of " + known + " on this host");
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

Result<int> cmd_vm_image(const GlobalOptions& global, const VmImageRequest& request, const std::string& arch) {
    LXBOX_TRY(check_arch(arch));
    vm::ImageRequest req;
    req.vm_dir = vm_dir(global, arch);
    req.recipe = vm::default_recipe(arch);
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

// `vm serve`: the supervisor in the foreground (launch starts it detached, with --ready-fd).
Result<int> cmd_vm_serve(const GlobalOptions& global, int ready_fd, const std::string& arch) {
    const std::string root = store_root(global);
    auto say = [ready_fd](const std::string& line) {
        if (ready_fd >= 0) (void)write_all(ready_fd, line + "\n");
        else std::fprintf(stderr, "lxbox: %s\n", line.c_str());
    };
    bool announced = false;
    auto fail = [&](const Error& e) -> Result<int> {
        if (!announced) say("error " + e.message);
        return e;
    };
    if (auto known = check_arch(arch); !known) return fail(known.error());
    auto config = config::load(root);
    if (!config) return fail(config.error());
    vm::ImageRequest image_req;
    image_req.vm_dir = vm_dir(global, arch);
    image_req.recipe = vm::default_recipe(arch);
    auto image = vm::ensure_guest_image(image_req);
    if (!image) return fail(image.error().context("the guest image"));
    vm::SupervisorOptions opts;
    opts.vm_dir = image_req.vm_dir;
    opts.vm.kernel = image->vmlinux;
    opts.vm.initrd = image->initramfs;
    opts.vm.memory_mib = config->vm.memory_mib;
    opts.vm.cpus = config->vm.cpus;
    opts.idle_timeout = config->vm.idle_timeout;
    opts.containers_disk_bytes = config->vm.disk_bytes;
    opts.facts = vm::detect_vm_platform(opts.vm_dir);
    opts.facts.arch = vm::arch_from_string(image_req.recipe.arch);
    // The accelerator is the one backend decision's, the one doctor reports (tcg for a guest
    // of another arch than the host's).
    auto choice = launch::decide_backend(root, arch, "vm", "");
    if (!choice) return fail(choice.error());
    opts.facts.accel = launch::vm_accel(choice->accelerator);
    // Notices reach the user who is waiting for the boot; later ones go to the log.
    opts.notice = [&](const std::string& line) {
        if (!announced) say("notice " + line);
        spdlog::warn("{}", line);
    };
    auto served = vm::serve(opts, [&](const Status& st) {
        say(st ? std::string("ready") : "error " + st.error().message);
        announced = true;
        if (ready_fd >= 0) ::close(ready_fd);
    });
    if (!served) return fail(served.error());
    return 0;
}

void print_status(const vm::VmStatus& s, const std::string& dir, const std::string& arch) {
    if (!s.running) {
        std::printf("%-12s stopped\n", arch.c_str());
        return;
    }
    std::printf("%-12s running\n", arch.c_str());
    std::printf("accelerator  %s (booted in %lld ms, %s)\n", s.accel.c_str(), static_cast<long long>(s.boot_ms),
                s.started.c_str());
    std::printf("size         %u MiB, %u CPU(s)\n", s.memory_mib, s.cpus);
    std::printf("sessions     %llu (clients %llu)\n", static_cast<unsigned long long>(s.sessions),
                static_cast<unsigned long long>(s.clients));
    std::printf("heartbeat    %.2f ms round trip\n", double(s.heartbeat_us) / 1000.0);
    std::printf("idle stop    %s\n", s.idle_timeout_s ? (std::to_string(s.idle_timeout_s) + " s").c_str() : "never");
    std::printf("pids         supervisor %d, qemu %d\n", s.pid, s.qemu_pid);
    std::printf("distro disks %zu", s.disks.size());
    if (!s.held_disks.empty())
        std::printf(" (%zu of a removed distro, open until the VM stops)", s.held_disks.size());
    std::printf("\n");
    if (!s.forwarded_ports.empty()) {
        std::string ports;
        for (uint16_t p : s.forwarded_ports) ports += (ports.empty() ? "" : " ") + std::to_string(p);
        std::printf("forwarded    %s (127.0.0.1, from the VM's listening ports)\n", ports.c_str());
    }
    std::printf("logs         %s/console.log, %s/supervisor.log\n", dir.c_str(), dir.c_str());
}

// The VMs `vm status` and `vm stop` cover: the one of --arch, else every arch's.
std::vector<std::string> arches_meant(const std::string& arch) {
    return arch.empty() ? vm::guest_arches(vm::build_arch()) : std::vector<std::string>{arch};
}

// Every arch's VM, the host's first. --json: the host's VM's status at the top level, as before
// there was a second, and every arch's in "vms" (each with its "arch" and "state").
Result<int> cmd_vm_status(const GlobalOptions& global, bool json, const std::string& arch) {
    LXBOX_TRY(check_arch(arch));
    nlohmann::json all = nlohmann::json::object(), vms = nlohmann::json::array();
    for (const auto& a : arches_meant(arch)) {
        auto s = LXBOX_TRY(vm::query_status(vm_dir(global, a)));
        if (!json) {
            print_status(s, vm_dir(global, a), a);
            continue;
        }
        nlohmann::json j = s;
        j["state"] = s.running ? "running" : "stopped";
        j["arch"] = a;
        if (vms.empty()) all = j;
        vms.push_back(std::move(j));
    }
    all["vms"] = std::move(vms);
    if (json) std::printf("%s\n", all.dump(2).c_str());
    return 0;
}

Result<int> cmd_vm_stop(const GlobalOptions& global, const std::string& arch) {
    LXBOX_TRY(check_arch(arch));
    bool any = false;
    for (const auto& a : arches_meant(arch))
        any |= LXBOX_TRY(vm::stop_supervisor(vm_dir(global, a), std::chrono::seconds(60)));
    if (!any && !global.quiet) std::fprintf(stderr, "lxbox: the VM is not running\n");
    return 0;
}

// `vm ping`: the protocol's round trip through the supervisor to the agent and back.
Result<int> cmd_vm_ping(const GlobalOptions& global, int count, bool json, const std::string& arch) {
    LXBOX_TRY(check_arch(arch));
    auto c = LXBOX_TRY(vm::connect_running(vm_dir(global, arch)));
    if (!c) return Error(ErrorKind::NotFound, "the VM is not running");
    std::vector<double> us;
    for (int i = 0; i < std::max(count, 1); ++i) {
        auto took = LXBOX_TRY(c->ping(std::chrono::seconds(10)));
        us.push_back(double(took.count()) / 1000.0);
    }
    std::sort(us.begin(), us.end());
    double sum = 0;
    for (double u : us) sum += u;
    const double mean = sum / double(us.size()), median = us[us.size() / 2];
    if (json) {
        std::printf("%s\n", nlohmann::json{{"count", us.size()}, {"mean_us", mean}, {"median_us", median},
                                           {"min_us", us.front()}, {"max_us", us.back()}}
                                 .dump(2)
                                 .c_str());
    } else {
        std::printf("%zu pings: mean %.3f ms, median %.3f ms, min %.3f ms, max %.3f ms\n", us.size(), mean / 1000,
                    median / 1000, us.front() / 1000, us.back() / 1000);
    }
    return 0;
}

Result<int> cmd_vm_logs(const GlobalOptions& global, bool supervisor, const std::string& arch) {
    LXBOX_TRY(check_arch(arch));
    const auto paths = vm::vm_paths(vm_dir(global, arch));
    const std::string& path = supervisor ? paths.supervisor_log : paths.console_log;
    auto text = read_file(path);
    if (!text) return Error(ErrorKind::NotFound, "no VM log yet (" + path + "): the VM has not run");
    std::fwrite(text->data(), 1, text->size(), stdout);
    return 0;
}

}  // namespace

void add_vm_commands(CLI::App& app, CommandContext& ctx) {
    auto* vm = app.add_subcommand("vm", "The utility VM that runs containers on non-Linux hosts");
    vm->require_subcommand(1);
    auto arch = std::make_shared<std::string>();
    const auto add_arch = [arch](CLI::App* verb, const char* what) { verb->add_option("--arch", *arch, what); };
    auto request = std::make_shared<VmImageRequest>();
    auto* image = vm->add_subcommand("image", "Build the guest image if an input changed; show it");
    image->add_flag("--rebuild", request->rebuild, "Rebuild even when nothing changed");
    image->add_flag("--json", request->json, "Print the image's manifest as JSON");
    add_arch(image, "The guest arch's image (default: the host's)");
    image->callback([&ctx, request, arch] {
        ctx.action = [&ctx, request, arch] { return cmd_vm_image(ctx.global, *request, *arch); };
    });

    auto ready_fd = std::make_shared<int>(-1);
    auto* serve = vm->add_subcommand("serve", "Run the VM supervisor in the foreground (launch starts it on demand)");
    serve->add_option("--ready-fd", *ready_fd, "Write 'ready' or 'error MESSAGE' to this fd once the VM is up");
    add_arch(serve, "The guest arch to serve (default: the host's)");
    serve->callback([&ctx, ready_fd, arch] {
        ctx.action = [&ctx, ready_fd, arch] { return cmd_vm_serve(ctx.global, *ready_fd, *arch); };
    });

    auto status_json = std::make_shared<bool>(false);
    auto* status = vm->add_subcommand("status", "Whether the VM runs, its accelerator, size and sessions");
    status->add_flag("--json", *status_json, "Machine-readable output");
    add_arch(status, "Only the VM of this guest arch (default: every arch's)");
    status->callback([&ctx, status_json, arch] {
        ctx.action = [&ctx, status_json, arch] { return cmd_vm_status(ctx.global, *status_json, *arch); };
    });

    auto* stop = vm->add_subcommand("stop", "Power the VM off (its sessions end; kept containers stay)");
    add_arch(stop, "Only the VM of this guest arch (default: every arch's)");
    stop->callback([&ctx, arch] { ctx.action = [&ctx, arch] { return cmd_vm_stop(ctx.global, *arch); }; });

    auto ping_count = std::make_shared<int>(10);
    auto ping_json = std::make_shared<bool>(false);
    auto* ping = vm->add_subcommand("ping", "Round trips to the guest agent through the supervisor");
    ping->add_option("-c,--count", *ping_count, "How many (default 10)");
    ping->add_flag("--json", *ping_json, "Machine-readable output");
    add_arch(ping, "The VM of this guest arch (default: the host's)");
    ping->callback([&ctx, ping_count, ping_json, arch] {
        ctx.action = [&ctx, ping_count, ping_json, arch] {
            return cmd_vm_ping(ctx.global, *ping_count, *ping_json, *arch);
        };
    });

    auto supervisor_log = std::make_shared<bool>(false);
    auto* logs = vm->add_subcommand("logs", "Print the VM's console log");
    logs->add_flag("--supervisor", *supervisor_log, "The supervisor's log instead");
    add_arch(logs, "The VM of this guest arch (default: the host's)");
    logs->callback([&ctx, supervisor_log, arch] {
        ctx.action = [&ctx, supervisor_log, arch] { return cmd_vm_logs(ctx.global, *supervisor_log, *arch); };
    });
}

}  // namespace lxbox::cli
