// Taking Debian's kernel package apart for the guest image: the PVH-bootable vmlinux out of
// the bzImage, the modules' dependency data out of their .modinfo sections, module files
// decompressed and unsigned. The parsers are pure functions over bytes; reading the .deb
// goes through libarchive (ar, then the nested data.tar.*).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::vm {

// Pure: "linux-image-6.1.0-56-amd64" from `apt-cache depends linux-image-amd64` output (a
// foreign arch's ":arm64" qualifier is left off: the name is the package's, as its file has it).
Result<std::string> parse_kernel_dependency(std::string_view apt_cache_output);

// Pure: the module name of a path as the kernel spells it: "kernel/fs/9p/9pnet-virtio.ko.xz"
// → "9pnet_virtio".
std::string module_name(std::string_view path);

struct ModInfo {
    std::string name;                  // from name= (falls back to the file name)
    std::vector<std::string> depends;  // from depends=, module names
};

// Pure: the .modinfo section of an ELF relocatable module (bounds-checked; Invalid when the
// bytes are not a 64-bit ELF with .modinfo).
Result<ModInfo> read_modinfo(std::string_view elf);

// Pure: the module without its appended PKCS#7 signature ("~Module signature appended~").
// Unsigned modules load ~2.5x faster in the guest (measured: 15 fs modules 0.64-1.04 s signed,
// 0.26-0.50 s stripped); the guest has no lockdown, so the kernel only taints.
std::string strip_module_signature(std::string module);

// Decompresses a .ko.xz/.ko.zst/.ko.gz (by suffix of path) with libarchive; plain .ko as is.
Result<std::string> decompress_module(std::string_view path, std::string bytes);

// Pure-ish (libarchive's xz filter on memory): the uncompressed vmlinux inside a bzImage.
// Booting it by PVH skips the decompressor, which costs 4-7 s per boot under TCG.
Result<std::string> extract_vmlinux(std::string_view bzimage);

// Pure: whether bytes are an arm64 kernel Image (the boot header's "ARM\x64" magic at 0x38), which
// QEMU's virt machine boots as it is: Debian's arm64 vmlinuz is one, uncompressed.
bool is_arm64_image(std::string_view bytes);

// Pure: whether an ELF kernel carries XEN_ELFNOTE_PHYS32_ENTRY, i.e. QEMU can PVH-boot it.
bool has_pvh_note(std::string_view elf);

// Reads the data.tar.* of a .deb, calling visit(path, read) for every regular file; path has
// no leading "./"; read() returns the file's bytes (call it only for the files you want).
using DebVisitor = std::function<Status(const std::string& path, uint64_t size,
                                        const std::function<Result<std::string>()>& read)>;
// progress(bytes of the .deb read so far, its size) is called after each file.
using DebProgress = std::function<void(uint64_t done, uint64_t total)>;
Status for_each_deb_file(const std::string& deb_path, const DebVisitor& visit,
                         const DebProgress& progress = {});

}  // namespace lxbox::vm
