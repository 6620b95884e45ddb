// Where lxbox looks for what it ships (host/install/layout.hpp), and its version line.
#include <gtest/gtest.h>

#include "host/install/layout.hpp"
#include "host/install/version.hpp"

namespace lxbox {
namespace {

using install::Companion;
using V = std::vector<std::string>;

TEST(InstallLayout, TheBusyboxTarballIsInTheBuildTreeOrInShareLxboxBesideBin) {
    EXPECT_EQ(install::companion_candidates("/work/build/host/lxbox", Companion::BusyboxTarball),
              (V{"/work/build/distro-images/busybox-rootfs.tar", "/work/build/share/lxbox/busybox-rootfs.tar"}));
    EXPECT_EQ(install::companion_candidates("/usr/bin/lxbox", Companion::BusyboxTarball).back(),
              "/usr/share/lxbox/busybox-rootfs.tar");
    // A prefix moved as a whole: found relative to the binary, not at a compiled-in prefix.
    EXPECT_EQ(install::companion_candidates("/opt/x/bin/lxbox", Companion::BusyboxTarball).back(),
              "/opt/x/share/lxbox/busybox-rootfs.tar");
}

TEST(InstallLayout, ProgramsAreBesideTheBinaryInTheBuildTreeOrInLibexecLxbox) {
    EXPECT_EQ(install::companion_candidates("/usr/local/bin/lxbox", Companion::GuestAgent),
              (V{"/usr/local/bin/lxbox-agent", "/usr/local/guest-agent/lxbox-agent",
                 "/usr/local/libexec/lxbox/lxbox-agent"}));
    EXPECT_EQ(install::companion_candidates("/b/host/lxbox", Companion::RegistryClient),
              (V{"/b/host/lxbox-registry", "/b/registry-client/lxbox-registry", "/b/libexec/lxbox/lxbox-registry"}));
}

TEST(InstallLayout, ABinaryAtTheRootOrWithoutADirectoryStillGetsPaths) {
    EXPECT_EQ(install::companion_candidates("/lxbox", Companion::BusyboxTarball).back(), "/share/lxbox/busybox-rootfs.tar");
    EXPECT_EQ(install::companion_candidates("lxbox", Companion::GuestAgent).front(), "./lxbox-agent");
}

TEST(InstallLayout, EachCompanionHasItsOverrideVariable) {
    EXPECT_STREQ(install::companion_env(Companion::BusyboxTarball), "LXBOX_BUSYBOX_TARBALL");
    EXPECT_STREQ(install::companion_env(Companion::GuestAgent), "LXBOX_AGENT");
    EXPECT_STREQ(install::companion_env(Companion::RegistryClient), "LXBOX_REGISTRY_HELPER");
}

TEST(InstallVersion, TheLineNamesVersionAndCommit) {
    EXPECT_EQ(install::version_line("0.1.0", "0123456789ab"), "lxbox 0.1.0 (commit 0123456789ab)");
    EXPECT_EQ(install::version_line("0.1.0", "unknown"), "lxbox 0.1.0 (commit unknown)");
    EXPECT_FALSE(std::string(install::kCommit).empty());
}

}  // namespace
}  // namespace lxbox
