// An OCI process's command and environment as runc makes them at `create`: HOME from the
// container's /etc/passwd when the spec leaves it unset, and the command looked up in the spec's
// own PATH (none: a bare name is not found), so that a missing command fails `create`, not `start`.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/plan/users.hpp"

namespace lxbox::runtime {

// env with HOME=<uid's home> appended when it has no HOME (runc: "/" for a uid not in passwd).
std::vector<std::string> env_with_home(std::vector<std::string> env, const std::vector<PasswdEntry>& passwd, uid_t uid);

// Go's exec.LookPath, which runc's init runs before it waits for `start`: a name with a '/' is
// checked as it is, a bare one is searched in env's PATH (an empty element is "."). check: 0
// for a regular file with an execute bit, else an errno (ENOENT, EACCES). NotFound with runc's
// own text otherwise, which engines match (podman's 127 for "no such file or directory" and
// "executable file not found").
Result<std::string> look_path(const std::string& file, const std::vector<std::string>& env,
                              const std::function<int(const std::string&)>& check);

}  // namespace lxbox::runtime
