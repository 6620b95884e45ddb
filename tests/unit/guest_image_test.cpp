// The guest image builder's pure parts: kernel package parsing, module dependencies, module
// signatures, vmlinux extraction from a bzImage, the input hash, the cpio writer.
#include "runtime/archive/libarchive.hpp"
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "host/vm/guest_image.hpp"
#include "host/vm/initramfs.hpp"
#include "host/vm/kernel_package.hpp"
#include "host/vm/module_order.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::vm {

namespace la = lxbox::libarchive;
namespace {

TEST(GuestImageKernel, ParsesTheVersionedPackageFromAptCache) {
    auto p = parse_kernel_dependency("linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, "linux-image-6.1.0-56-amd64");
    EXPECT_FALSE(parse_kernel_dependency("linux-image-amd64\n  Depends: initramfs-tools\n").ok());
}

TEST(GuestImageKernel, TheArm64KernelIsAForeignPackageOfItsOwn) {
    // apt-cache names a foreign arch's package with its qualifier: the file's name has none.
    auto p = parse_kernel_dependency("linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-57-arm64:arm64\n");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, "linux-image-6.1.0-57-arm64");
    const GuestRecipe arm = default_recipe("aarch64"), x86 = default_recipe("x86_64");
    EXPECT_EQ(arm.arch, "aarch64");
    EXPECT_EQ(arm.deb_arch, "arm64");
    EXPECT_EQ(arm.kernel_meta_package, "linux-image-arm64");
    EXPECT_EQ(x86.kernel_meta_package, "linux-image-amd64");
    EXPECT_EQ(arm.boot_modules, x86.boot_modules);  // both kernels build virtio as modules
    EXPECT_NE(image_inputs_hash(arm, "k", "k.deb", "a"), image_inputs_hash(x86, "k", "k.deb", "a"));
    // An arm64 Image's boot header; a bzImage or an ELF is not one.
    std::string image(64, '\0');
    image.replace(0x38, 4, std::string("ARM\x64", 4));
    EXPECT_TRUE(is_arm64_image(image));
    EXPECT_FALSE(is_arm64_image(std::string(64, '\0')));
    EXPECT_FALSE(is_arm64_image("ARM"));
}

TEST(GuestImageAgent, AnotherArchsAgentHasANameAndVariableOfItsOwn) {
    auto file = [](const std::string& arch, const std::string& host) {
        auto c = agent_companion(arch, host);
        return c ? std::string(install::companion_file(*c)) : "";
    };
    auto env = [](const std::string& arch, const std::string& host) {
        auto c = agent_companion(arch, host);
        return c ? std::string(install::companion_env(*c)) : "";
    };
    EXPECT_EQ(file("", "x86_64"), "lxbox-agent");
    EXPECT_EQ(file("x86_64", "x86_64"), "lxbox-agent");
    EXPECT_EQ(file("aarch64", "x86_64"), "lxbox-agent-aarch64");
    EXPECT_EQ(file("aarch64", "aarch64"), "lxbox-agent");
    EXPECT_EQ(env("", "x86_64"), "LXBOX_AGENT");
    EXPECT_EQ(env("aarch64", "x86_64"), "LXBOX_AGENT_AARCH64");
}

TEST(GuestImageModules, NamesAsTheKernelSpellsThem) {
    EXPECT_EQ(module_name("kernel/net/9p/9pnet_virtio.ko"), "9pnet_virtio");
    EXPECT_EQ(module_name("kernel/drivers/char/hw_random/virtio-rng.ko.xz"), "virtio_rng");
    EXPECT_EQ(module_name("overlay"), "overlay");
}

const char* kModulesDep =
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/net/9p/9pnet.ko:\n"
    "kernel/net/9p/9pnet_virtio.ko: kernel/drivers/virtio/virtio.ko kernel/net/9p/9pnet.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n";

TEST(GuestImageModules, DependenciesComeFirstAndOnce) {
    auto order = resolve_module_order(kModulesDep, {"virtio_console", "9pnet_virtio"}, "");
    ASSERT_TRUE(order.ok()) << order.error().message;
    EXPECT_EQ(*order, (std::vector<std::string>{
                          "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
                          "kernel/drivers/char/virtio_console.ko", "kernel/net/9p/9pnet.ko",
                          "kernel/net/9p/9pnet_virtio.ko"}));
}

TEST(GuestImageModules, BuiltInModulesAreSkippedAndUnknownOnesRefused) {
    auto order = resolve_module_order(kModulesDep, {"ext4", "virtio"}, "kernel/fs/ext4/ext4.ko\n");
    ASSERT_TRUE(order.ok());
    EXPECT_EQ(order->size(), 2u);
    auto missing = resolve_module_order(kModulesDep, {"zfs"}, "");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
}

TEST(GuestImageModules, CyclesDoNotLoopForever) {
    auto order = resolve_module_order("a.ko: b.ko\nb.ko: a.ko\n", {"a"}, "");
    ASSERT_TRUE(order.ok());
    EXPECT_EQ(order->size(), 2u);
}

TEST(GuestImageModules, WrittenModulesDepResolvesTheSame) {
    std::map<std::string, ModuleFile> modules{
        {"virtio_ring", {"kernel/v/virtio_ring.ko", {}}},
        {"virtio", {"kernel/v/virtio.ko", {"virtio_ring"}}},
        {"virtio_console", {"kernel/c/virtio_console.ko", {"virtio", "virtio_ring", "builtin_thing"}}}};
    std::string dep = write_modules_dep(modules);
    EXPECT_NE(dep.find("kernel/c/virtio_console.ko: kernel/v/virtio.ko kernel/v/virtio_ring.ko\n"),
              std::string::npos);
    auto order = resolve_module_order(dep, {"virtio_console"}, "");
    ASSERT_TRUE(order.ok());
    EXPECT_EQ(order->back(), "kernel/c/virtio_console.ko");
    EXPECT_EQ(order->front(), "kernel/v/virtio_ring.ko");
}

TEST(GuestImageModules, StripsAnAppendedSignature) {
    std::string body = "\x7f" "ELF module body";
    std::string sig(300, 'S');
    std::string info(12, '\0');
    info[10] = char(300 >> 8);
    info[11] = char(300 & 0xff);
    std::string signed_module = body + sig + info + "~Module signature appended~\n";
    EXPECT_EQ(strip_module_signature(signed_module), body);
    EXPECT_EQ(strip_module_signature(body), body);
    // A lying length leaves the module alone rather than cutting into it.
    info[10] = char(0x7f);
    EXPECT_EQ(strip_module_signature(body + info + "~Module signature appended~\n").size(),
              body.size() + 12 + 28);
}

// A minimal ELF64 relocatable with sections: null, .shstrtab, .modinfo.
std::string fake_module(const std::string& modinfo) {
    std::string shstrtab = std::string("\0.shstrtab\0.modinfo\0", 20);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 1;
    size_t strtab_at = sizeof eh, modinfo_at = strtab_at + shstrtab.size();
    eh.e_shoff = modinfo_at + modinfo.size();
    Elf64_Shdr sh[3]{};
    sh[1].sh_name = 1;
    sh[1].sh_offset = strtab_at;
    sh[1].sh_size = shstrtab.size();
    sh[2].sh_name = 11;
    sh[2].sh_offset = modinfo_at;
    sh[2].sh_size = modinfo.size();
    std::string out(reinterpret_cast<char*>(&eh), sizeof eh);
    out += shstrtab + modinfo;
    out.append(reinterpret_cast<char*>(sh), sizeof sh);
    return out;
}

TEST(GuestImageModules, ReadsDependsFromModinfo) {
    std::string modinfo("license=GPL\0depends=virtio,virtio_ring\0\0name=virtio_console\0", 61);
    auto info = read_modinfo(fake_module(modinfo));
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->name, "virtio_console");
    EXPECT_EQ(info->depends, (std::vector<std::string>{"virtio", "virtio_ring"}));
    auto none = read_modinfo(fake_module(std::string("depends=\0name=x\0", 16)));
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->depends.empty());
}

TEST(GuestImageModules, RefusesNonElfAndTruncatedModules) {
    EXPECT_FALSE(read_modinfo("not an elf").ok());
    std::string m = fake_module(std::string("name=x\0", 7));
    EXPECT_FALSE(read_modinfo(m.substr(0, m.size() - 10)).ok());
}

std::string xz_compress(const std::string& data) {
    archive* a = la::archive_write_new();
    la::archive_write_set_format_raw(a);
    la::archive_write_add_filter_xz(a);
    std::string out(data.size() + 4096, '\0');
    size_t used = 0;
    la::archive_write_open_memory(a, out.data(), out.size(), &used);
    archive_entry* e = la::archive_entry_new();
    la::archive_entry_set_filetype(e, AE_IFREG);
    la::archive_entry_set_size(e, la_int64_t(data.size()));
    la::archive_write_header(a, e);
    la::archive_write_data(a, data.data(), data.size());
    la::archive_entry_free(e);
    la::archive_write_close(a);
    la::archive_write_free(a);
    out.resize(used);
    return out;
}

// A bzImage skeleton: boot header with setup_sects, payload_offset/length, the xz payload and
// the 4-byte size trailer the kernel build appends.
std::string fake_bzimage(const std::string& payload) {
    std::string image(3 * 512, '\0');
    image[0x1f1] = 2;  // setup_sects: protected-mode code starts at 3 * 512
    std::memcpy(&image[0x202], "HdrS", 4);
    uint32_t offset = 64, length = uint32_t(payload.size() + 4);
    std::memcpy(&image[0x248], &offset, 4);
    std::memcpy(&image[0x24c], &length, 4);
    image += std::string(offset, '\x90') + payload + "SIZE" + std::string(100, '\0');
    return image;
}

TEST(GuestImageKernel, ExtractsTheVmlinuxFromTheXzPayload) {
    std::string elf = std::string(ELFMAG, SELFMAG) + std::string(5000, 'k');
    auto vmlinux = extract_vmlinux(fake_bzimage(xz_compress(elf)));
    ASSERT_TRUE(vmlinux.ok()) << vmlinux.error().message;
    EXPECT_EQ(*vmlinux, elf);
    EXPECT_FALSE(extract_vmlinux("MZ not a kernel").ok());
    auto gzip = extract_vmlinux(fake_bzimage("\x1f\x8b gzip payload"));
    ASSERT_FALSE(gzip.ok());
    EXPECT_EQ(gzip.error().kind, ErrorKind::Unsupported);
}

TEST(GuestImageKernel, FindsThePvhNote) {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_phoff = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    Elf64_Nhdr note{4, 8, 18};
    Elf64_Phdr ph{};
    ph.p_type = PT_NOTE;
    ph.p_offset = sizeof eh + sizeof ph;
    ph.p_filesz = sizeof note + 4 + 8;
    std::string elf(reinterpret_cast<char*>(&eh), sizeof eh);
    elf.append(reinterpret_cast<char*>(&ph), sizeof ph);
    elf.append(reinterpret_cast<char*>(&note), sizeof note);
    elf += std::string("Xen\0", 4) + std::string(8, '\1');
    EXPECT_TRUE(has_pvh_note(elf));
    elf[sizeof eh + sizeof ph + 8] = 17;  // another Xen note type
    EXPECT_FALSE(has_pvh_note(elf));
    EXPECT_FALSE(has_pvh_note("short"));
}

TEST(GuestImageHash, ChangesWithEveryInput) {
    GuestRecipe r = default_recipe();
    std::string base = image_inputs_hash(r, "linux-image-6.1.0-56-amd64", "k_1_amd64.deb", "agent");
    EXPECT_EQ(base.size(), 40u);
    EXPECT_EQ(base, image_inputs_hash(r, "linux-image-6.1.0-56-amd64", "k_1_amd64.deb", "agent"));
    EXPECT_NE(base, image_inputs_hash(r, "linux-image-6.1.0-56-amd64", "k_1_amd64.deb", "agent2"));
    EXPECT_NE(base, image_inputs_hash(r, "linux-image-6.1.0-57-amd64", "k_1_amd64.deb", "agent"));
    EXPECT_NE(base, image_inputs_hash(r, "linux-image-6.1.0-56-amd64", "k_2_amd64.deb", "agent"));
    r.later_modules.push_back("squashfs");
    EXPECT_NE(base, image_inputs_hash(r, "linux-image-6.1.0-56-amd64", "k_1_amd64.deb", "agent"));
    GuestRecipe moved = default_recipe();  // the same modules in another phase
    moved.share_modules.push_back(moved.later_modules.back());
    moved.later_modules.pop_back();
    EXPECT_NE(base, image_inputs_hash(moved, "linux-image-6.1.0-56-amd64", "k_1_amd64.deb", "agent"));
    EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");  // FIPS 180-1's example
}

TEST(GuestImageHash, AFileStampChangesWithSizeTimeAndIdentity) {
    const std::string base = file_stamp(3338192, 1764700000123456789, 2049, 42);
    EXPECT_EQ(base, file_stamp(3338192, 1764700000123456789, 2049, 42));
    EXPECT_NE(base, file_stamp(3338193, 1764700000123456789, 2049, 42));
    EXPECT_NE(base, file_stamp(3338192, 1764700000123456790, 2049, 42));
    EXPECT_NE(base, file_stamp(3338192, 1764700000123456789, 2050, 42));
    EXPECT_NE(base, file_stamp(3338192, 1764700000123456789, 2049, 43));
}

TEST(GuestImageInitramfs, LoadOrderMarksBootModules) {
    EXPECT_EQ(load_order_text({"virtio", "virtio_console", "ext4"}, {2}),
              "virtio.ko boot\nvirtio_console.ko boot\next4.ko later\n");
    EXPECT_EQ(load_order_text({"virtio_console", "ext4", "9p", "sd_mod"}, {1, 2, 3}),
              "virtio_console.ko boot\next4.ko later\n9p.ko share\nsd_mod.ko hotplug\n");
}

TEST(GuestImageInitramfs, LoadOrderCarriesTheDependenciesInTheImage) {
    const std::string dep = "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n"
                            "kernel/fs/jbd2/jbd2.ko:\nkernel/fs/mbcache.ko:\nkernel/lib/crc16.ko:\n"
                            "kernel/drivers/char/virtio_console.ko:\n";
    const auto depends = module_dependencies(dep);
    EXPECT_EQ(depends.at("ext4"), (std::vector<std::string>{"jbd2", "mbcache", "crc16"}));
    EXPECT_TRUE(depends.at("jbd2").empty());
    // crc16 is not in this image (say, built in): not a dependency to wait for.
    EXPECT_EQ(load_order_text({"virtio_console", "jbd2", "mbcache", "ext4"}, {1}, depends),
              "virtio_console.ko boot\njbd2.ko later\nmbcache.ko later\next4.ko later jbd2.ko,mbcache.ko\n");
    // The modules from the share phase's end on load only when a disk is hot-plugged.
    EXPECT_EQ(load_order_text({"virtio_console", "jbd2", "ext4"}, {1, 2, 2}, depends),
              "virtio_console.ko boot\njbd2.ko later\next4.ko hotplug jbd2.ko\n");
}

TEST(GuestImageInitramfs, WritesANewcCpioWithConsoleAndParentsDeterministically) {
    test::ScratchDir dir;
    std::vector<InitramfsFile> files{{"init", "#!agent", 0755}, {"lib/modules/a.ko", "ko", 0644},
                                     {"etc/deep/file", "x", 0600}};
    ASSERT_TRUE(write_initramfs(dir / "a.cpio", files).ok());
    ASSERT_TRUE(write_initramfs(dir / "b.cpio", files).ok());
    EXPECT_EQ(read_file(dir / "a.cpio").value(), read_file(dir / "b.cpio").value());
    EXPECT_EQ(read_file(dir / "a.cpio")->substr(0, 6), "070701");  // newc magic
    auto paths = list_initramfs(dir / "a.cpio");
    ASSERT_TRUE(paths.ok());
    for (const char* p : {"dev", "dev/console", "proc", "sys", "tmp", "init", "lib/modules/a.ko",
                          "etc", "etc/deep", "etc/deep/file"})
        EXPECT_NE(std::find(paths->begin(), paths->end(), p), paths->end()) << p;
}

}  // namespace
}  // namespace lxbox::vm
