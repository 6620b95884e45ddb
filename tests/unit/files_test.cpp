// The file helpers every part of lxbox writes with (runtime/base/unique_fd): what they do
// with a path a user chose, in a directory others may write to.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "runtime/base/files.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/store/stale.hpp"
#include "runtime/store/store.hpp"
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

// publish_temp (export's archive): a new file is linked straight at its name, so there is no
// second name for a kill to leave; a file replaced passes through one, told to the caller first.
TEST(PublishTemp, LinksANewFileStraightAndNamesTheTempOnlyToReplace) {
    test::ScratchDir dir;
    const std::string target = dir / "out.tar";
    std::vector<std::string> named;
    const auto record = [&](const std::string& n) {
        named.push_back(n);
        return Status{};
    };
    for (const char* text : {"first", "second"}) {
        auto tmp = create_unnamed_beside(target, store::kPublishTag, 0644);
        ASSERT_TRUE(tmp.ok()) << tmp.error().message;
        ASSERT_EQ(::write(tmp->fd.get(), text, std::strlen(text)), static_cast<ssize_t>(std::strlen(text)));
        ASSERT_TRUE(publish_temp(*tmp, target, store::kPublishTag, record).ok());
        EXPECT_EQ(slurp(target), text);
    }
    ASSERT_EQ(named.size(), 1u) << "only the replacement passes through a temp name";
    EXPECT_EQ(named[0].rfind(target + store::kPublishTag, 0), 0u) << named[0];
    EXPECT_EQ(test::run({"ls", "-A", dir.path()}).out, "out.tar\n");
}

// A kill between publish_temp's link and rename leaves the temp and the record naming it; the
// next lxbox that opens the store finds the owner dead and removes both. A record naming a
// file without the tag (not ours to remove) loses only itself.
TEST(PublishRecord, ADeadOwnersTempIsRemovedWithItsRecordWhenTheStoreOpens) {
    test::ScratchDir dir;
    const std::string root = dir / "store", temp = dir / ("out.tar" + std::string(store::kPublishTag) + "Ab12Cd"),
                      other = dir / "precious";
    ASSERT_TRUE(store::Store::open(root).ok());
    { std::ofstream(temp) << "archive"; }
    { std::ofstream(other) << "keep"; }
    // pid 1's start time is never 1 jiffy: an owner that is gone.
    const store::WorkOwner dead{1, 1};
    const std::string rec1 = root + "/tmp/" + store::work_dir_name("publish", dead, "0");
    const std::string rec2 = root + "/tmp/" + store::work_dir_name("publish", dead, "1");
    ASSERT_EQ(::symlink(temp.c_str(), rec1.c_str()), 0);
    ASSERT_EQ(::symlink(other.c_str(), rec2.c_str()), 0);
    {
        store::PublishRecord live(root + "/tmp");
        ASSERT_TRUE(live.name(dir / "mine.tar.lxbox-partial-x").ok());
        ASSERT_TRUE(store::Store::open(root).ok());
        EXPECT_EQ(test::run({"ls", "-A", root + "/tmp"}).out.find(".publish-1-"), std::string::npos);
        EXPECT_NE(test::run({"ls", "-A", root + "/tmp"}).out, "") << "a live owner's record stays";
    }
    EXPECT_EQ(test::run({"ls", "-A", root + "/tmp"}).out, "") << "the record goes with its owner's publish";
    EXPECT_FALSE(std::filesystem::exists(temp));
    EXPECT_EQ(slurp(other), "keep");
}

}  // namespace
}  // namespace lxbox
