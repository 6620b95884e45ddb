// lxbox's version and the git commit it was built from, embedded at build time
// (cmake/version.cmake): `lxbox --version` and `doctor --json` name them.
#pragma once

#include <string>

namespace lxbox::install {

extern const char* const kVersion;  // the project's version (CMakeLists.txt)
extern const char* const kCommit;   // 12 hex digits (+ "-dirty"), or "unknown" (no git at build time)

// "lxbox 0.1.0 (commit 0123456789ab)". Pure.
std::string version_line(const std::string& version, const std::string& commit);

}  // namespace lxbox::install
