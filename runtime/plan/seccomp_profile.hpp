// docker's seccomp profile format (--seccomp PROFILE.json, `docker run --security-opt
// seccomp=...`) turned into a SeccompPlan: pure, so every field is checked in unit tests.
//
//   {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
//    "syscalls": [{"names": ["read", ...], "action": "SCMP_ACT_ALLOW",
//                  "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}],
//                  "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"], "minKernel": "4.8"},
//                  "excludes": {"caps": [...], "arches": [...]}}]}
//
// A rule applies when the process keeps every capability of includes.caps and none of
// excludes.caps, the architecture matches, and the kernel is at least minKernel, as in docker.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/plan/security.hpp"

namespace lxbox::runtime {

// arch: docker's name of this machine ("amd64", "arm64", ...); kernel_release: uname -r
// ("" = assume new enough). Errors name the field: "seccomp profile: syscalls[3].action:
// unknown action 'SCMP_ACT_FOO'".
Result<SeccompPlan> parse_docker_seccomp_profile(const std::string& json, uint64_t caps, const std::string& arch,
                                                 const std::string& kernel_release);

// docker's architecture name for the machine lxbox was built for.
const char* native_docker_arch();

// (major, minor) of a release string: "6.1.0-26-amd64" -> {6, 1}; {0, 0} if unreadable.
std::pair<int, int> kernel_version(const std::string& release);

}  // namespace lxbox::runtime
