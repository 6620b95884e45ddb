#include "tests/common/test_users.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace lxbox::test {

CommandResult run_locked(const std::vector<std::string>& argv) {
    CommandResult r;
    for (int i = 0; i < 100; ++i) {
        r = run(argv);
        if (r.exit_code == 0 || r.err.find("lock") == std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
}

bool make_user(TestUser& u) {
    (void)run_locked({"userdel", u.name});  // a leftover of an interrupted run
    auto r = run_locked({"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u.name});
    if (r.exit_code != 0) {
        ADD_FAILURE() << "useradd " << u.name << ": " << r.err;
        return false;
    }
    if (u.subid_start) {
        const std::string range = std::to_string(u.subid_start) + "-" + std::to_string(u.subid_start + kSubIdCount - 1);
        r = run_locked({"usermod", "--add-subuids", range, "--add-subgids", range, u.name});
        if (r.exit_code != 0) {
            ADD_FAILURE() << "usermod " << u.name << ": " << r.err;
            return false;
        }
    }
    const struct passwd* pw = ::getpwnam(u.name.c_str());
    if (!pw) return false;
    u.uid = pw->pw_uid;
    return true;
}

void delete_user(const TestUser& u) {
    if (u.uid == 0) return;
    auto r = run_locked({"userdel", u.name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

std::vector<std::string> as_user(const TestUser& u, const std::vector<std::string>& argv) {
    std::vector<std::string> out = {"setpriv", "--reuid=" + u.name, "--regid=" + u.name, "--init-groups",
                                    "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

namespace {

bool write_no_userns_filter(const std::string& path) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return false;
    bool ok = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)) == 0 &&
              seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)) == 0 &&
              seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ok = ok && fd >= 0 && seccomp_export_bpf(ctx, fd) == 0;
    if (fd >= 0) ::close(fd);
    seccomp_release(ctx);
    return ok;
}

}  // namespace

std::vector<std::string> without_user_namespaces(const std::vector<std::string>& argv, const std::string& scratch_dir) {
    const std::string bpf = scratch_dir + "/no-userns.bpf";
    EXPECT_TRUE(write_no_userns_filter(bpf));
    // bwrap reads the filter from fd 9 and execs argv under it.
    std::vector<std::string> out = {"sh", "-c", "exec 9<\"$0\" && exec bwrap --dev-bind / / --seccomp 9 -- \"$@\"", bpf};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

}  // namespace lxbox::test
