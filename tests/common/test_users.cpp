#include "tests/common/test_users.hpp"

#include <gtest/gtest.h>
#include <pwd.h>

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

}  // namespace lxbox::test
