// The paths of this build tree, compiled into this one object only (see test_support.hpp).
#include "tests/common/test_support.hpp"

namespace lxbox::test::build {
const char* const lxbox_binary = LXBOX_BINARY_PATH;
const char* const source_dir = LXBOX_SOURCE_DIR_PATH;
const char* const build_dir = LXBOX_BUILD_DIR_PATH;
const char* const syscall_probe = LXBOX_SYSCALL_PROBE_PATH;
const char* const tty_probe = LXBOX_TTY_PROBE_PATH;
const char* const exe_watcher = LXBOX_EXE_WATCHER_PATH;
}  // namespace lxbox::test::build
