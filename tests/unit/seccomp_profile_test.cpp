// docker-format seccomp profiles (--seccomp FILE) -> SeccompPlan.
#include <gtest/gtest.h>

#include "runtime/plan/seccomp_profile.hpp"

namespace lxbox::runtime {
namespace {

const uint64_t kDefault = default_capabilities();

SeccompPlan parse_ok(const std::string& json, uint64_t caps = kDefault, const std::string& kernel = "6.1.0") {
    auto r = parse_docker_seccomp_profile(json, caps, "amd64", kernel);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : SeccompPlan{};
}
std::string parse_error(const std::string& json) {
    auto r = parse_docker_seccomp_profile(json, kDefault, "amd64", "6.1.0");
    return r.ok() ? "(accepted)" : r.error().message;
}

TEST(SeccompProfile, DefaultActionNamesErrnoAndArgs) {
    auto p = parse_ok(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                     {"name": "socket", "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
                     {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                     {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})");
    EXPECT_EQ(p.default_action, SeccompAction::Errno);
    EXPECT_EQ(p.default_errno, 38);
    ASSERT_EQ(p.rules.size(), 5u);
    EXPECT_EQ(p.rules[0].syscall, "read");
    EXPECT_EQ(p.rules[1].syscall, "write");
    EXPECT_EQ(p.rules[2].args.at(0).op, SeccompArg::Op::Ne);
    EXPECT_EQ(p.rules[2].args.at(0).value, 40u);
    // MASKED_EQ: docker's value is the mask, valueTwo the value.
    EXPECT_EQ(p.rules[3].args.at(0).mask, 2114060288u);
    EXPECT_EQ(p.rules[3].args.at(0).value, 0u);
    EXPECT_EQ(p.rules[4].action, SeccompAction::Errno);
    EXPECT_EQ(p.rules[4].errno_value, 13);
}

TEST(SeccompProfile, IncludesAndExcludesByCapabilityArchAndKernel) {
    const std::string json = R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_CHROOT"]}}]})";
    auto names = [](const SeccompPlan& p) {
        std::string out;
        for (const auto& r : p.rules) out += r.syscall + " ";
        return out;
    };
    EXPECT_EQ(names(parse_ok(json)), "ptrace ");
    EXPECT_EQ(names(parse_ok(json, kDefault | cap_bit(21))), "mount ptrace ");
    EXPECT_EQ(names(parse_ok(json, kDefault, "4.4.0-1-amd64")), "");
    EXPECT_EQ(names(parse_ok(json, 0)), "ptrace chroot ");
}

TEST(SeccompProfile, RulesWithTheDefaultActionAreDropped) {
    auto p = parse_ok(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["keyctl"], "action": "SCMP_ACT_KILL_PROCESS"},
                     {"names": ["acct"], "action": "SCMP_ACT_LOG"}]})");
    ASSERT_EQ(p.rules.size(), 2u);
    EXPECT_EQ(p.rules[0].action, SeccompAction::KillProcess);
    EXPECT_EQ(p.rules[1].action, SeccompAction::Log);
}

TEST(SeccompProfile, BadProfilesAreRefusedWithTheFieldNamed) {
    EXPECT_EQ(parse_error("{"), "seccomp profile: (file): not valid JSON");
    EXPECT_EQ(parse_error("[]"), "seccomp profile: (file): not a JSON object");
    EXPECT_EQ(parse_error("{}"), "seccomp profile: defaultAction: missing");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_NOPE"})"),
              "seccomp profile: defaultAction: unknown action 'SCMP_ACT_NOPE'");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]})"),
              "seccomp profile: syscalls[0].action: missing");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]})"),
              "seccomp profile: syscalls[0]: no names");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
              "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]})"),
              "seccomp profile: syscalls[0].args[0].index: must be 0 to 5");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
              "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_ABOUT"}]}]})"),
              "seccomp profile: syscalls[0].args[0].op: unknown operator 'SCMP_CMP_ABOUT'");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_NOTIFY"})"),
              "seccomp profile: defaultAction: action 'SCMP_ACT_NOTIFY' needs a tracer or a notify listener: not supported");
    EXPECT_EQ(parse_error(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mount"],
              "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_FLY"]}}]})"),
              "seccomp profile: syscalls[0]: unknown capability 'CAP_FLY'");
}

TEST(SeccompProfile, KernelVersions) {
    EXPECT_EQ(kernel_version("6.1.0-26-amd64"), std::make_pair(6, 1));
    EXPECT_EQ(kernel_version("4.8"), std::make_pair(4, 8));
    EXPECT_EQ(kernel_version("junk"), std::make_pair(0, 0));
}

TEST(SeccompProfile, ThroughPlanSecurity) {
    SecuritySpec s;
    s.seccomp = "profile";
    s.seccomp_profile = R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})";
    auto plan = plan_security(s).value();
    EXPECT_FALSE(plan.seccomp);
    ASSERT_TRUE(plan.profile.has_value());
    EXPECT_EQ(plan.profile->rules.size(), 1u);
    EXPECT_NE(seccomp_plan_key(*plan.profile, "x"), seccomp_plan_key(default_seccomp(kDefault), "x"));
    s.seccomp_profile = "";
    EXPECT_EQ(plan_security(s).error().message, "--seccomp: the profile is empty");
}

}  // namespace
}  // namespace lxbox::runtime
