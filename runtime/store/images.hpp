// Distro (image) operations on the store: import, export, unregister, set-default.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "runtime/archive/archive.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::store {

struct ImportOptions {
    bool replace = false;        // --replace: overwrite an existing distro of that name
    std::string source;          // what to record as the source (path, "-", manifest)
    std::string arch;            // empty: read from the rootfs's ELF binaries
    archive::ProgressFn progress;
    // Runs on the complete rootfs before it is registered (scripted imports' post-import
    // steps, a build command's exit status); an error aborts the import.
    std::function<Status(const std::string& rootfs)> before_commit;
    // Looks at the extracted tree first: an image archive (oci-archive, docker save) is
    // imported as an image by it (its record returned), a rootfs is left alone (nullopt).
    std::function<Result<std::optional<ImageRecord>>(const std::string& tree)> image_archive;
};

// Extracts the archive on input_fd into a temp dir beside images/<name> and, only when it is
// complete, renames it into place and registers it, both under the registry lock. A failure or
// a kill at any point leaves the registry and images/ as they were (clean_stale() removes the
// temp dir on the next command).
Result<ImageRecord> import_image(Store& store, const std::string& name, int input_fd, const ImportOptions& opts);

// Removes a distro. Refuses while containers of it exist unless force, which removes them too
// (and refuses if any of them is running).
Status unregister_image(Store& store, const std::string& name, bool force);

Status set_default_image(Store& store, const std::string& name);

// Writes the distro's rootfs as a tar stream on output_fd.
Result<archive::Stats> export_image(const Store& store, const std::string& name, int output_fd,
                                    const archive::CreateOptions& opts);

// The architecture of a rootfs, from the ELF header of its shell or busybox ("x86_64",
// "aarch64", ...); empty when no ELF binary is found. Resolves links inside the rootfs only.
std::string detect_rootfs_arch(const std::string& rootfs);

// Pure: ELF e_machine → arch name ("x86_64", "aarch64", "i386", "arm", "riscv64", ...).
std::string arch_from_elf_machine(unsigned machine);

}  // namespace lxbox::store
