// The pure security plan: capabilities, the default seccomp profile, masked paths.
#include <gtest/gtest.h>

#include <algorithm>

#include "runtime/plan/plan.hpp"
#include "runtime/plan/security.hpp"

namespace lxbox::runtime {
namespace {

bool allows(const SeccompPlan& p, const std::string& name) {
    return std::any_of(p.rules.begin(), p.rules.end(), [&](const SeccompRule& r) {
        return r.syscall == name && r.action == SeccompAction::Allow && r.args.empty();
    });
}
const SeccompRule* rule_for(const SeccompPlan& p, const std::string& name) {
    for (const auto& r : p.rules)
        if (r.syscall == name) return &r;
    return nullptr;
}

TEST(Capabilities, NamesAndNumbers) {
    EXPECT_EQ(capability_number("CAP_NET_ADMIN"), 12);
    EXPECT_EQ(capability_number("net_admin"), 12);
    EXPECT_EQ(capability_number("SYS_ADMIN"), 21);
    EXPECT_EQ(capability_number("CHECKPOINT_RESTORE"), 40);
    EXPECT_FALSE(capability_number("NOPE"));
    EXPECT_EQ(capability_name(0), "CAP_CHOWN");
    EXPECT_EQ(capability_name(63), "CAP_63");
}

TEST(Capabilities, DefaultSetIsDockersWithoutNetRaw) {
    // docker run's CapEff (0xa80425fb) without NET_RAW, bit 13.
    EXPECT_EQ(default_capabilities(), 0xa80405fbULL);
    EXPECT_FALSE(default_capabilities() & cap_bit(13));
    auto plan = plan_security({}).value();
    EXPECT_EQ(plan.capabilities, 0xa80405fbULL);
    EXPECT_TRUE(plan.no_new_privs);
    EXPECT_TRUE(plan.seccomp);
    EXPECT_FALSE(plan.privileged);
}

TEST(Capabilities, DropAllThenAddKeepsOnlyTheAdded) {
    SecuritySpec s;
    s.cap_drop = {"ALL"};
    s.cap_add = {"CAP_NET_ADMIN", "sys_ptrace"};
    EXPECT_EQ(plan_security(s).value().capabilities, cap_bit(12) | cap_bit(19));
    s.cap_drop = {"NET_RAW", "MKNOD"};
    s.cap_add = {};
    EXPECT_EQ(plan_security(s).value().capabilities, 0xa80405fbULL & ~cap_bit(27));
    // NET_RAW comes back only when asked for.
    s.cap_drop = {};
    s.cap_add = {"NET_RAW"};
    EXPECT_EQ(plan_security(s).value().capabilities, 0xa80425fbULL);
}

TEST(Capabilities, UnknownNamesAndProfilesAreRefusedByName) {
    SecuritySpec s;
    s.cap_add = {"FLY"};
    auto r = plan_security(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "--cap-add: unknown capability 'FLY'");
    s.cap_add = {};
    s.seccomp = "strict";
    EXPECT_EQ(plan_security(s).error().message, "--seccomp: unknown profile 'strict': default or unconfined");
}

TEST(Capabilities, PrivilegedHasEverythingAndNoFilter) {
    SecuritySpec s;
    s.privileged = true;
    auto plan = plan_security(s).value();
    EXPECT_EQ(plan.capabilities, (uint64_t{1} << 41) - 1);
    EXPECT_FALSE(plan.seccomp);
    EXPECT_FALSE(plan.no_new_privs);
    s.privileged = false;
    s.seccomp = "unconfined";
    EXPECT_FALSE(plan_security(s).value().seccomp);
}

TEST(DefaultSeccomp, DeniesByDefaultAndAllowsTheOrdinary) {
    auto p = default_seccomp(default_capabilities());
    EXPECT_EQ(p.default_action, SeccompAction::Errno);
    EXPECT_EQ(p.default_errno, 1);
    for (auto name : {"read", "write", "openat", "execve", "mmap", "futex", "epoll_wait", "chroot", "vfork"})
        EXPECT_TRUE(allows(p, name)) << name;
    for (auto name : {"keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
                      "finit_module", "bpf", "userfaultfd", "perf_event_open", "open_by_handle_at", "mount",
                      "umount2", "pivot_root", "unshare", "setns", "swapon", "reboot", "acct", "iopl", "clock_settime"})
        EXPECT_EQ(rule_for(p, name), nullptr) << name << " must fall to the default (EPERM)";
}

TEST(DefaultSeccomp, CapabilitiesUnlockTheirSyscalls) {
    auto p = default_seccomp(default_capabilities() | cap_bit(21) | cap_bit(16) | cap_bit(25));
    for (auto name : {"mount", "umount2", "pivot_root", "unshare", "setns", "bpf", "init_module", "clock_settime", "clone3"})
        EXPECT_TRUE(allows(p, name)) << name;
    EXPECT_EQ(rule_for(p, "keyctl"), nullptr) << "no capability unlocks the keyring";
}

TEST(DefaultSeccomp, ArgumentFiltersForCloneClone3PersonalityAndSocket) {
    auto p = default_seccomp(default_capabilities());
    const SeccompRule* clone = rule_for(p, "clone");
    ASSERT_NE(clone, nullptr);
    ASSERT_EQ(clone->args.size(), 1u);
    EXPECT_EQ(clone->args[0].op, SeccompArg::Op::MaskedEq);
    EXPECT_EQ(clone->args[0].value, 0u);
    EXPECT_EQ(clone->args[0].mask & 0x10000000u, 0x10000000u) << "CLONE_NEWUSER is among the masked flags";
    const SeccompRule* clone3 = rule_for(p, "clone3");
    ASSERT_NE(clone3, nullptr);
    EXPECT_EQ(clone3->action, SeccompAction::Errno);
    EXPECT_EQ(clone3->errno_value, 38) << "ENOSYS, so libc falls back to clone";
    std::vector<uint64_t> personas;
    for (const auto& r : p.rules)
        if (r.syscall == "personality") personas.push_back(r.args.at(0).value);
    EXPECT_EQ(personas, (std::vector<uint64_t>{0, 8, 0x20000, 0x20008, 0xffffffff}));
    const SeccompRule* socket = rule_for(p, "socket");
    ASSERT_NE(socket, nullptr);
    EXPECT_EQ(socket->args.at(0).op, SeccompArg::Op::Ne);
    EXPECT_EQ(socket->args.at(0).value, 40u) << "AF_VSOCK";
}

// Typing into a terminal (TIOCSTI, TIOCLINUX) is refused whatever the capabilities, by the
// second filter: ioctl itself stays allowed, and only the low 32 bits of the request count, as
// the kernel truncates it.
TEST(DefaultSeccomp, TerminalInputRequestsAreRefusedEvenWithSysAdmin) {
    for (uint64_t caps : {default_capabilities(), default_capabilities() | cap_bit(21)}) {
        auto p = default_seccomp(caps);
        EXPECT_TRUE(allows(p, "ioctl"));
        std::vector<uint64_t> refused;
        for (const auto& r : p.refusals) {
            EXPECT_EQ(r.syscall, "ioctl");
            EXPECT_EQ(r.action, SeccompAction::Errno);
            EXPECT_EQ(r.errno_value, 1) << "EPERM";
            ASSERT_EQ(r.args.size(), 1u);
            EXPECT_EQ(r.args[0].index, 1u);
            EXPECT_EQ(r.args[0].op, SeccompArg::Op::Eq);
            EXPECT_TRUE(r.args[0].low32);
            refused.push_back(r.args[0].value);
        }
        EXPECT_EQ(refused, (std::vector<uint64_t>{0x5412 /* TIOCSTI */, 0x541C /* TIOCLINUX */}));
    }
    SeccompPlan plain;
    plain.rules = default_seccomp(default_capabilities()).rules;
    EXPECT_NE(seccomp_plan_key(plain, "s"), seccomp_plan_key(default_seccomp(default_capabilities()), "s"))
        << "the refusals are part of a plan's key";
}

TEST(DefaultSeccomp, CacheKeyFollowsTheCapabilitiesAndTheSalt) {
    const uint64_t caps = default_capabilities();
    EXPECT_EQ(seccomp_cache_key(caps, "s"), seccomp_cache_key(caps, "s"));
    EXPECT_NE(seccomp_cache_key(caps, "s"), seccomp_cache_key(caps | cap_bit(21), "s"));
    EXPECT_NE(seccomp_cache_key(caps, "s"), seccomp_cache_key(caps, "t"));
    EXPECT_EQ(seccomp_cache_key(caps, "s").size(), 16u);
}

TEST(SystemMounts, MaskedAndReadOnlyPathsUnlessPrivileged) {
    ContainerSpec spec;
    auto count = [](const std::vector<MountOp>& ops, MountOpKind k) {
        return std::count_if(ops.begin(), ops.end(), [&](const MountOp& o) { return o.kind == k; });
    };
    auto ops = plan_system_mounts(spec);
    EXPECT_EQ(count(ops, MountOpKind::Mask), static_cast<long>(masked_paths().size()));
    EXPECT_EQ(count(ops, MountOpKind::ReadOnly), static_cast<long>(readonly_paths().size()));
    // After /dev is built: masking binds /dev/null.
    auto dev_null = std::find_if(ops.begin(), ops.end(), [](const MountOp& o) { return o.target == "/dev/null"; });
    auto first_mask = std::find_if(ops.begin(), ops.end(), [](const MountOp& o) { return o.kind == MountOpKind::Mask; });
    EXPECT_LT(dev_null - ops.begin(), first_mask - ops.begin());
    EXPECT_NE(std::find(masked_paths().begin(), masked_paths().end(), "/proc/kcore"), masked_paths().end());
    EXPECT_NE(std::find(readonly_paths().begin(), readonly_paths().end(), "/proc/sys"), readonly_paths().end());
    spec.process.security.privileged = true;
    ops = plan_system_mounts(spec);
    EXPECT_EQ(count(ops, MountOpKind::Mask) + count(ops, MountOpKind::ReadOnly), 0);
}

}  // namespace
}  // namespace lxbox::runtime
