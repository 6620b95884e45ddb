// Rootless mode's id mapping: /etc/subuid parsing, the maps planned from it, and which users a
// container's command may become.
#include <gtest/gtest.h>

#include "runtime/linux/userns_holder.hpp"
#include "runtime/plan/idmap.hpp"

namespace lxbox::runtime {
namespace {

TEST(SubIds, TakesTheLinesOfTheUserByNameOrByUid) {
    const std::string text =
        "# comment\n"
        "alice:100000:65536\n"
        "bob:165536:65536\n"
        "1000:300000:1000\n"
        "alice:400000:10\n";
    auto r = parse_subids(text, "alice", 1000);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].start, 100000u);
    EXPECT_EQ(r[0].count, 65536u);
    EXPECT_EQ(r[1].start, 300000u);
    EXPECT_EQ(r[2].start, 400000u);
    EXPECT_TRUE(parse_subids(text, "carol", 1002).empty());
}

TEST(SubIds, IgnoresMalformedEmptyAndOverflowingLines) {
    const std::string text =
        "alice:100000\n"
        "alice:x:65536\n"
        "alice:100000:0\n"
        "alice:4294967000:1000\n"
        "alice:200000:5 \n"
        "alice:300000:7\n";
    auto r = parse_subids(text, "alice", 1000);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].start, 300000u);
    EXPECT_EQ(r[0].count, 7u);
}

TEST(RootlessUserns, WithoutRangesOnlyTheCallerIsMappedAndSetgroupsIsDenied) {
    auto u = plan_rootless_userns(1000, 1000, {}, {}, true);
    EXPECT_TRUE(u.enabled);
    EXPECT_FALSE(u.use_helpers);
    ASSERT_EQ(u.uids.size(), 1u);
    EXPECT_EQ(u.uids[0], (IdMapping{0, 1000, 1}));
    EXPECT_EQ(u.gids[0], (IdMapping{0, 1000, 1}));
    EXPECT_FALSE(id_maps_view(u).setgroups_allowed);
}

TEST(RootlessUserns, RangesFollowTheCallerThroughTheHelpers) {
    auto u = plan_rootless_userns(1000, 1001, {{100000, 65536}, {300000, 10}}, {{200000, 65536}}, true);
    EXPECT_TRUE(u.use_helpers);
    ASSERT_EQ(u.uids.size(), 3u);
    EXPECT_EQ(u.uids[1], (IdMapping{1, 100000, 65536}));
    EXPECT_EQ(u.uids[2], (IdMapping{65537, 300000, 10}));
    EXPECT_EQ(u.gids[0], (IdMapping{0, 1001, 1}));
    EXPECT_EQ(u.gids[1], (IdMapping{1, 200000, 65536}));
    EXPECT_EQ(mapped_count(u.uids), 65547u);
    EXPECT_TRUE(id_maps_view(u).setgroups_allowed);
}

TEST(RootlessUserns, NoHelpersOrAMissingGidRangeMeansTheCallerAlone) {
    auto no_helpers = plan_rootless_userns(1000, 1000, {{100000, 65536}}, {{100000, 65536}}, false);
    EXPECT_EQ(no_helpers.uids.size(), 1u);
    EXPECT_FALSE(no_helpers.use_helpers);
    auto no_gids = plan_rootless_userns(1000, 1000, {{100000, 65536}}, {}, true);
    EXPECT_EQ(no_gids.uids.size(), 1u);
    EXPECT_EQ(no_gids.gids.size(), 1u);
}

TEST(RootlessUserns, ARangeHoldingTheCallersOwnIdIsSkipped) {
    // The kernel refuses a map where one host id appears twice.
    auto u = plan_rootless_userns(100005, 100005, {{100000, 10}, {200000, 5}}, {{200000, 5}}, true);
    ASSERT_EQ(u.uids.size(), 2u);
    EXPECT_EQ(u.uids[1], (IdMapping{1, 200000, 5}));
}

TEST(IdMaps, TextRoundTripsAndHelperArgumentsAreTriples) {
    std::vector<IdMapping> maps{{0, 1000, 1}, {1, 100000, 65536}};
    EXPECT_EQ(id_map_text(maps), "0 1000 1\n1 100000 65536\n");
    EXPECT_EQ(parse_id_map("         0       1000          1\n         1     100000      65536\n"), maps);
    EXPECT_EQ(id_map_helper_args(42, maps),
              (std::vector<std::string>{"42", "0", "1000", "1", "1", "100000", "65536"}));
    EXPECT_TRUE(id_mapped(maps, 0));
    EXPECT_TRUE(id_mapped(maps, 65536));
    EXPECT_FALSE(id_mapped(maps, 65537));
}

TEST(FitUser, OutsideAUserNamespaceTheUserIsUnchanged) {
    ResolvedUser u{1000, 1000, {1000, 27}, "alice"};
    auto r = fit_user(u, {});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->groups, (std::vector<gid_t>{1000, 27}));
}

TEST(FitUser, AnUnmappedUserIsAnErrorThatNamesTheFix) {
    IdMapsView one{true, {{0, 1000, 1}}, {{0, 1000, 1}}, false};
    auto r = fit_user(ResolvedUser{1000, 1000, {1000}, "alice"}, one);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find("user alice (uid 1000) has no host id"), std::string::npos);
    EXPECT_NE(r.error().message.find("/etc/subuid"), std::string::npos);
    auto g = fit_user(ResolvedUser{0, 50, {50}, "root"}, one);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("gid 50"), std::string::npos);
}

TEST(FitUser, UnmappedSupplementaryGroupsAreDroppedAndAllWhenSetgroupsIsDenied) {
    IdMapsView ranged{true, {{0, 1000, 1}, {1, 100000, 100}}, {{0, 1000, 1}, {1, 100000, 100}}, true};
    auto r = fit_user(ResolvedUser{5, 5, {5, 27, 500}, "alice"}, ranged);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->groups, (std::vector<gid_t>{5, 27}));
    IdMapsView denied{true, {{0, 1000, 1}}, {{0, 1000, 1}}, false};
    auto root = fit_user(ResolvedUser{0, 0, {0}, "root"}, denied);
    ASSERT_TRUE(root);
    EXPECT_TRUE(root->groups.empty());
}

}  // namespace
}  // namespace lxbox::runtime

namespace lxbox::linux_fx {
namespace {

TEST(UsernsHolder, OnlyThisBootsSameProcessWithTheWantedMapsIsJoined) {
    runtime::UserNamespaceSpec u;
    u.enabled = u.use_helpers = true;
    u.uids = {{0, 1000, 1}, {1, 100000, 65536}};
    u.gids = {{0, 1000, 1}, {1, 100000, 65536}};
    runtime::IdMapsView now;
    now.in_userns = true;
    now.uids = u.uids;
    now.gids = u.gids;
    const HolderRecord r{4242, 777, "boot-a"};
    EXPECT_TRUE(holder_is_current(r, "boot-a", 777, now, u));
    EXPECT_FALSE(holder_is_current(r, "boot-b", 777, now, u)) << "a record of another boot";
    EXPECT_FALSE(holder_is_current(r, "boot-a", 778, now, u)) << "the pid is another process now";
    EXPECT_FALSE(holder_is_current(r, "", 777, now, u)) << "no boot id to tell";
    EXPECT_FALSE(holder_is_current(HolderRecord{4242, 0, "boot-a"}, "boot-a", 0, now, u));
    // The user's subordinate ids changed: a holder with the old maps is not joined.
    runtime::IdMapsView old = now;
    old.uids[1].outside = 200000;
    EXPECT_FALSE(holder_is_current(r, "boot-a", 777, old, u));
    old = now;
    old.gids.pop_back();
    EXPECT_FALSE(holder_is_current(r, "boot-a", 777, old, u));
}

}  // namespace
}  // namespace lxbox::linux_fx
