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
TEST(Users, NumericUserIsNumbersOnly) {
    EXPECT_EQ(*parse_numeric_user("12"), (NumericUser{12, 0}));
    EXPECT_EQ(*parse_numeric_user("1000:100"), (NumericUser{1000, 100}));
    EXPECT_EQ(*parse_numeric_user("4294967294:0"), (NumericUser{4294967294u, 0}));
    // Each was read as far as it went: "12abc" became uid 12.
    for (const char* bad : {"12abc", "abc", "", ":", "12:", ":5", "-1", "1:2:3", "12 ", "4294967296", "0x10", "1.5"}) {
        auto r = parse_numeric_user(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
        EXPECT_EQ(r.error().message, std::string("expected UID[:GID] (numbers), got '") + bad + "'");
    }
}

}  // namespace lxbox::runtime
