// main() of the suites that touch the kernel: as root, the whole test process first moves into
// a private mount namespace, so no mount a test makes (or leaks) can propagate to the host.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (::geteuid() == 0) {
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            std::fprintf(stderr, "cannot enter a private mount namespace: %s\n", std::strerror(errno));
            return 1;
        }
    }
    return RUN_ALL_TESTS();
}
