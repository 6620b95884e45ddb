#include "host/vm/kernel_package.hpp"

#include "runtime/archive/libarchive.hpp"

#include <elf.h>
#include <sys/stat.h>

#include <cstring>
#include <memory>

namespace lxbox::vm {

namespace la = lxbox::libarchive;

Result<std::string> parse_kernel_dependency(std::string_view text) {
    // Lines look like "  Depends: linux-image-6.1.0-56-amd64"; the first such is the kernel.
    constexpr std::string_view key = "Depends: ";
    for (size_t at = text.find(key); at != std::string_view::npos; at = text.find(key, at + 1)) {
        size_t start = at + key.size();
        size_t end = text.find_first_of(" \n\r", start);
        std::string_view name = text.substr(start, end - start);
        name = name.substr(0, name.find(':'));
        if (name.rfind("linux-image-", 0) == 0) return std::string(name);
    }
    return Error(ErrorKind::NotFound, "no linux-image-* dependency in apt-cache's answer");
}

std::string module_name(std::string_view path) {
    size_t slash = path.rfind('/');
    std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
    if (size_t ko = name.find(".ko"); ko != std::string::npos) name.resize(ko);
    for (char& c : name)
        if (c == '-') c = '_';
    return name;
}

namespace {

bool in_bounds(std::string_view bytes, uint64_t offset, uint64_t length) {
    return offset <= bytes.size() && length <= bytes.size() - offset;
}

template <class T>
T read_struct(std::string_view bytes, uint64_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

std::vector<std::string> split_commas(std::string_view list) {
    std::vector<std::string> out;
    while (!list.empty()) {
        size_t comma = list.find(',');
        if (comma != 0) out.emplace_back(module_name(list.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return out;
}

ModInfo parse_modinfo_strings(std::string_view section) {
    // A run of NUL-terminated "key=value" strings (padding NULs between them).
    ModInfo info;
    while (!section.empty()) {
        size_t end = section.find('\0');
        std::string_view entry = section.substr(0, end);
        if (entry.rfind("name=", 0) == 0) info.name = module_name(entry.substr(5));
        if (entry.rfind("depends=", 0) == 0) info.depends = split_commas(entry.substr(8));
        if (end == std::string_view::npos) break;
        section.remove_prefix(end + 1);
    }
    return info;
}

}  // namespace

Result<ModInfo> read_modinfo(std::string_view elf) {
    auto bad = [](const char* why) { return Error(ErrorKind::Invalid, std::string("module: ") + why); };
    if (!in_bounds(elf, 0, sizeof(Elf64_Ehdr)) || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0 ||
        elf[EI_CLASS] != ELFCLASS64)
        return bad("not a 64-bit ELF file");
    auto eh = read_struct<Elf64_Ehdr>(elf, 0);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum ||
        !in_bounds(elf, eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr)))
        return bad("section table out of bounds");
    auto shdr = [&](unsigned i) { return read_struct<Elf64_Shdr>(elf, eh.e_shoff + i * sizeof(Elf64_Shdr)); };
    Elf64_Shdr names = shdr(eh.e_shstrndx);
    if (!in_bounds(elf, names.sh_offset, names.sh_size)) return bad("section names out of bounds");
    std::string_view strtab = elf.substr(names.sh_offset, names.sh_size);
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s = shdr(i);
        if (s.sh_name >= strtab.size()) continue;
        if (std::string_view(strtab.data() + s.sh_name) != ".modinfo") continue;
        if (!in_bounds(elf, s.sh_offset, s.sh_size)) return bad(".modinfo out of bounds");
        return parse_modinfo_strings(elf.substr(s.sh_offset, s.sh_size));
    }
    return bad("no .modinfo section");
}

std::string strip_module_signature(std::string module) {
    // Layout (include/linux/module_signature.h): ...module | signature | struct
    // module_signature (12 bytes, sig_len big-endian in the last 4) | magic.
    constexpr std::string_view magic = "~Module signature appended~\n";
    constexpr size_t info_size = 12;
    if (module.size() < magic.size() + info_size ||
        std::string_view(module).substr(module.size() - magic.size()) != magic)
        return module;
    size_t info = module.size() - magic.size() - info_size;
    auto byte = [&](size_t i) { return uint32_t(static_cast<unsigned char>(module[info + i])); };
    uint32_t sig_len = byte(8) << 24 | byte(9) << 16 | byte(10) << 8 | byte(11);
    if (sig_len > info) return module;
    module.resize(info - sig_len);
    return module;
}

namespace {

using ArchivePtr = la::ReadPtr;

Result<std::string> read_data(archive* a, const std::string& what) {
    std::string out;
    char buf[65536];
    for (;;) {
        la_ssize_t n = la::archive_read_data(a, buf, sizeof buf);
        if (n < 0) return Error(ErrorKind::Invalid, "read " + what + ": " + la::archive_error_string(a));
        if (n == 0) return out;
        out.append(buf, size_t(n));
    }
}

// Decompresses one raw stream held in memory with whatever filter libarchive detects.
Result<std::string> decompress_raw(std::string_view bytes, const std::string& what) {
    LXBOX_TRY(la::load());
    ArchivePtr a(la::archive_read_new());
    la::archive_read_support_filter_all(a.get());
    la::archive_read_support_format_raw(a.get());
    archive_entry* entry = nullptr;
    if (la::archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK ||
        la::archive_read_next_header(a.get(), &entry) != ARCHIVE_OK)
        return Error(ErrorKind::Invalid, "decompress " + what + ": " + la::archive_error_string(a.get()));
    return read_data(a.get(), "decompress " + what);
}

}  // namespace

Result<std::string> decompress_module(std::string_view path, std::string bytes) {
    auto ends_with = [&](std::string_view s) {
        return path.size() >= s.size() && path.substr(path.size() - s.size()) == s;
    };
    if (!ends_with(".xz") && !ends_with(".zst") && !ends_with(".gz")) return bytes;
    return decompress_raw(bytes, std::string(path));
}

Result<std::string> extract_vmlinux(std::string_view bzimage) {
    // The boot protocol header (2.08+) says where the compressed payload is: setup_sects at
    // 0x1f1, payload_offset/payload_length at 0x248/0x24c, relative to the protected-mode
    // code after the (setup_sects + 1) * 512-byte setup. The kernel's build appends the
    // uncompressed size (4 bytes) after the xz stream: cut it, the xz reader wants the stream.
    constexpr std::string_view xz_magic("\xfd" "7zXZ\0", 6);
    if (bzimage.size() < 0x250 || bzimage.substr(0x202, 4) != "HdrS")
        return Error(ErrorKind::Invalid, "bzImage: no boot protocol header (HdrS)");
    auto u32 = [&](size_t at) { return read_struct<uint32_t>(bzimage, at); };
    uint64_t setup_sects = static_cast<unsigned char>(bzimage[0x1f1]);
    uint64_t start = (setup_sects + 1) * 512 + u32(0x248);
    uint64_t length = u32(0x24c);
    if (!in_bounds(bzimage, start, length) || length < 4 + xz_magic.size() ||
        bzimage.substr(start, xz_magic.size()) != xz_magic)
        return Error(ErrorKind::Unsupported,
                     "bzImage: the payload is not xz-compressed (only CONFIG_KERNEL_XZ is supported)");
    auto vmlinux = LXBOX_TRY_CTX(decompress_raw(bzimage.substr(start, length - 4), "vmlinux"), "bzImage");
    if (vmlinux.size() < SELFMAG || std::memcmp(vmlinux.data(), ELFMAG, SELFMAG) != 0)
        return Error(ErrorKind::Invalid, "bzImage: the payload is not an ELF vmlinux");
    return vmlinux;
}

bool is_arm64_image(std::string_view bytes) {
    return bytes.size() >= 64 && bytes.substr(0x38, 4) == std::string_view("ARM\x64", 4);
}

bool has_pvh_note(std::string_view elf) {
    if (!in_bounds(elf, 0, sizeof(Elf64_Ehdr)) || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0)
        return false;
    auto eh = read_struct<Elf64_Ehdr>(elf, 0);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
        !in_bounds(elf, eh.e_phoff, uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr)))
        return false;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        auto ph = read_struct<Elf64_Phdr>(elf, eh.e_phoff + i * sizeof(Elf64_Phdr));
        if (ph.p_type != PT_NOTE || !in_bounds(elf, ph.p_offset, ph.p_filesz)) continue;
        for (uint64_t at = ph.p_offset; at + sizeof(Elf64_Nhdr) <= ph.p_offset + ph.p_filesz;) {
            auto note = read_struct<Elf64_Nhdr>(elf, at);
            uint64_t name_at = at + sizeof(Elf64_Nhdr);
            // XEN_ELFNOTE_PHYS32_ENTRY = 18, owner "Xen".
            if (note.n_type == 18 && note.n_namesz == 4 && in_bounds(elf, name_at, 4) &&
                elf.substr(name_at, 3) == "Xen")
                return true;
            at = name_at + ((uint64_t(note.n_namesz) + 3) & ~3ull) + ((uint64_t(note.n_descsz) + 3) & ~3ull);
        }
    }
    return false;
}

namespace {

// libarchive reads the nested data.tar.* through the outer ar reader, no temp file.
la_ssize_t read_from_outer(archive*, void* outer, const void** buffer) {
    static thread_local char chunk[1 << 16];
    *buffer = chunk;
    return la::archive_read_data(static_cast<archive*>(outer), chunk, sizeof chunk);
}

Status visit_data_tar(archive* outer, const std::string& deb, const DebVisitor& visit,
                      const DebProgress& progress, uint64_t deb_size) {
    ArchivePtr inner(la::archive_read_new());
    la::archive_read_support_filter_all(inner.get());
    la::archive_read_support_format_tar(inner.get());
    if (la::archive_read_open(inner.get(), outer, nullptr, read_from_outer, nullptr) != ARCHIVE_OK)
        return Error(ErrorKind::Invalid, deb + ": data.tar: " + la::archive_error_string(inner.get()));
    archive_entry* entry = nullptr;
    int rc;
    while ((rc = la::archive_read_next_header(inner.get(), &entry)) == ARCHIVE_OK) {
        if (la::archive_entry_filetype(entry) != AE_IFREG) continue;
        std::string path = la::archive_entry_pathname(entry);
        if (path.rfind("./", 0) == 0) path.erase(0, 2);
        auto read = [&]() { return read_data(inner.get(), deb + ": " + path); };
        LXBOX_TRY(visit(path, uint64_t(la::archive_entry_size(entry)), read));
        if (progress) progress(uint64_t(la::archive_filter_bytes(outer, -1)), deb_size);
    }
    if (rc != ARCHIVE_EOF)
        return Error(ErrorKind::Invalid, deb + ": data.tar: " + la::archive_error_string(inner.get()));
    return {};
}

}  // namespace

Status for_each_deb_file(const std::string& deb_path, const DebVisitor& visit,
                         const DebProgress& progress) {
    struct stat st {};
    if (::stat(deb_path.c_str(), &st) != 0) return Error::last("stat " + deb_path);
    LXBOX_TRY(la::load());
    ArchivePtr outer(la::archive_read_new());
    la::archive_read_support_format_ar(outer.get());
    if (la::archive_read_open_filename(outer.get(), deb_path.c_str(), 1 << 16) != ARCHIVE_OK)
        return Error(ErrorKind::Invalid, "open " + deb_path + ": " + la::archive_error_string(outer.get()));
    archive_entry* entry = nullptr;
    while (la::archive_read_next_header(outer.get(), &entry) == ARCHIVE_OK) {
        if (std::string_view(la::archive_entry_pathname(entry)).rfind("data.tar", 0) == 0)
            return visit_data_tar(outer.get(), deb_path, visit, progress, uint64_t(st.st_size));
    }
    return Error(ErrorKind::Invalid, deb_path + ": no data.tar member (not a .deb?)");
}

}  // namespace lxbox::vm
