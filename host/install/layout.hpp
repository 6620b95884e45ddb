// Where lxbox finds the files it ships beside itself, from the build tree or an install prefix
// (cmake --install, the .deb): the default distro's tarball, the guest agent, the registry client.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::install {

enum class Companion {
    BusyboxTarball,  // data:        share/lxbox/busybox-rootfs.tar
    GuestAgent,      // executables: libexec/lxbox/lxbox-agent
    RegistryClient,  //              libexec/lxbox/lxbox-registry
    GuestAgentAarch64,  //           libexec/lxbox/lxbox-agent-aarch64 (cross-compiled on x86-64)
};

// The paths where a binary at exe (absolute, as /proc/self/exe names it) looks for c, in order:
// beside it, then the build tree's layout (build/host/lxbox -> build/<dir>/), then the installed
// one relative to the binary (PREFIX/bin/lxbox -> PREFIX/share/lxbox or PREFIX/libexec/lxbox),
// so a prefix moved as a whole keeps working. Pure.
std::vector<std::string> companion_candidates(const std::string& exe, Companion c);

// The file name of c and the variable that overrides the search ($LXBOX_BUSYBOX_TARBALL, ...).
const char* companion_file(Companion c);
const char* companion_env(Companion c);

// $companion_env(c) when set, else the first candidate for this binary that is there (readable,
// or executable for the programs); NotFound names where it looked.
Result<std::string> find_companion(Companion c);

}  // namespace lxbox::install
