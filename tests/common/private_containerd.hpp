// A private containerd for the tests of lxbox-oci under containerd (issue 23): Debian's
// containerd with its own root, state, sockets and config in a test's scratch directory,
// started and stopped by the test, and what a run must leave behind checked (no shim, mount,
// cgroup or state).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/common/test_support.hpp"

namespace lxbox::test {

// The pids of the processes whose command line holds text (the shims name containerd's socket).
std::vector<pid_t> processes_naming(const std::string& text);
// The mount points at or below dir.
std::vector<std::string> mounts_under(const std::string& dir);
// The entries of a directory (none when it is absent).
std::vector<std::string> entries(const std::string& dir);

class PrivateContainerd {
public:
    // Writes dir/config.toml (root, state, grpc, ttrpc and debug addresses under dir, then
    // extra_config as given) and starts containerd on it; started() says whether it answers.
    PrivateContainerd(const std::string& dir, const std::string& extra_config);
    // Stops containerd (SIGTERM), kills any shim naming its socket, unmounts what is left
    // under dir: the cleanup of a failed test (a passing one checks nothing is left first).
    ~PrivateContainerd();
    PrivateContainerd(const PrivateContainerd&) = delete;
    PrivateContainerd& operator=(const PrivateContainerd&) = delete;

    bool started() const { return started_; }
    const std::string& socket() const { return socket_; }
    std::string log() const;
    // `ctr --address SOCKET --namespace ns ARGS...`.
    std::vector<std::string> ctr_argv(const std::string& ns, const std::vector<std::string>& args) const;
    CommandResult ctr(const std::string& ns, const std::vector<std::string>& args) const;
    // Imports the busybox rootfs as the OCI image name (REPO:TAG) into namespace ns, with the image
    // config's "config" object given (Cmd, Env, ...); its error, or "".
    std::string import_busybox(const std::string& ns, const std::string& name,
                               const nlohmann::json& config = nlohmann::json::object()) const;
    // Waits (up to 5 s) for the shims to exit, then checks no shim, no mount under dir and
    // nothing in each of state_dirs is left; failures are added to the running test.
    void expect_no_shim_mount_or_state(const std::vector<std::string>& state_dirs) const;

private:
    std::string dir_;
    std::string socket_;
    pid_t pid_ = -1;
    bool started_ = false;
};

}  // namespace lxbox::test
