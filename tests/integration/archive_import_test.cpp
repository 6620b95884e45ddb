// extract() on a real filesystem: every hostile archive of the issue is refused with an error
// naming the entry and nothing written outside the target; every compression is detected by
// content. Fidelity and create() are in archive_fidelity_test.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "runtime/archive/archive.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/common/tarball.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class ArchiveImport : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string dest = dir / "root";
    std::string outside = dir / "outside";

    void SetUp() override {
        ::mkdir(dest.c_str(), 0755);
        ::mkdir(outside.c_str(), 0755);
        std::ofstream(outside + "/sentinel") << "untouched";
    }

    Result<archive::Stats> extract_entries(const std::vector<TarEntry>& entries, TarFilter f = TarFilter::None) {
        write_tarball(dir / "in.bin", entries, f);
        return extract_file(dir / "in.bin");
    }

    Result<archive::Stats> extract_file(const std::string& path) {
        auto fd = open_fd(path, O_RDONLY);
        if (!fd) return std::move(fd).error();
        return archive::extract(fd->get(), dest, {});
    }

    void expect_outside_untouched() {
        EXPECT_EQ(run({"sh", "-c", "ls -A " + outside}).out, "sentinel\n");
        std::ifstream in(outside + "/sentinel");
        std::string s;
        in >> s;
        EXPECT_EQ(s, "untouched");
    }

    static bool exists(const std::string& p) {
        struct stat st;
        return ::lstat(p.c_str(), &st) == 0;
    }
};

void expect_refused(const Result<archive::Stats>& r, const std::string& entry) {
    ASSERT_FALSE(r.ok()) << "archive with '" << entry << "' was accepted";
    EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().message;
    EXPECT_NE(r.error().message.find(entry), std::string::npos) << r.error().message;
}

TEST_F(ArchiveImport, RefusesDotDotEntry) {
    expect_refused(extract_entries({file_entry("ok", "x"), file_entry("../outside/sentinel", "pwned")}), "../outside/sentinel");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, RefusesAbsoluteEntry) {
    expect_refused(extract_entries({file_entry(outside + "/evil", "pwned")}), outside + "/evil");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, RefusesWritingThroughASymlinkPointingOutside) {
    auto r = extract_entries({symlink_entry("link", outside), file_entry("link/evil", "pwned")});
    expect_refused(r, "link");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, RefusesWritingThroughARelativeSymlinkEscape) {
    auto r = extract_entries({dir_entry("a"), symlink_entry("a/up", "../../outside"), file_entry("a/up/evil", "pwned")});
    expect_refused(r, "a/up");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, RefusesEntriesThroughASymlinkedParentEvenInside) {
    auto r = extract_entries({dir_entry("real"), symlink_entry("alias", "real"), file_entry("alias/f", "x")});
    expect_refused(r, "alias");
    EXPECT_FALSE(exists(dest + "/real/f"));
}

TEST_F(ArchiveImport, RefusesHardlinkToOutsideTarget) {
    expect_refused(extract_entries({hardlink_entry("h", "../outside/sentinel")}), "../outside/sentinel");
    expect_refused(extract_entries({hardlink_entry("h2", outside + "/sentinel")}), outside + "/sentinel");
    expect_outside_untouched();
    EXPECT_FALSE(exists(dest + "/h"));
}

TEST_F(ArchiveImport, RefusesHardlinkThroughASymlinkToOutside) {
    auto r = extract_entries({symlink_entry("l", outside), hardlink_entry("h", "l/sentinel")});
    expect_refused(r, "l");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, HardlinkToASymlinkLinksTheSymlinkItself) {
    auto r = extract_entries({symlink_entry("l", outside + "/sentinel"), hardlink_entry("h", "l")});
    ASSERT_TRUE(r.ok()) << r.error().message;
    struct stat st;
    ASSERT_EQ(::lstat((dest + "/h").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    expect_outside_untouched();
}

TEST_F(ArchiveImport, RefusesNameLongerThanPathMax) {
    std::string name;
    while (name.size() < PATH_MAX + 100) name += "abcdefghij/";
    name += "f";
    expect_refused(extract_entries({file_entry(name, "x")}), "PATH_MAX");
}

TEST_F(ArchiveImport, RefusesTruncatedArchive) {
    std::vector<TarEntry> entries;
    for (int i = 0; i < 10; ++i) entries.push_back(file_entry("f" + std::to_string(i), std::string(100000, 'x')));
    write_tarball(dir / "full.tar", entries);
    ASSERT_EQ(::truncate((dir / "full.tar").c_str(), 450000), 0);
    auto r = extract_file(dir / "full.tar");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << r.error().message;
}

TEST_F(ArchiveImport, RefusesTruncatedCompressedArchive) {
    std::vector<TarEntry> entries;
    for (int i = 0; i < 10; ++i) entries.push_back(file_entry("f" + std::to_string(i), std::string(100000, 'a' + i)));
    write_tarball(dir / "full.tgz", entries, TarFilter::Gzip);
    struct stat st;
    ::stat((dir / "full.tgz").c_str(), &st);
    ASSERT_EQ(::truncate((dir / "full.tgz").c_str(), st.st_size / 2), 0);
    EXPECT_FALSE(extract_file(dir / "full.tgz").ok());
}

TEST_F(ArchiveImport, RefusesCorruptArchive) {
    write_tarball(dir / "c.tar", {file_entry("a", "hello"), file_entry("b", "world")});
    {
        std::fstream f(dir / "c.tar", std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);  // inside the first header: its checksum no longer matches
        f.write("garbage!garbage!", 16);
    }
    auto r = extract_file(dir / "c.tar");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
}

TEST_F(ArchiveImport, RefusesSomethingThatIsNotAnArchive) {
    std::ofstream(dir / "notes.txt") << std::string(5000, 'z') << "\nthis is not a tarball\n";
    auto r = extract_file(dir / "notes.txt");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a tar archive"), std::string::npos) << r.error().message;
}

TEST_F(ArchiveImport, RefusesZeroByteFile) {
    std::ofstream(dir / "empty.tar").close();
    auto r = extract_file(dir / "empty.tar");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << r.error().message;
    EXPECT_NE(r.error().message.find("empty archive"), std::string::npos) << r.error().message;
}

TEST_F(ArchiveImport, RefusesAnEmptyPipe) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd rd(p[0]);
    ::close(p[1]);
    auto r = archive::extract(rd.get(), dest, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("empty archive"), std::string::npos) << r.error().message;
}

TEST_F(ArchiveImport, RefusesADirectoryEntryThroughASymlinkToOutside) {
    auto r = extract_entries({symlink_entry("d", outside), dir_entry("d/sub")});
    expect_refused(r, "d");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, AllowsAbsoluteAndRelativeSymlinksAsLinks) {
    // A rootfs is full of them (/bin/sh -> /bin/busybox): only writing through one is refused.
    auto r = extract_entries({dir_entry("bin"), file_entry("bin/busybox", "elf", 0755), symlink_entry("bin/sh", "/bin/busybox"),
                              symlink_entry("bin/up", "../../../../etc"), symlink_entry("bin/out", outside + "/sentinel")});
    ASSERT_TRUE(r.ok()) << r.error().message;
    char buf[256];
    ssize_t n = ::readlink((dest + "/bin/sh").c_str(), buf, sizeof buf);
    EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "/bin/busybox");
    n = ::readlink((dest + "/bin/up").c_str(), buf, sizeof buf);
    EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "../../../../etc");
    expect_outside_untouched();
}

TEST_F(ArchiveImport, LaterFileReplacesASymlinkToOutsideInsteadOfFollowingIt) {
    auto r = extract_entries({symlink_entry("f", outside + "/sentinel"), file_entry("f", "pwned")});
    ASSERT_TRUE(r.ok()) << r.error().message;
    struct stat st;
    ASSERT_EQ(::lstat((dest + "/f").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    expect_outside_untouched();
}

TEST_F(ArchiveImport, LaterFileReplacesAHardlinkInsteadOfWritingThroughIt) {
    auto r = extract_entries({file_entry("victim", "original"), hardlink_entry("h", "victim"), file_entry("h", "new")});
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::ifstream in(dest + "/victim");
    std::string s;
    in >> s;
    EXPECT_EQ(s, "original");
}

TEST_F(ArchiveImport, DetectsEveryCompressionByContent) {
    for (auto f : {TarFilter::None, TarFilter::Gzip, TarFilter::Xz, TarFilter::Zstd, TarFilter::Bzip2}) {
        ASSERT_TRUE(remove_tree(dest).ok());
        ::mkdir(dest.c_str(), 0755);
        auto r = extract_entries({dir_entry("etc"), file_entry("etc/hostname", "box\n")}, f);
        ASSERT_TRUE(r.ok()) << static_cast<int>(f) << ": " << r.error().message;
        EXPECT_EQ(r->entries, 2u);
        std::ifstream in(dest + "/etc/hostname");
        std::string s;
        in >> s;
        EXPECT_EQ(s, "box");
    }
}

TEST_F(ArchiveImport, LaterEntryReplacesEarlierOne) {
    auto r = extract_entries({file_entry("f", "one"), file_entry("f", "two"), symlink_entry("l", "x"), file_entry("l", "file")});
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::ifstream in(dest + "/f");
    std::string s;
    in >> s;
    EXPECT_EQ(s, "two");
    struct stat st;
    ASSERT_EQ(::lstat((dest + "/l").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ArchiveImport, CreatesMissingParentDirectories) {
    auto r = extract_entries({file_entry("a/b/c/d", "deep")});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(exists(dest + "/a/b/c/d"));
}

TEST_F(ArchiveImport, ReportsProgressAgainstTheFileSize) {
    std::vector<TarEntry> entries;
    for (int i = 0; i < 50; ++i) entries.push_back(file_entry("f" + std::to_string(i), std::string(200000, 'q')));
    write_tarball(dir / "p.tar", entries);
    uint64_t last_done = 0, last_total = 0;
    archive::ExtractOptions o;
    o.progress = [&](uint64_t done, uint64_t total) {
        EXPECT_GE(done, last_done);
        last_done = done;
        last_total = total;
    };
    auto fd = open_fd(dir / "p.tar", O_RDONLY);
    ASSERT_TRUE(archive::extract(fd->get(), dest, o).ok());
    struct stat st;
    ::stat((dir / "p.tar").c_str(), &st);
    EXPECT_EQ(last_total, static_cast<uint64_t>(st.st_size));
    EXPECT_EQ(last_done, static_cast<uint64_t>(st.st_size));
}

}  // namespace
}  // namespace lxbox::test
