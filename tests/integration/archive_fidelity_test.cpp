// What a rootfs needs to survive import and export, as root: numeric owners, setuid/setgid/
// sticky modes, xattrs (security.capability), symlinks, hardlinks, device nodes, fifos, sparse
// files and mtimes — from a tarball written by libarchive, and through create() → extract()
// round trips compared with a full listing of both trees.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "runtime/archive/archive.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/common/tarball.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

// A file capability: CAP_NET_RAW permitted+effective (what ping carries), VFS_CAP_REVISION_2.
const std::string kNetRawCap("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);

class ArchiveFidelity : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string dest = dir / "root";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root for owners, device nodes and security.* xattrs");
        ::mkdir(dest.c_str(), 0755);
    }

    static Result<archive::Stats> extract_into(const std::string& file, const std::string& into) {
        auto fd = open_fd(file, O_RDONLY);
        if (!fd) return std::move(fd).error();
        return archive::extract(fd->get(), into, {});
    }

    static void export_tree(const std::string& from, const std::string& file,
                            archive::Compression c = archive::Compression::None) {
        auto out = open_fd(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_TRUE(out.ok()) << out.error().message;
        archive::CreateOptions co;
        co.compression = c;
        auto r = archive::create(from, out->get(), co);
        ASSERT_TRUE(r.ok()) << r.error().message;
    }

    static struct stat lstat_of(const std::string& p) {
        struct stat st = {};
        EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
        return st;
    }

    static std::string xattr_of(const std::string& p, const char* name) {
        char buf[256];
        ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
        return n < 0 ? std::string("<none>") : std::string(buf, static_cast<size_t>(n));
    }
};

TarEntry with(TarEntry e, unsigned uid, unsigned gid, unsigned mode) {
    e.uid = uid;
    e.gid = gid;
    e.mode = mode;
    return e;
}

TEST_F(ArchiveFidelity, ExtractRestoresOwnersModesXattrsDevicesAndFifos) {
    TarEntry ping = with(file_entry("bin/ping", "ELF"), 0, 0, 0755);
    ping.xattrs = {{"security.capability", kNetRawCap}, {"user.note", "hi"}, {"trusted.overlay.x", "y"}};
    TarEntry null_dev = with(TarEntry{TarEntry::Type::CharDev, "dev/null"}, 0, 0, 0666);
    null_dev.rdev_major = 1, null_dev.rdev_minor = 3;
    TarEntry loop_dev = with(TarEntry{TarEntry::Type::BlockDev, "dev/loop9"}, 0, 6, 0660);
    loop_dev.rdev_major = 7, loop_dev.rdev_minor = 9;
    TarEntry link = with(symlink_entry("bin/sh", "/bin/busybox"), 42, 43, 0777);
    TarEntry bin = with(dir_entry("bin"), 0, 0, 0755);
    bin.mtime = 1500000000;  // set after its children were written, or they would bump it
    write_tarball(dir / "in.bin",
                  {bin, ping, link, with(file_entry("bin/su", "suid"), 0, 0, 04755),
                   with(file_entry("bin/wall", "sgid"), 0, 5, 02755),
                   with(file_entry("home/u/own", "x"), 1234, 5678, 04750),  // chown must not clear setuid
                   with(dir_entry("tmp"), 0, 0, 01777), with(dir_entry("srv/shared"), 1000, 1000, 02775),
                   null_dev, loop_dev, with(TarEntry{TarEntry::Type::Fifo, "run/initctl"}, 0, 0, 0600)},
                  TarFilter::Zstd);
    auto r = extract_into(dir / "in.bin", dest);
    ASSERT_TRUE(r.ok()) << r.error().message;

    EXPECT_EQ(xattr_of(dest + "/bin/ping", "security.capability"), kNetRawCap);
    EXPECT_EQ(xattr_of(dest + "/bin/ping", "user.note"), "hi");
    EXPECT_EQ(xattr_of(dest + "/bin/ping", "trusted.overlay.x"), "y");
    EXPECT_EQ(lstat_of(dest + "/bin/su").st_mode, S_IFREG | 04755);
    EXPECT_EQ(lstat_of(dest + "/bin/wall").st_mode, S_IFREG | 02755);
    auto own = lstat_of(dest + "/home/u/own");
    EXPECT_EQ(own.st_mode, S_IFREG | 04750);
    EXPECT_EQ(own.st_uid, 1234u);
    EXPECT_EQ(own.st_gid, 5678u);
    EXPECT_EQ(lstat_of(dest + "/tmp").st_mode, S_IFDIR | 01777);
    EXPECT_EQ(lstat_of(dest + "/srv/shared").st_mode, S_IFDIR | 02775);
    auto sh = lstat_of(dest + "/bin/sh");
    EXPECT_TRUE(S_ISLNK(sh.st_mode));
    EXPECT_EQ(sh.st_uid, 42u) << "symlink owner set with lchown";
    auto nul = lstat_of(dest + "/dev/null");
    EXPECT_TRUE(S_ISCHR(nul.st_mode));
    EXPECT_EQ(nul.st_rdev, makedev(1, 3));
    EXPECT_EQ(nul.st_mode & 07777, 0666u);
    auto loop = lstat_of(dest + "/dev/loop9");
    EXPECT_TRUE(S_ISBLK(loop.st_mode));
    EXPECT_EQ(loop.st_rdev, makedev(7, 9));
    EXPECT_EQ(loop.st_gid, 6u);
    EXPECT_TRUE(S_ISFIFO(lstat_of(dest + "/run/initctl").st_mode));
    EXPECT_EQ(lstat_of(dest + "/bin").st_mtim.tv_sec, 1500000000);
    EXPECT_EQ(lstat_of(dest + "/bin/ping").st_mtim.tv_sec, 1700000000);
    EXPECT_EQ(sh.st_mtim.tv_sec, 1700000000) << "symlink mtime set without following it";
}

// Every kind of thing a rootfs holds. The sparse file's hole is modest because the listing
// hashes content; the 1 GiB hole has its own test.
void make_rich_tree(const std::string& src) {
    ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
    ::mkdir((src + "/bin").c_str(), 0755);
    ::mkdir((src + "/tmp").c_str(), 0);
    ASSERT_EQ(::chmod((src + "/tmp").c_str(), 01777), 0);
    std::ofstream(src + "/bin/tool") << "#!/bin/sh\necho tool\n";
    ASSERT_EQ(::chmod((src + "/bin/tool").c_str(), 04755), 0);
    std::ofstream(src + "/bin/ping") << "ELF-ish";
    ASSERT_EQ(::setxattr((src + "/bin/ping").c_str(), "security.capability", kNetRawCap.data(), kNetRawCap.size(), 0), 0);
    ASSERT_EQ(::setxattr((src + "/bin/ping").c_str(), "user.note", "hi", 2, 0), 0);
    std::ofstream(src + "/owned") << "data";
    ASSERT_EQ(::chown((src + "/owned").c_str(), 1234, 5678), 0);
    ::mkdir((src + "/sgid").c_str(), 0);
    ASSERT_EQ(::chmod((src + "/sgid").c_str(), 02775), 0);
    ASSERT_EQ(::symlink("/bin/tool", (src + "/abs-link").c_str()), 0);
    ASSERT_EQ(::symlink("bin", (src + "/rel-link").c_str()), 0);
    ASSERT_EQ(::lchown((src + "/rel-link").c_str(), 42, 43), 0);
    ASSERT_EQ(::link((src + "/owned").c_str(), (src + "/hard").c_str()), 0);
    ASSERT_EQ(::mknod((src + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(::mknod((src + "/loop9").c_str(), S_IFBLK | 0660, makedev(7, 9)), 0);
    ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0640), 0);
    UniqueFd fd(::open((src + "/sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(fd.get(), "middle", 6, 8 << 20), 6);
    ASSERT_EQ(::ftruncate(fd.get(), 16 << 20), 0);  // a trailing hole too
    fd.reset();
    struct timespec t[2] = {{1600000000, 0}, {1600000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/bin").c_str(), t, 0), 0);
}

TEST_F(ArchiveFidelity, RoundTripKeepsTheWholeTree) {
    const std::string src = dir / "src";
    make_rich_tree(src);
    for (auto comp : {archive::Compression::None, archive::Compression::Zstd}) {
        SCOPED_TRACE(static_cast<int>(comp));
        ASSERT_TRUE(remove_tree(dest).ok());
        ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
        export_tree(src, dir / "export.bin", comp);
        auto x = extract_into(dir / "export.bin", dest);
        ASSERT_TRUE(x.ok()) << x.error().message;
        EXPECT_EQ(tree_listing(dest), tree_listing(src));
        EXPECT_EQ(lstat_of(dest + "/owned").st_nlink, 2u) << "hardlink kept";
        EXPECT_LT(lstat_of(dest + "/sparse").st_blocks * 512, 1 << 20) << "holes stay holes";
    }
}

TEST_F(ArchiveFidelity, ExportImportExportYieldsTheSameTree) {
    const std::string src = dir / "src";
    make_rich_tree(src);
    export_tree(src, dir / "one.tar");
    auto first = extract_into(dir / "one.tar", dest);
    ASSERT_TRUE(first.ok()) << first.error().message;
    export_tree(dest, dir / "two.tar");
    const std::string again = dir / "again";
    ASSERT_EQ(::mkdir(again.c_str(), 0755), 0);
    auto second = extract_into(dir / "two.tar", again);
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(tree_listing(again), tree_listing(src));
    EXPECT_EQ(second->entries, first->entries);
    EXPECT_EQ(second->bytes, first->bytes);
}

TEST_F(ArchiveFidelity, SparseFileKeepsItsGibibyteHole) {
    const std::string src = dir / "src";
    ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
    {
        UniqueFd fd(::open((src + "/disk.img").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        ASSERT_TRUE(fd.valid());
        ASSERT_EQ(::pwrite(fd.get(), "boot", 4, 0), 4);
        ASSERT_EQ(::ftruncate(fd.get(), 1LL << 30), 0);
        ASSERT_EQ(::pwrite(fd.get(), "tail", 4, (1LL << 30) - 4), 4);
    }
    export_tree(src, dir / "sparse.tar");
    EXPECT_LT(lstat_of(dir / "sparse.tar").st_size, 1 << 20) << "the hole is not stored as zeros";
    auto r = extract_into(dir / "sparse.tar", dest);
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto st = lstat_of(dest + "/disk.img");
    EXPECT_EQ(st.st_size, 1LL << 30);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the 1 GiB hole must stay a hole";
    UniqueFd in(::open((dest + "/disk.img").c_str(), O_RDONLY | O_CLOEXEC));
    char buf[5] = {};
    ASSERT_EQ(::pread(in.get(), buf, 4, 0), 4);
    EXPECT_STREQ(buf, "boot");
    ASSERT_EQ(::pread(in.get(), buf, 4, (1LL << 30) - 4), 4);
    EXPECT_STREQ(buf, "tail");
    ASSERT_EQ(::pread(in.get(), buf, 4, 1 << 29), 4);
    EXPECT_EQ(std::string(buf, 4), std::string(4, '\0'));
}

// The first bytes of each format, as the `file` command knows them.
std::string magic_of(archive::Compression c) {
    switch (c) {
        case archive::Compression::None: return "";
        case archive::Compression::Gzip: return "\x1f\x8b";
        case archive::Compression::Xz: return "\xfd" "7zXZ";
        case archive::Compression::Zstd: return "\x28\xb5\x2f\xfd";
        case archive::Compression::Bzip2: return "BZh";
    }
    return "";
}

TEST_F(ArchiveFidelity, CreateWritesEveryCompressionAndReadsItBack) {
    const std::string src = dir / "src";
    make_rich_tree(src);
    for (const char* name : {"out.tar", "out.tar.gz", "out.tar.xz", "out.tar.zst", "out.tar.bz2"}) {
        SCOPED_TRACE(name);
        auto comp = archive::compression_for_filename(name);
        ASSERT_TRUE(comp.ok());
        export_tree(src, dir / name, *comp);
        std::ifstream in(dir / name, std::ios::binary);
        std::string head(6, '\0');
        in.read(head.data(), 6);
        const std::string magic = magic_of(*comp);
        EXPECT_EQ(head.substr(0, magic.size()), magic);
        if (*comp == archive::Compression::None) {
            in.seekg(257);
            std::string ustar(5, '\0');
            in.read(ustar.data(), 5);
            EXPECT_EQ(ustar, "ustar");
        }
        ASSERT_TRUE(remove_tree(dest).ok());
        ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
        auto r = extract_into(dir / name, dest);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(tree_listing(dest), tree_listing(src));
    }
}

TEST_F(ArchiveFidelity, CreateNamesEntriesRelativeWithNumericOwners) {
    const std::string src = dir / "src";
    make_rich_tree(src);
    export_tree(src, dir / "out.tar");
    auto listing = run({"tar", "--numeric-owner", "-tvf", dir / "out.tar"});
    ASSERT_EQ(listing.exit_code, 0) << listing.err;
    EXPECT_NE(listing.out.find(" ./bin/ping\n"), std::string::npos) << listing.out;
    EXPECT_NE(listing.out.find(" 1234/5678 "), std::string::npos) << listing.out;
    auto names = run({"tar", "-tf", dir / "out.tar"});
    std::istringstream lines(names.out);
    for (std::string line; std::getline(lines, line);)
        EXPECT_TRUE(line == "./" || line.rfind("./", 0) == 0) << line;
}

}  // namespace
}  // namespace lxbox::test
