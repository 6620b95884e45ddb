// plan_check (runtime/store/check.hpp): what `lxbox check` finds and may repair, over plain data.
#include <gtest/gtest.h>

#include <algorithm>

#include "runtime/store/check.hpp"

namespace lxbox::store {
namespace {

CheckInput base_input() {
    CheckInput in;
    in.root = "/s";
    in.registry.images["deb"] = ImageRecord{"deb", "x86_64", "", 0, "", "", "", {}};
    in.registry.containers["web"] = ContainerRecord{"web", "deb", "", "native"};
    in.folders["images"] = {{"deb", std::nullopt}};
    in.folders["containers"] = {{"web", std::nullopt}};
    in.containers["web"] = ContainerFacts{};
    in.cgroup_prefix = "lxbox-1.2-";
    return in;
}

const Finding* find(const std::vector<Finding>& f, const std::string& kind) {
    auto it = std::find_if(f.begin(), f.end(), [&](const Finding& x) { return x.kind == kind; });
    return it == f.end() ? nullptr : &*it;
}

TEST(StoreCheck, AConsistentStoreHasNoFindings) {
    EXPECT_TRUE(plan_check(base_input()).empty());
}

TEST(StoreCheck, DeadOwnersWorkIsRemovedALiveOnesIsLeft) {
    auto in = base_input();
    in.folders["images"].push_back({".import-10-20-x", false});
    in.folders["containers"].push_back({".rm-11-21-deb", true});
    auto f = plan_check(in);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].kind, "stale-work");
    EXPECT_EQ(f[0].target, "/s/images/.import-10-20-x");
    EXPECT_EQ(f[0].repair, Repair::RemoveTree);
}

TEST(StoreCheck, AnUnregisteredDirIsRemovedButNotWhenTheRegistryIsUnreadable) {
    auto in = base_input();
    in.folders["images"].push_back({"half", std::nullopt});
    auto f = plan_check(in);
    ASSERT_NE(find(f, "unregistered-dir"), nullptr);
    EXPECT_EQ(find(f, "unregistered-dir")->target, "/s/images/half");
    in.registry_error = "read /s/registry.json: parse error";
    in.registry = Registry{};
    f = plan_check(in);
    EXPECT_EQ(find(f, "unregistered-dir"), nullptr);  // everything would look unregistered
    ASSERT_NE(find(f, "registry-unreadable"), nullptr);
    EXPECT_EQ(find(f, "registry-unreadable")->repair, Repair::None);
    EXPECT_FALSE(healthy(f));
}

TEST(StoreCheck, RecordsWithoutFilesAreReportedNotDropped) {
    auto in = base_input();
    in.folders["images"].clear();
    in.folders["containers"].clear();
    in.registry.images["oci"] = ImageRecord{"oci", "x86_64", "", 0, "", "sha256:m", "sha256:c", {"sha256:aa"}};
    auto f = plan_check(in);
    for (const char* kind : {"missing-rootfs", "missing-container-dir", "missing-layer"}) {
        ASSERT_NE(find(f, kind), nullptr) << kind;
        EXPECT_EQ(find(f, kind)->repair, Repair::None) << kind;
    }
}

TEST(StoreCheck, TempFilesOfKilledWritesAreRemoved) {
    auto in = base_input();
    in.root_temps = {"registry.json.tmp.abcdef"};
    in.containers["web"].temp_files = {"state.json.tmp.xyzxyz"};
    auto f = plan_check(in);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].target, "/s/registry.json.tmp.abcdef");
    EXPECT_EQ(f[1].target, "/s/containers/web/state.json.tmp.xyzxyz");
    for (const auto& x : f) EXPECT_EQ(x.repair, Repair::RemoveFile);
}

TEST(StoreCheck, ABusyContainersStateAndCgroupAreLeftAlone) {
    auto in = base_input();
    in.cgroups = {{"lxbox-1.2-web", std::nullopt}};
    in.containers["web"].stale_state = true;
    auto f = plan_check(in);
    ASSERT_NE(find(f, "orphan-cgroup"), nullptr);
    ASSERT_NE(find(f, "stale-state"), nullptr);
    in.containers["web"].busy = true;
    EXPECT_TRUE(plan_check(in).empty());
}

TEST(StoreCheck, CgroupsOfDeadThrowawayContainersAndUnknownNamesAreOrphansOthersStoresAreNotOurs) {
    auto in = base_input();
    in.cgroups = {{"lxbox-1.2-.rm-5-6-deb", false}, {"lxbox-1.2-.rm-7-8-deb", true},
                  {"lxbox-1.2-gone", std::nullopt}, {"lxbox-9.9-web", std::nullopt}};
    auto f = plan_check(in);
    std::vector<std::string> orphans;
    for (const auto& x : f)
        if (x.kind == "orphan-cgroup") orphans.push_back(x.target);
    EXPECT_EQ(orphans, (std::vector<std::string>{"lxbox-1.2-.rm-5-6-deb", "lxbox-1.2-gone"}));
}

TEST(StoreCheck, MountsOfDeadContainersAreUnmountedOthersReported) {
    auto in = base_input();
    in.mounts = {{"/s/containers/.rm-5-6-deb/rootfs", false}, {"/s/containers/.rm-7-8-deb/rootfs", true},
                 {"/s/images/deb/rootfs", std::nullopt}};
    auto f = plan_check(in);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].target, "/s/containers/.rm-5-6-deb/rootfs");
    EXPECT_EQ(f[0].repair, Repair::Unmount);
    EXPECT_EQ(f[1].repair, Repair::None);
}

TEST(StoreCheck, HealthyMeansEveryFindingRepaired) {
    std::vector<Finding> f{{"temp-file", "/s/x", "", Repair::RemoveFile}};
    EXPECT_FALSE(healthy(f));
    f[0].repaired = true;
    EXPECT_TRUE(healthy(f));
    EXPECT_TRUE(healthy({}));
}

}  // namespace
}  // namespace lxbox::store
