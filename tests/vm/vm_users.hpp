// What the VM tests run as an ordinary user share: lxbox installed where the user reaches it.
#pragma once

#include <string>

#include "tests/common/test_support.hpp"
#include "tests/common/test_users.hpp"

namespace lxbox::test {

// An installed lxbox in home for user: bin/lxbox, bin/lxbox-agent and
// share/lxbox/busybox-rootfs.tar (found beside the binary), and store/vm with the kernel the
// suite fetched, owned by the user, so nothing is downloaded. home is made readable (QEMU's 9p,
// running as the user, opens a shared path's parent directories for reading). A test failure
// when a step fails.
void install_lxbox_for(const TestUser& user, const ScratchDir& home, const std::string& store);

}  // namespace lxbox::test
