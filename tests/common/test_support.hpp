// Shared helpers for every test suite.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace lxbox::test {

// Paths of this build tree (tests/common/build_paths.cpp). They are kept out of every other
// object's compile line so that ccache serves the same test objects to every checkout.
namespace build {
extern const char* const lxbox_binary;
extern const char* const source_dir;
extern const char* const build_dir;
extern const char* const syscall_probe;
extern const char* const tty_probe;
extern const char* const exe_watcher;
}  // namespace build
#define LXBOX_BINARY (::lxbox::test::build::lxbox_binary)
#define LXBOX_SOURCE_DIR (::lxbox::test::build::source_dir)
#define LXBOX_BUILD_DIR (::lxbox::test::build::build_dir)
#define LXBOX_SYSCALL_PROBE (::lxbox::test::build::syscall_probe)
#define LXBOX_TTY_PROBE (::lxbox::test::build::tty_probe)
#define LXBOX_EXE_WATCHER (::lxbox::test::build::exe_watcher)

// True when LXBOX_NO_SKIP=1 (CI): a test that would skip must fail instead.
bool skips_forbidden();

// Skips the test with a reason, or fails it when skips are forbidden.
#define LXBOX_SKIP(reason)                                                          \
    do {                                                                            \
        if (::lxbox::test::skips_forbidden()) GTEST_FAIL() << "skip forbidden: " << (reason); \
        GTEST_SKIP() << (reason);                                                   \
    } while (0)

bool is_root();

struct CommandResult {
    int exit_code = -1;  // 128+N when killed by signal N
    std::string out;
    std::string err;
};

// Runs argv (no shell) with optional stdin data and extra_env ("NAME=value", replacing the
// test's own NAME); captures stdout and stderr.
CommandResult run(const std::vector<std::string>& argv, const std::string& input = {},
                  const std::vector<std::string>& extra_env = {});

// Runs the built lxbox binary with `--root root` prepended.
CommandResult run_lxbox(const std::string& root, const std::vector<std::string>& args,
                        const std::string& input = {});
// The `lxbox ps --json` entry of container name in the store at root (null when absent).
nlohmann::json ps_entry(const std::string& root, const std::string& name);

// A fresh directory under /tmp removed (recursively) when the fixture ends.
class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

private:
    std::string path_;
};

// This process's open fds, read in-process ("0 1 2 ..."): listing them with a child process
// (ls /proc/PID/fd) races with the closing of that child's own pipe ends.
std::string open_fds();

// /sys/fs/cgroup and each hierarchy mounted in a directory of it (v1, hybrid): where a test
// looks for, or removes, cgroups it made whatever the layout.
std::vector<std::string> cgroup_roots();

// Path of the busybox rootfs tarball built at build time.
std::string busybox_tarball();

}  // namespace lxbox::test

namespace lxbox::test {

// One line per entry of a tree, sorted: path, type, mode, uid, gid, size, link target, xattrs
// and a content hash — two trees are the same when their listings are equal.
std::string tree_listing(const std::string& root, bool with_mtime = true);

// Reads registry.json of a store as text ("" when absent).
std::string registry_text(const std::string& store_root);

}  // namespace lxbox::test
