#include "runtime/store/images.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/store/stale.hpp"

namespace lxbox::store {

std::string arch_from_elf_machine(unsigned machine) {
    switch (machine) {
        case EM_X86_64: return "x86_64";
        case EM_AARCH64: return "aarch64";
        case EM_386: return "i386";
        case EM_ARM: return "arm";
        case EM_RISCV: return "riscv64";
        case EM_PPC64: return "ppc64le";
        case EM_S390: return "s390x";
        default: return "";
    }
}

std::string detect_rootfs_arch(const std::string& rootfs) {
    auto root = open_fd(rootfs, O_PATH | O_DIRECTORY);
    if (!root) return "";
    for (const char* candidate : {"bin/sh", "bin/busybox", "usr/bin/env", "bin/ls"}) {
        // RESOLVE_IN_ROOT: an absolute symlink such as /bin/sh -> /bin/busybox resolves inside
        // the rootfs, never on the host.
        int fd = sys::openat2(root->get(), candidate, O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0) continue;
        UniqueFd file(fd);
        Elf64_Ehdr hdr{};
        if (::pread(fd, &hdr, sizeof hdr, 0) < static_cast<ssize_t>(EI_NIDENT + 4)) continue;
        if (std::memcmp(hdr.e_ident, ELFMAG, SELFMAG) != 0) continue;
        std::string arch = arch_from_elf_machine(hdr.e_machine);
        if (!arch.empty()) return arch;
    }
    return "";
}

static std::string host_arch() {
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__aarch64__)
    return "aarch64";
#else
    return "unknown";
#endif
}

// Swaps two directories in one step (renameat2 RENAME_EXCHANGE, Linux 3.15; ext4, xfs, btrfs,
// tmpfs and overlayfs have it).
static Status exchange_paths(const std::string& a, const std::string& b) {
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0)
        return Error::last("exchange " + a + " and " + b);
    return {};
}

// Renames each (from, to), skipping what is already gone; a failure is logged only: the record
// is gone already, and clean_stale() removes an unregistered dir left in place.
static void rename_all(const std::vector<std::pair<std::string, std::string>>& moves) {
    for (const auto& [from, to] : moves)
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
            spdlog::warn("{}", Error::last("rename " + from + " to " + to).message);
}

// Registers the extracted tree at work_dir as `name`: renames it into place and writes the
// registry in one locked section, so no other lxbox can see one without the other.
static Status commit_import(Store& store, const std::string& name, const std::string& work_dir,
                            const ImageRecord& record, bool replace) {
    bool exchanged = false;
    Status done = store.update([&](Registry& reg) -> Status {
        const std::string target = store.image_dir(name);
        if (reg.images.count(name)) {
            if (!replace)
                return Error(ErrorKind::Exists, "a distro named '" + name + "' exists (use --replace)");
            // One atomic swap: a kill at any moment leaves the old tree or the new one in place
            // (the other under the dead import's name, for clean_stale()), never neither.
            LXBOX_TRY(exchange_paths(work_dir, target));
            exchanged = true;
        } else if (::rename(work_dir.c_str(), target.c_str()) != 0) {
            return Error::last("rename " + work_dir + " to " + target);
        }
        reg.images[name] = record;
        if (reg.default_distro.empty()) reg.default_distro = name;
        return {};
    });
    if (!done) {
        // The registry kept the old record: the old tree goes back under it.
        if (exchanged) (void)exchange_paths(work_dir, store.image_dir(name));
        return done;
    }
    // The old tree, now under the import's name (a kill leaves it to clean_stale()).
    if (exchanged) (void)remove_tree(work_dir);
    return {};
}

Result<ImageRecord> import_image(Store& store, const std::string& name, int input_fd, const ImportOptions& opts) {
    LXBOX_TRY(validate_name(name));
    if (!opts.replace) {
        auto reg = LXBOX_TRY(store.load());
        if (reg.images.count(name))
            return Error(ErrorKind::Exists, "a distro named '" + name + "' exists (use --replace)");
    }
    const std::string work_dir = store.root() + "/images/" + work_dir_name("import", self_owner(), name);
    if (::mkdir(work_dir.c_str(), 0700) != 0) return Error::last("create " + work_dir);
    TempDir guard = TempDir::adopt(work_dir);  // removed on every error path below
    const std::string rootfs = work_dir + "/rootfs";
    if (::mkdir(rootfs.c_str(), 0755) != 0) return Error::last("create " + rootfs);

    archive::ExtractOptions xo;
    xo.same_owner = ::geteuid() == 0;
    xo.allow_devices = ::geteuid() == 0;
    xo.progress = opts.progress;
    auto stats = LXBOX_TRY(archive::extract(input_fd, rootfs, xo));
    if (opts.image_archive) {
        // The extracted tree goes with the guard: its blobs were moved into the blob store.
        if (auto image = LXBOX_TRY(opts.image_archive(rootfs))) return std::move(*image);
    }
    if (opts.before_commit) LXBOX_TRY(opts.before_commit(rootfs));

    ImageRecord record;
    record.name = name;
    record.arch = opts.arch.empty() ? detect_rootfs_arch(rootfs) : opts.arch;
    if (record.arch.empty()) record.arch = host_arch();
    record.created = now_rfc3339();
    record.size_bytes = stats.bytes;
    record.source = opts.source;
    LXBOX_TRY(commit_import(store, name, work_dir, record, opts.replace));
    guard.release();
    spdlog::info("imported {}: {} entries, {} bytes", name, stats.entries, stats.bytes);
    return record;
}

Status unregister_image(Store& store, const std::string& name, bool force) {
    std::vector<std::pair<std::string, std::string>> moves;  // what → its trash name
    LXBOX_TRY(store.update(
        [&](Registry& reg) -> Status {
            if (!reg.images.count(name)) return Error(ErrorKind::NotFound, "no distro named '" + name + "'");
            std::vector<std::string> users;
            for (const auto& [cname, c] : reg.containers)
                if (c.image == name) users.push_back(cname);
            if (!users.empty() && !force) {
                std::string list;
                for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
                return Error(ErrorKind::Busy, "distro '" + name + "' has containers (" + list +
                                                  "): remove them or use --force");
            }
            for (const auto& u : users) {
                if (auto inst = LXBOX_TRY(store.running_instance(u)))
                    return Error(ErrorKind::Busy, "container '" + u + "' of distro '" + name + "' is running");
            }
            for (const auto& u : users) {
                moves.emplace_back(store.container_dir(u),
                                   store.root() + "/containers/" + work_dir_name("trash", self_owner(), u));
                reg.containers.erase(u);
            }
            moves.emplace_back(store.image_dir(name),
                               store.root() + "/images/" + work_dir_name("trash", self_owner(), name));
            reg.images.erase(name);
            if (reg.default_distro == name) reg.default_distro = reg.images.empty() ? "" : reg.images.begin()->first;
            return {};
        },
        // Out of sight once the records are gone, still under the lock (Store::update); the slow
        // deletion happens after the lock. A kill in between leaves unregistered dirs, which
        // clean_stale() removes.
        [&] { rename_all(moves); }));
    for (const auto& m : moves) LXBOX_TRY(remove_tree(m.second));
    return {};
}

Status set_default_image(Store& store, const std::string& name) {
    return store.update([&](Registry& reg) -> Status {
        if (!reg.images.count(name)) return Error(ErrorKind::NotFound, "no distro named '" + name + "'");
        reg.default_distro = name;
        return {};
    });
}

Result<archive::Stats> export_image(const Store& store, const std::string& name, int output_fd,
                                    const archive::CreateOptions& opts) {
    auto reg = LXBOX_TRY(store.load());
    auto it = reg.images.find(name);
    if (it == reg.images.end()) return Error(ErrorKind::NotFound, "no distro named '" + name + "'");
    const auto& layers = it->second.layers;
    if (layers.empty()) return archive::create(store.image_rootfs(name), output_fd, opts);
    // An OCI image of one layer is that layer's tree; several would need flattening (whiteouts).
    if (layers.size() > 1)
        return Error(ErrorKind::Unsupported, "image '" + name + "' has " + std::to_string(layers.size()) +
                                                 " layers: export flattens one-layer images only so far");
    return archive::create(store.layer_dir(layers[0].substr(layers[0].find(':') + 1)), output_fd, opts);
}

}  // namespace lxbox::store
