// Real unprivileged users for tests of rootless mode (the rootless e2e suite, the vm backend
// as an ordinary user): made with shadow's tools and deleted after, /etc/subuid lines included.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/common/test_support.hpp"

namespace lxbox::test {

struct TestUser {
    std::string name;
    uint32_t subid_start = 0;  // 0: no subordinate id range
    uid_t uid = 0;             // set by make_user
};

inline constexpr uint32_t kSubIdCount = 65536;

// shadow's tools lock /etc/passwd: two suites running at once (ctest -j) take turns.
CommandResult run_locked(const std::vector<std::string>& argv);
// Creates u (a system user without a home; a leftover of an interrupted run is replaced),
// with kSubIdCount subordinate ids from u.subid_start when set. A test failure otherwise.
bool make_user(TestUser& u);
// userdel, which drops the user's /etc/subuid and /etc/subgid lines too.
void delete_user(const TestUser& u);
// argv run as u (setpriv, u's groups, a clean environment): no sudo, no capabilities.
std::vector<std::string> as_user(const TestUser& u, const std::vector<std::string>& argv);

// argv run under a seccomp filter that refuses user namespaces (unshare and clone with
// CLONE_NEWUSER: EPERM; clone3, whose flags a filter cannot read: ENOSYS, so libc falls back to
// clone), as a container engine's default profile does to what runs inside it: bwrap loads it
// (written as BPF into scratch_dir). What the kernel refuses an unprivileged user, for real.
std::vector<std::string> without_user_namespaces(const std::vector<std::string>& argv, const std::string& scratch_dir);

}  // namespace lxbox::test
