#include "host/cli/store_commands.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "host/cli/progress.hpp"
#include "host/distro/scripted_import.hpp"
#include "host/install/layout.hpp"
#include "host/launch/containers.hpp"
#include "host/vm/disks.hpp"
#include "host/vm/image_disk.hpp"
#include "host/vm/qemu_command.hpp"
#include "host/vm/supervisor.hpp"
#include "host/vm/supervisor_client.hpp"
#include "runtime/base/files.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/image/import.hpp"
#include "runtime/store/images.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::cli {

Result<store::Store> open_store(const GlobalOptions& global) {
    auto store = LXBOX_TRY(store::Store::open(store_root(global)));
    // A --rm launch killed with SIGKILL cannot remove its container's cgroup: the throwaway
    // dir clean_stale() just removed was that container's, so its cgroup (its processes died
    // with their launcher: PDEATHSIG) goes too. Only owner-named dirs: their names are never
    // reused, whereas a plain name may be launched again meanwhile (lxbox check removes those,
    // under the container's lock). Nothing to do, and no cgroup lookup, in the common case.
    for (const auto& entry : store.removed_containers())
        if (store::parse_work_dir_name(entry)) launch::remove_leftover_cgroup(launch::cgroup_name(store, entry));
    return store;
}

void drop_vm_disks(store::Store& store, const std::string& what, const std::string& distro) {
    // From the VM of each arch (vm_dir_for): a distro's or an image's disk is in the one it ran in.
    for (const auto& arch : vm::guest_arches(vm::build_arch())) {
        const std::string vm_dir = vm::vm_dir_for(store.root(), arch);
        Status removed = distro.empty() ? Status{} : vm::remove_distro_disk(vm_dir, distro);
        if (removed) {
            auto images = vm::remove_unused_image_disks(store, vm_dir);
            removed = images ? Status{} : Status(std::move(images).error());
        }
        if (!removed) {
            std::fprintf(stderr, "lxbox: %s: %s: the file is left behind\n", what.c_str(), removed.error().message.c_str());
            continue;
        }
        // A running VM lets go of them (unplugs them) unless a session still uses one.
        if (auto vm = vm::detach_removed_disks(vm_dir); !vm)
            std::fprintf(stderr, "lxbox: %s: the running VM keeps its disk until it stops: %s\n", what.c_str(),
                         vm.error().message.c_str());
    }
}

std::string embedded_busybox_tarball() {
    auto path = install::find_companion(install::Companion::BusyboxTarball);
    return path ? *path : "";
}

Status ensure_default_distro(store::Store& store, const GlobalOptions& global) {
    auto reg = LXBOX_TRY(store.load());
    if (reg.embedded_registered) return {};
    if (!reg.images.count("busybox")) {
        const std::string tarball = embedded_busybox_tarball();
        // A binary copied away from its share/lxbox/ has no default distro, but every other
        // verb still works; launch without a distro says how to get one (no_distro_hint).
        if (tarball.empty()) return {};
        auto fd = LXBOX_TRY(open_fd(tarball, O_RDONLY));
        store::ImportOptions opts;
        opts.source = "embedded:" + tarball;
        auto rec = store::import_image(store, "busybox", fd.get(), opts);
        // A concurrent first use may have registered it already: that is success too.
        if (!rec && rec.error().kind != ErrorKind::Exists)
            return std::move(rec).error().context("register the default distro busybox");
    }
    (void)global;
    return store.update([](store::Registry& r) -> Status {
        r.embedded_registered = true;
        if (r.default_distro.empty() && r.images.count("busybox")) r.default_distro = "busybox";
        return {};
    });
}

namespace {

struct ImportRequest {
    std::string name, source, script, arch, platform;
    bool replace = false;
};

Result<int> cmd_import(const GlobalOptions& g, const ImportRequest& req) {
    auto store = LXBOX_TRY(open_store(g));
    if (!req.script.empty()) {
        auto m = LXBOX_TRY(distro::load_manifest(req.script));
        if (!req.name.empty()) m.name = req.name;
        auto bar = std::make_shared<Progress>("importing " + m.name, Progress::wanted(g.quiet));
        auto rec = LXBOX_TRY_CTX(distro::scripted_import(store, m, req.replace, progress_callback(bar)), "import " + m.name);
        return 0;
    }
    if (req.name.empty() || req.source.empty())
        return Error(ErrorKind::Invalid, "import: give NAME and TARBALL (or - for stdin), or --script MANIFEST");
    image::ImageImportOptions iopts;
    iopts.replace = req.replace;
    iopts.source = req.source == "-" ? "stdin" : req.source;
    if (!req.platform.empty()) iopts.platform = LXBOX_TRY_CTX(image::parse_platform(req.platform), "import " + req.name);
    struct stat st;
    if (req.source != "-" && ::stat(req.source.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (image::classify_tree(req.source) != image::TreeKind::OciLayout)
            return Error(ErrorKind::Invalid, "import " + req.name + ": directory " + req.source +
                                                 " is not an OCI image layout (no oci-layout and index.json)");
        // The layers' unpacking is the time an import of a layout takes.
        iopts.progress = progress_callback(std::make_shared<Progress>("unpacking " + req.name, Progress::wanted(g.quiet)));
        LXBOX_TRY_CTX(image::import_oci_layout(store, req.name, req.source, iopts), "import " + req.name);
        return 0;
    }
    UniqueFd file;
    int fd = STDIN_FILENO;
    if (req.source != "-") {
        file = LXBOX_TRY_CTX(open_fd(req.source, O_RDONLY), "import " + req.name);
        fd = file.get();
    }
    store::ImportOptions opts;
    opts.replace = req.replace;
    opts.arch = req.arch;
    opts.source = req.source == "-" ? "stdin" : req.source;
    auto bar = std::make_shared<Progress>("importing " + req.name, Progress::wanted(g.quiet));
    opts.progress = progress_callback(bar);
    // An oci-archive or docker save tar is told from a rootfs by what it holds, once extracted.
    iopts.move_blobs = true;
    opts.image_archive = [&](const std::string& tree) {
        // The archive is read by now: the layers' unpacking draws over its bar.
        auto unpacking = std::make_shared<Progress>("unpacking " + req.name, Progress::wanted(g.quiet));
        iopts.progress = progress_callback(unpacking);
        return image::import_image_tree(store, req.name, tree, iopts);
    };
    LXBOX_TRY_CTX(store::import_image(store, req.name, fd, opts), "import " + req.name);
    return 0;
}

struct ListRequest {
    bool json = false;
};

Result<int> cmd_list(const GlobalOptions& g, const ListRequest& req) {
    auto store = LXBOX_TRY(open_store(g));
    LXBOX_TRY(ensure_default_distro(store, g));
    auto reg = LXBOX_TRY(store.load());
    if (req.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& [name, img] : reg.images) {
            nlohmann::json j = img;
            j["default"] = name == reg.default_distro;
            out.push_back(j);
        }
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }
    std::printf("  %-20s %-8s %10s  %s\n", "NAME", "ARCH", "SIZE", "CREATED");
    for (const auto& [name, img] : reg.images) {
        std::printf("%s %-20s %-8s %10s  %s\n", name == reg.default_distro ? "*" : " ", name.c_str(),
                    img.arch.c_str(), format_bytes(img.size_bytes).c_str(), img.created.c_str());
    }
    return 0;
}

struct ExportRequest {
    std::string name, file;
};

Result<int> cmd_export(const GlobalOptions& g, const ExportRequest& req) {
    auto store = LXBOX_TRY(open_store(g));
    archive::CreateOptions opts;
    auto bar = std::make_shared<Progress>("exporting " + req.name, Progress::wanted(g.quiet));
    opts.progress = progress_callback(bar);
    if (req.file == "-") {
        if (::isatty(STDOUT_FILENO))
            return Error(ErrorKind::Refused, "export " + req.name + ": refusing to write an archive to a terminal");
        LXBOX_TRY_CTX(store::export_image(store, req.name, STDOUT_FILENO, opts), "export " + req.name);
        return 0;
    }
    opts.compression = LXBOX_TRY_CTX(archive::compression_for_filename(req.file), "export " + req.name);
    // Written unnamed beside the target (O_TMPFILE), then named: an interrupted export never
    // leaves a torn file under the name the user asked for. Replacing a file, it passes through
    // a new random name (linkat fails on an existing one: the directory may be one where others
    // can plant a symlink), recorded in the store first, so a kill between the link and the
    // rename leaves nothing the next lxbox does not remove.
    auto tmp = LXBOX_TRY_CTX(create_unnamed_beside(req.file, store::kPublishTag, 0644), "export " + req.name);
    auto exported = store::export_image(store, req.name, tmp.fd.get(), opts);
    Status st = exported ? Status{} : Status(std::move(exported).error());
    if (st && ::fsync(tmp.fd.get()) != 0) st = Error::last("fsync the archive");
    store::PublishRecord record(store.tmp_dir());
    if (st) st = publish_temp(tmp, req.file, store::kPublishTag, [&](const std::string& n) { return record.name(n); });
    if (!st) {
        if (!tmp.path.empty()) ::unlink(tmp.path.c_str());
        return std::move(st).error().context("export " + req.name);
    }
    return 0;
}

}  // namespace

void add_store_commands(CLI::App& app, CommandContext& ctx) {
    auto imp = std::make_shared<ImportRequest>();
    auto* i = app.add_subcommand("import", "Import a distro from a rootfs tarball (or --script MANIFEST)");
    i->add_option("name", imp->name, "Distro name");
    i->add_option("tarball", imp->source,
                  "Rootfs tarball (tar, .gz, .xz, .zst, .bz2), oci-archive or docker save tar, or OCI layout "
                  "directory (detected by content), - for stdin");
    i->add_option("--script", imp->script, "Scripted import from a manifest (distro-images/NAME.json)");
    i->add_option("--arch", imp->arch, "Architecture to record (default: read from the rootfs)");
    i->add_option("--platform", imp->platform, "os/arch[/variant] of a multi-platform image (default: the host's)");
    i->add_flag("--replace", imp->replace, "Replace an existing distro of that name");
    i->callback([&ctx, imp] { ctx.action = [&ctx, imp] { return cmd_import(ctx.global, *imp); }; });

    auto lst = std::make_shared<ListRequest>();
    auto* l = app.add_subcommand("list", "List imported distros (* marks the default)");
    l->alias("ls");
    l->add_flag("--json", lst->json, "Machine-readable output");
    l->callback([&ctx, lst] { ctx.action = [&ctx, lst] { return cmd_list(ctx.global, *lst); }; });

    auto exp = std::make_shared<ExportRequest>();
    auto* e = app.add_subcommand("export", "Export a distro's rootfs (.tar, .tar.gz, .tar.xz, .tar.zst or - for stdout)");
    e->add_option("name", exp->name, "Distro name")->required();
    e->add_option("file", exp->file, "Output file, or - for stdout")->required();
    e->callback([&ctx, exp] { ctx.action = [&ctx, exp] { return cmd_export(ctx.global, *exp); }; });

    struct NameForce {
        std::string name;
        bool force = false;
    };
    auto unr = std::make_shared<NameForce>();
    auto* u = app.add_subcommand("unregister", "Remove a distro (--force: and its containers)");
    u->add_option("name", unr->name, "Distro name")->required();
    u->add_flag("--force", unr->force, "Also remove the distro's containers");
    u->callback([&ctx, unr] {
        ctx.action = [&ctx, unr]() -> Result<int> {
            auto store = LXBOX_TRY(open_store(ctx.global));
            LXBOX_TRY_CTX(store::unregister_image(store, unr->name, unr->force), "unregister " + unr->name);
            // Its disk for the VM backend goes too.
            drop_vm_disks(store, "unregister " + unr->name, unr->name);
            return 0;
        };
    });

    auto def = std::make_shared<std::string>();
    auto* d = app.add_subcommand("set-default", "Make a distro the default for launch");
    d->add_option("name", *def, "Distro name")->required();
    d->callback([&ctx, def] {
        ctx.action = [&ctx, def]() -> Result<int> {
            auto store = LXBOX_TRY(open_store(ctx.global));
            LXBOX_TRY_CTX(store::set_default_image(store, *def), "set-default " + *def);
            return 0;
        };
    });
}

}  // namespace lxbox::cli
