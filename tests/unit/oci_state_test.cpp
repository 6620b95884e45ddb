// `lxbox oci`'s pure decisions: what a container's status is, the state JSON the spec defines,
// which ids are allowed, and signal names.
#include <gtest/gtest.h>
#include <signal.h>

#include "host/oci/state.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::oci {
namespace {

Record record() {
    Record r;
    r.oci_version = "1.0.2";
    r.id = "web";
    r.pid = 4242;
    r.start_time = 987654;
    r.bundle = "/srv/bundles/web";
    return r;
}

TEST(OciState, ProcStatFieldsEvenWithSpacesAndParensInTheName) {
    const std::string stat =
        "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 2400000 100 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
    auto f = linux_fx::parse_proc_stat(stat);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->state, 'S');
    EXPECT_EQ(f->ppid, 1);
    EXPECT_EQ(f->start_time, 987654u);
    EXPECT_FALSE(linux_fx::parse_proc_stat("4242 (truncated"));
    EXPECT_FALSE(linux_fx::parse_proc_stat("4242 (x) S 1 2"));
}

TEST(ProcStatus, NumbersAreReadByFieldName) {
    const std::string status = "Name:\tsh\nUmask:\t0022\nSigQ:\t0/63389\nSigPnd:\t0000000000000000\n"
                               "SigBlk:\t0000000000010000\nSigIgn:\t0000000000380004\nSigCgt:\t000000004b813efb\n";
    EXPECT_EQ(linux_fx::parse_status_number(status, "SigIgn", 16), 0x380004u);
    EXPECT_EQ(linux_fx::parse_status_number(status, "SigCgt", 16), 0x4b813efbu);
    EXPECT_EQ(linux_fx::parse_status_number(status, "SigBlk", 16), 0x10000u);
    EXPECT_EQ(linux_fx::parse_status_number(status, "Umask", 8), 022u);
    EXPECT_FALSE(linux_fx::parse_status_number(status, "ShdPnd", 16));
    EXPECT_FALSE(linux_fx::parse_status_number("SigIgn:\tzz\n", "SigIgn", 16));
    // A field name inside another line's text is not the field.
    EXPECT_FALSE(linux_fx::parse_status_number("Name:\tSigIgn: 1\n", "SigIgn", 16));
}

TEST(OciState, StatusFollowsTheProcessAndTheFifo) {
    const Record r = record();
    ProcessFacts alive{true, 'S', 987654};
    EXPECT_EQ(status_of(r, alive, true), RunState::Created);
    EXPECT_EQ(status_of(r, alive, false), RunState::Running);
    // Gone, a zombie, or the pid reused by another process: stopped, whatever the fifo says.
    EXPECT_EQ(status_of(r, ProcessFacts{}, true), RunState::Stopped);
    EXPECT_EQ(status_of(r, ProcessFacts{true, 'Z', 987654}, false), RunState::Stopped);
    EXPECT_EQ(status_of(r, ProcessFacts{true, 'S', 111}, false), RunState::Stopped);
    Record none = r;
    none.pid = 0;
    EXPECT_EQ(status_of(none, alive, false), RunState::Stopped);
}

TEST(OciState, StateJsonIsTheSpecs) {
    Record r = record();
    EXPECT_EQ(state_json(r, RunState::Running),
              (nlohmann::json{{"ociVersion", "1.0.2"}, {"id", "web"}, {"status", "running"}, {"pid", 4242},
                              {"bundle", "/srv/bundles/web"}}));
    // No pid once stopped (the spec requires it only while created or running); annotations
    // when there are some.
    r.annotations = {{"org.example.key", "value"}};
    EXPECT_EQ(state_json(r, RunState::Stopped),
              (nlohmann::json{{"ociVersion", "1.0.2"},
                              {"id", "web"},
                              {"status", "stopped"},
                              {"bundle", "/srv/bundles/web"},
                              {"annotations", {{"org.example.key", "value"}}}}));
    EXPECT_EQ(state_json(r, RunState::Created)["status"], "created");
}

TEST(OciState, RecordRoundTripsThroughJson) {
    Record r = record();
    r.cgroup = "oci-web";
    r.cgroup_paths = {"/sys/fs/cgroup/memory/lxbox/oci-web"};
    r.namespaces = 0x20000;
    r.poststop = {{"/bin/hook", {"hook", "stop"}, {"A=1"}, 5}};
    const Record back = nlohmann::json(r).get<Record>();
    EXPECT_EQ(nlohmann::json(back), nlohmann::json(r));
    ASSERT_EQ(back.poststop.size(), 1u);
    EXPECT_EQ(back.poststop[0].timeout, 5);
    r.resources = {{"pids", {{"limit", 50}}}};
    EXPECT_EQ(nlohmann::json(r).get<Record>().resources, r.resources);
}

// runc's update: a lone period keeps the quota (cgroup v2 writes both at once), a limit given
// replaces the one applied, what the update leaves out stays; the devices are create's only.
TEST(OciState, AnUpdateIsMergedOverTheAppliedResources) {
    using nlohmann::json;
    const json applied = {{"cpu", {{"quota", 50000}, {"period", 100000}}},
                          {"memory", {{"limit", 268435456}}},
                          {"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
    const json merged = merged_resources(applied, {{"cpu", {{"period", 200000}}}, {"pids", {{"limit", 50}}}});
    EXPECT_EQ(merged, json({{"cpu", {{"quota", 50000}, {"period", 200000}}},
                            {"memory", {{"limit", 268435456}}},
                            {"pids", {{"limit", 50}}}}));
    EXPECT_EQ(merged_resources(nullptr, {{"memory", {{"limit", 1}}}}), json({{"memory", {{"limit", 1}}}}));
}

TEST(OciState, IdsAreRuncs) {
    for (const char* ok : {"web", "a1", "my_app-2.0+build", "0123456789abcdef"}) EXPECT_TRUE(validate_id(ok)) << ok;
    for (const char* bad : {"", ".", "..", "../x", "a/b", "a b", "é"}) EXPECT_FALSE(validate_id(bad)) << bad;
    EXPECT_EQ(validate_id("a/b").error().message, "container id 'a/b' may hold only letters, digits and _+-.");
}

TEST(OciState, SignalsByNameOrNumber) {
    EXPECT_EQ(*parse_signal("TERM"), SIGTERM);
    EXPECT_EQ(*parse_signal("SIGKILL"), SIGKILL);
    EXPECT_EQ(*parse_signal("sigusr1"), SIGUSR1);
    EXPECT_EQ(*parse_signal("9"), 9);
    EXPECT_EQ(*parse_signal("WINCH"), SIGWINCH);
    for (const char* bad : {"", "FOO", "SIG", "0", "65", "9x", "-1"}) EXPECT_FALSE(parse_signal(bad)) << bad;
    EXPECT_EQ(parse_signal("FOO").error().message, "unknown signal 'FOO'");
}

}  // namespace
}  // namespace lxbox::oci
