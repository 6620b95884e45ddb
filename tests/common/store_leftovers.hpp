// What a store looks like from outside lxbox after faults or concurrent use: the fault-injection
// and concurrency tests' shared verdict.
#pragma once

#include <string>

namespace lxbox::test {

// "" when the store at root is consistent and nothing of it is left on the host; else what is
// wrong, one clause each: registry.json does not parse, a registered rootfs image without its
// rootfs, a dir of images/ or containers/ no record names (work dirs included), a temp file in
// the root or tmp/, a mount below the root, a cgroup of this store ("lxbox-<store id>-..."), a
// process whose environment holds env_marker (when not empty).
std::string store_leftovers(const std::string& root, const std::string& env_marker = {});

}  // namespace lxbox::test
