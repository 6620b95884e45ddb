// -u resolution against the container's own passwd and group files.
#include <gtest/gtest.h>

#include "runtime/plan/users.hpp"

namespace lxbox::runtime {
namespace {

const char* kPasswd = "root:x:0:0:root:/root:/bin/bash\n"
                      "# comment\n"
                      "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
                      "broken line\n";
const char* kGroup = "root:x:0:\nalice:x:1000:\nstaff:x:50:bob,alice\nvideo:x:44:alice\n";

Result<ResolvedUser> resolve(const std::string& spec) {
    return resolve_user(spec, parse_passwd(kPasswd), parse_group(kGroup));
}

TEST(Users, DefaultIsRootWithItsShell) {
    auto u = resolve("");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->uid, 0u);
    EXPECT_EQ(u->shell, "/bin/bash");
    EXPECT_EQ(u->home, "/root");
}

TEST(Users, NameGivesUidGidHomeAndSupplementaryGroups) {
    auto u = resolve("alice");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->uid, 1000u);
    EXPECT_EQ(u->gid, 1000u);
    EXPECT_EQ(u->home, "/home/alice");
    EXPECT_EQ(u->groups, (std::vector<gid_t>{1000, 50, 44}));
}

TEST(Users, UidAndGroupByNumberOrName) {
    auto u = resolve("1000:staff");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->name, "alice");
    EXPECT_EQ(u->gid, 50u);
    auto v = resolve("4242:4343");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->uid, 4242u);
    EXPECT_EQ(v->gid, 4343u);
    EXPECT_EQ(v->home, "/");
}

TEST(Users, UnknownNamesAreErrors) {
    EXPECT_EQ(resolve("mallory").error().kind, ErrorKind::NotFound);
    EXPECT_EQ(resolve("alice:nogroup").error().kind, ErrorKind::NotFound);
}

}  // namespace
}  // namespace lxbox::runtime
