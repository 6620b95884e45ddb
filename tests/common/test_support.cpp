#include "tests/common/test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "runtime/base/unique_fd.hpp"

extern char** environ;

namespace lxbox::test {

bool skips_forbidden() {
    const char* v = std::getenv("LXBOX_NO_SKIP");
    return v && std::string(v) == "1";
}

bool is_root() { return ::geteuid() == 0; }

CommandResult run(const std::vector<std::string>& argv, const std::string& input,
                  const std::vector<std::string>& extra_env) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
        throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
    for (auto& e : extra_env) env_store.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid;
    int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        throw std::runtime_error("spawn " + argv[0] + ": " + std::strerror(rc));
    }
    CommandResult r;
    size_t written = 0;
    int in_fd = in[1];
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    } else {
        ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    }
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        struct pollfd p[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                              {err_open ? err[0] : -1, POLLIN, 0},
                              {in_fd, POLLOUT, 0}};
        if (::poll(p, 3, -1) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = ::read(p[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    (i == 0 ? out_open : err_open) = false;
                } else {
                    (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
                }
            }
        }
        if (in_fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<size_t>(n);
            if (n < 0 || written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    if (in_fd >= 0) ::close(in_fd);
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

CommandResult run_lxbox(const std::string& root, const std::vector<std::string>& args,
                        const std::string& input) {
    std::vector<std::string> argv{LXBOX_BINARY, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input);
}

ScratchDir::ScratchDir() {
    char tmpl[] = "/tmp/lxbox-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
}

ScratchDir::~ScratchDir() { (void)lxbox::remove_tree(path_); }

std::string busybox_tarball() { return std::string(LXBOX_BUILD_DIR) + "/distro-images/busybox-rootfs.tar"; }

}  // namespace lxbox::test
