// Pure rules of the archive module: entry names and output formats.
#include <gtest/gtest.h>
#include <limits.h>

#include "runtime/archive/archive.hpp"

namespace lxbox::archive {
namespace {

TEST(ArchivePolicy, AcceptsOrdinaryRootfsNames) {
    for (const char* p : {"etc/passwd", "./usr/bin/env", "a/b/c/", ".", "./", "..foo", "foo..", "a/...b"})
        EXPECT_TRUE(check_entry_path(p).ok()) << p;
}

TEST(ArchivePolicy, RefusesEscapesNamingTheEntry) {
    for (const char* p : {"../x", "a/../../x", "/etc/passwd", "./..", "a/..", ".."}) {
        auto st = check_entry_path(p);
        ASSERT_FALSE(st.ok()) << p;
        EXPECT_EQ(st.error().kind, ErrorKind::Refused) << p;
        EXPECT_NE(st.error().message.find(std::string("'") + p + "'"), std::string::npos) << st.error().message;
    }
    EXPECT_EQ(check_entry_path("../x").error().message, "entry '../x' escapes the root: refused");
}

TEST(ArchivePolicy, RefusesOverlongNames) {
    EXPECT_FALSE(check_entry_path(std::string(PATH_MAX + 10, 'a')).ok());
    EXPECT_FALSE(check_entry_path("d/" + std::string(NAME_MAX + 1, 'a')).ok());
    EXPECT_TRUE(check_entry_path("d/" + std::string(NAME_MAX, 'a')).ok());
}

TEST(ArchivePolicy, NormalizesLeadingDotSlash) {
    EXPECT_EQ(normalize_entry_path("./etc/passwd"), "etc/passwd");
    EXPECT_EQ(normalize_entry_path("././a/"), "a");
    EXPECT_EQ(normalize_entry_path("./"), "");
    EXPECT_EQ(normalize_entry_path("."), "");
    EXPECT_EQ(normalize_entry_path("usr/lib/"), "usr/lib");
}

TEST(ArchivePolicy, CompressionFromOutputName) {
    EXPECT_EQ(*compression_for_filename("a.tar"), Compression::None);
    EXPECT_EQ(*compression_for_filename("a.tar.gz"), Compression::Gzip);
    EXPECT_EQ(*compression_for_filename("a.tgz"), Compression::Gzip);
    EXPECT_EQ(*compression_for_filename("/x/a.tar.xz"), Compression::Xz);
    EXPECT_EQ(*compression_for_filename("a.tar.zst"), Compression::Zstd);
    EXPECT_EQ(*compression_for_filename("a.tar.bz2"), Compression::Bzip2);
    EXPECT_FALSE(compression_for_filename("a.zip").ok());
    EXPECT_FALSE(compression_for_filename("tar").ok());
}

}  // namespace
}  // namespace lxbox::archive
