#include "tests/common/fault_injection.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

extern char** environ;

namespace lxbox::test {

unsigned fault_seed() {
    if (const char* s = std::getenv("LXBOX_FAULT_SEED"); s && *s) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    return static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
}

int count_from_env(const char* name, int fallback) {
    if (const char* s = std::getenv(name); s && *s) return std::atoi(s);
    return fallback;
}

bool run_and_kill(const std::vector<std::string>& argv, std::chrono::microseconds delay,
                  const std::vector<std::string>& extra_env) {
    std::vector<char*> args, env;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (char** e = environ; *e; ++e) env.push_back(*e);
    for (const auto& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execve(args[0], args.data(), env.data());
        ::_exit(127);
    }
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

int kill_somewhere(const std::vector<std::string>& argv, std::chrono::microseconds full, std::mt19937& rng,
                   const std::function<void()>& prepare, const std::vector<std::string>& extra_env) {
    auto delay = std::chrono::microseconds(std::uniform_int_distribution<long>(0, full.count())(rng));
    for (int tries = 1; tries <= 12; ++tries, delay /= 2) {
        if (run_and_kill(argv, delay, extra_env)) return tries;
        prepare();
    }
    return 0;
}

}  // namespace lxbox::test
