// An OCI image's layers merged into the tree its VM disk is made of (host/vm/flatten.hpp), on
// a real filesystem as root: whiteouts and opaque directories applied, a file replaced by a
// directory and back, hard links kept, owners, modes, xattrs and special files as the topmost
// layer has them, and the layers themselves untouched.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>

#include "host/vm/flatten.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

void put(const std::string& path, const std::string& content) { std::ofstream(path) << content; }

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

class VmFlatten : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string low = dir / "low", high = dir / "high", merged = dir / "merged";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (whiteouts, trusted.* xattrs, owners)");
        for (const auto& d : {low, high, merged}) ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
        // The lower layer: files, a hard link, a symlink, a fifo, an opaque-to-be directory.
        for (const char* d : {"/d", "/o", "/o/sub", "/keep"}) ASSERT_EQ(::mkdir((low + d).c_str(), 0755), 0);
        put(low + "/d/f", "low f");
        ASSERT_EQ(::link((low + "/d/f").c_str(), (low + "/d/h").c_str()), 0);
        ASSERT_EQ(::symlink("f", (low + "/d/s").c_str()), 0);
        ASSERT_EQ(::mkfifo((low + "/d/p").c_str(), 0600), 0);
        put(low + "/o/old", "old");
        put(low + "/o/sub/deep", "deep");
        put(low + "/gone", "gone");
        put(low + "/x", "x was a file");
        put(low + "/keep/k", "k");
        ASSERT_EQ(::chown((low + "/keep/k").c_str(), 1000, 1001), 0);
        ASSERT_EQ(::setxattr((low + "/keep/k").c_str(), "trusted.test", "v", 1, 0), 0);
        ASSERT_EQ(::setxattr((low + "/d").c_str(), "trusted.lower", "l", 1, 0), 0);
        // The upper layer: a whiteout, an opaque directory, a replaced file, a file turned
        // into a directory, a directory's new mode and owner.
        ASSERT_EQ(::mknod((high + "/gone").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0);
        ASSERT_EQ(::mkdir((high + "/o").c_str(), 0755), 0);
        ASSERT_EQ(::setxattr((high + "/o").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
        put(high + "/o/fresh", "fresh");
        ASSERT_EQ(::mkdir((high + "/d").c_str(), 0700), 0);
        ASSERT_EQ(::chown((high + "/d").c_str(), 7, 8), 0);
        ASSERT_EQ(::setxattr((high + "/d").c_str(), "trusted.upper", "u", 1, 0), 0);
        put(high + "/d/f", "high f");
        ASSERT_EQ(::mkdir((high + "/x").c_str(), 0755), 0);
        put(high + "/x/inside", "x is a dir");
    }
};

TEST_F(VmFlatten, LayersMergeAsTheOverlayShowsThem) {
    ASSERT_TRUE(vm::flatten_layers({low, high}, merged));
    EXPECT_FALSE(exists(merged + "/gone"));  // whited out
    EXPECT_TRUE(exists(merged + "/o/fresh"));
    EXPECT_FALSE(exists(merged + "/o/old"));  // hidden by the opaque directory
    EXPECT_FALSE(exists(merged + "/o/sub"));
    EXPECT_EQ(slurp(merged + "/d/f"), "high f");
    EXPECT_EQ(slurp(merged + "/d/h"), "low f");  // the lower file, through its other name
    EXPECT_EQ(slurp(merged + "/x/inside"), "x is a dir");
    const auto d = lstat_of(merged + "/d");
    EXPECT_EQ(d.st_mode & 07777, 0700u);
    EXPECT_EQ(d.st_uid, 7u);
    EXPECT_EQ(d.st_gid, 8u);
    EXPECT_TRUE(S_ISLNK(lstat_of(merged + "/d/s").st_mode));
    EXPECT_TRUE(S_ISFIFO(lstat_of(merged + "/d/p").st_mode));
    const auto k = lstat_of(merged + "/keep/k");
    EXPECT_EQ(k.st_uid, 1000u);
    EXPECT_EQ(k.st_gid, 1001u);
    char value[4] = {};
    EXPECT_EQ(::getxattr((merged + "/keep/k").c_str(), "trusted.test", value, sizeof value), 1);
    // A directory has the topmost layer's xattrs alone, as in the overlay.
    EXPECT_EQ(::getxattr((merged + "/d").c_str(), "trusted.upper", value, sizeof value), 1);
    EXPECT_LT(::getxattr((merged + "/d").c_str(), "trusted.lower", value, sizeof value), 0);
    // overlayfs's own marks are applied, not carried.
    EXPECT_LT(::getxattr((merged + "/o").c_str(), "trusted.overlay.opaque", value, sizeof value), 0);
    // The layers are as they were.
    EXPECT_EQ(slurp(low + "/d/f"), "low f");
    EXPECT_TRUE(exists(low + "/gone"));
    EXPECT_TRUE(exists(low + "/o/old"));
    EXPECT_EQ(slurp(low + "/x"), "x was a file");
    EXPECT_EQ(lstat_of(low + "/d").st_mode & 07777, 0755u);
    EXPECT_TRUE(S_ISCHR(lstat_of(high + "/gone").st_mode));
}

TEST_F(VmFlatten, AHardLinkWithinALayerStaysOneInode) {
    ASSERT_TRUE(vm::flatten_layers({low}, merged));
    EXPECT_EQ(lstat_of(merged + "/d/f").st_ino, lstat_of(merged + "/d/h").st_ino);
}

TEST_F(VmFlatten, AMissingLayerIsAnErrorNamingIt) {
    auto r = vm::flatten_layers({low, dir / "absent"}, merged);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("absent"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace lxbox::test
