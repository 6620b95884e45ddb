// The libarchive loader of a dynamic build (LXBOX_STATIC=OFF: runtime/archive/libarchive.cpp,
// compiled here in that mode whatever the build's own), against the real libarchive.so.13 and
// a fake one that lacks all but one function. Each load runs in a child (the loader keeps its
// result for the process, and LD_LIBRARY_PATH is read when a process starts).
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/archive/libarchive.hpp"

extern char** environ;

namespace {

namespace la = lxbox::libarchive;

struct Child {
    int exit_code = -1;
    std::string out;
};

// This program with --load, its stdout captured; env: extra "K=V" entries.
Child load_in_child(const std::vector<std::string>& env) {
    int fds[2];
    if (::pipe(fds) != 0) return {};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<std::string> env_strings(env);
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string self = "/proc/self/exe", flag = "--load";
    char* argv[] = {self.data(), flag.data(), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    Child c;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) c.out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    if (rc != 0) return c;
    int status = 0;
    ::waitpid(pid, &status, 0);
    c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return c;
}

TEST(LibarchiveLoader, TheRealLibraryLoadsWithEveryFunction) {
    const Child c = load_in_child({});
    EXPECT_EQ(c.exit_code, 0) << c.out;
    EXPECT_EQ(c.out, "loaded\n");
}

// The fake library loaded, and its first missing function ended the process with abort()
// (exit 134) in the middle of the work: now load() says which one is missing.
TEST(LibarchiveLoader, ALibraryWithoutAFunctionIsAnErrorOfLoadNotAnAbort) {
    const Child c = load_in_child({"LD_LIBRARY_PATH=" LXBOX_FAKE_LIBARCHIVE_DIR});
    EXPECT_EQ(c.exit_code, 3) << c.out;
    EXPECT_EQ(c.out, "libarchive.so.13 has no symbol archive_entry_filetype: lxbox was built against a newer "
                     "libarchive\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--load") {
        auto loaded = la::load();
        if (!loaded) {
            std::printf("%s\n", loaded.error().message.c_str());
            return 3;
        }
        la::ReadPtr a(la::archive_read_new());
        la::archive_read_support_format_tar(a.get());
        std::printf("loaded\n");
        return 0;
    }
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
