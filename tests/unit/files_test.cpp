// The file helpers every part of lxbox writes with (runtime/base/unique_fd): what they do
// with a path a user chose, in a directory others may write to.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox {
namespace {

std::string slurp(const std::string& path) {
    auto text = read_file(path);
    return text ? *text : "<unreadable: " + text.error().message + ">";
}

// write_file_atomic writes beside its target and renames. Its temp file once had a name
// anyone could predict (TARGET.tmp.PID): a symlink planted there had the write go to the
// link's target. It must neither follow such a link nor leave anything beside the target.
TEST(WriteFileAtomic, NeverWritesThroughALinkPlantedAtATempName) {
    test::ScratchDir dir;
    const std::string victim = dir / "victim", target = dir / "pid";
    { std::ofstream(victim) << "precious\n"; }
    const std::string planted = target + ".tmp." + std::to_string(::getpid());
    ASSERT_EQ(::symlink(victim.c_str(), planted.c_str()), 0);
    ASSERT_TRUE(write_file_atomic(target, "1234", Durability::RenameOnly).ok());
    EXPECT_EQ(slurp(victim), "precious\n");
    struct stat st {};
    ASSERT_EQ(::lstat(target.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(slurp(target), "1234");
    EXPECT_EQ(test::run({"ls", "-A", dir.path()}).out, "pid\npid.tmp." + std::to_string(::getpid()) + "\nvictim\n");
}

// A target that is itself a symlink is replaced by the new file, never written through.
TEST(WriteFileAtomic, ReplacesALinkAtTheTargetInsteadOfFollowingIt) {
    test::ScratchDir dir;
    const std::string victim = dir / "victim", target = dir / "out";
    { std::ofstream(victim) << "precious\n"; }
    ASSERT_EQ(::symlink(victim.c_str(), target.c_str()), 0);
    ASSERT_TRUE(write_file_atomic(target, "new").ok());
    EXPECT_EQ(slurp(victim), "precious\n");
    struct stat st {};
    ASSERT_EQ(::lstat(target.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

}  // namespace
}  // namespace lxbox
