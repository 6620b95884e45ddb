#include "tests/vm/vm_users.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

namespace lxbox::test {

void install_lxbox_for(const TestUser& user, const ScratchDir& home, const std::string& store) {
    ASSERT_EQ(::chmod(home.path().c_str(), 0755), 0);
    ASSERT_EQ(run({"install", "-D", "-m", "0755", LXBOX_BINARY, home / "bin/lxbox"}).exit_code, 0);
    ASSERT_EQ(run({"install", "-D", "-m", "0755", LXBOX_AGENT_BINARY, home / "bin/lxbox-agent"}).exit_code, 0);
    ASSERT_EQ(run({"install", "-D", "-m", "0644", busybox_tarball(), home / "share/lxbox/busybox-rootfs.tar"}).exit_code, 0);
    const std::string shared = std::string(LXBOX_BUILD_DIR) + "/vm-test-cache";
    ASSERT_EQ(run({"mkdir", "-p", store + "/vm"}).exit_code, 0);
    ASSERT_EQ(run({"cp", "-r", shared + "/cache", shared + "/kernel", store + "/vm/"}).exit_code, 0);
    ASSERT_EQ(run({"chown", "-R", user.name + ":", store}).exit_code, 0);
}

}  // namespace lxbox::test
