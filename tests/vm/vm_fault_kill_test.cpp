// kill -9 of `vm stop` and `shutdown` with the VM running (issue 23 section 3; the store verbs
// are tests/e2e/fault_kill_test.cpp). Each run boots the VM when it is not up (for shutdown,
// with a native and a vm container running in it), kills the verb with SIGKILL at a seeded
// random moment (LXBOX_FAULT_SEED=N reproduces; a verb that finished first is tried again
// sooner, so each counted run is a kill), then requires:
//   - of the next commands: vm status, ps and check answer (check may repair) at once, a
//     supervisor on its way out included;
//   - that the verb can be redone, and once it is: no QEMU, supervisor or launcher left, no
//     socket in the VM dir, nothing of the store left on the host (tests/common/store_leftovers),
//     nothing running in `ps`;
//   - that the next vm launch works (the next run's preparation).
// 8 kills per verb by default (LXBOX_VM_FAULT_KILLS=N): a run is a TCG boot and a stop.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/common/fault_injection.hpp"
#include "tests/common/store_leftovers.hpp"
#include "tests/vm/vm_cli_suite.hpp"

extern char** environ;

namespace lxbox::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int kills_per_verb() { return count_from_env("LXBOX_VM_FAULT_KILLS", 8); }

class VmFaultKill : public VmCliSuite, public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override {
        VmCliSuite::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        if (!fs::exists(root() + "/images/base")) {
            ASSERT_EQ(run_lxbox(root(), {"import", "base", busybox_tarball()}).exit_code, 0);
        }
    }
    void TearDown() override {
        run_lxbox(root(), {"shutdown", "-t", "0"});
        reap_launchers(std::chrono::seconds(30));
    }

    // In the environment of the launchers the test starts (and so of the supervisor and QEMU
    // they start, and of the native container's processes): what is left of them is found.
    static std::string marker() { return "LXBOX_VM_FAULT_MARK=" + root(); }
    static CommandResult lx(const std::vector<std::string>& args) {
        std::vector<std::string> full{LXBOX_BINARY, "--root", root()};
        full.insert(full.end(), args.begin(), args.end());
        auto r = run(full, {}, {marker()});
        r.err = without_kvm_notice(r.err);
        return r;
    }

    // A kept container running `sleep 1000` in the background (its launcher is our child).
    void start_sleeper(const std::string& name, const std::string& backend) {
        const bool made = ps_entry(root(), name).is_object();
        std::vector<std::string> args{LXBOX_BINARY, "--root", root(), "launch"};
        if (made) args.push_back(name);
        else args.insert(args.end(), {"--backend", backend, "base", "--name", name});
        args.insert(args.end(), {"-e", marker(), "--", "sleep", "1000"});
        std::vector<char*> argv, env;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::string mark = marker();
        for (char** e = environ; *e; ++e) env.push_back(*e);
        env.push_back(mark.data());
        env.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        for (int fd : {0, 1, 2}) posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
        pid_t pid = 0;
        ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), env.data()), 0);
        posix_spawn_file_actions_destroy(&fa);
        launchers_.push_back(pid);
    }
    bool running(const std::string& name) {
        auto e = ps_entry(root(), name);
        return e.is_object() && e["state"] == "running";
    }
    bool vm_running() { return vm_status().value("running", false); }

    // The verb's starting point: the VM up (booted by a vm launch, which must work after every
    // kill); for shutdown, a native and a vm container running besides.
    void prepare(const std::string& verb) {
        if (!vm_running()) {
            auto r = lx({"launch", "--backend", "vm", "--rm", "base", "--", "true"});
            ASSERT_EQ(r.exit_code, 0) << "a vm launch after the kill: " << r.err;
        }
        if (verb != "shutdown") return;
        ASSERT_NO_FATAL_FAILURE(start_sleeper("native", "native"));
        ASSERT_NO_FATAL_FAILURE(start_sleeper("invm", "vm"));
        const auto deadline = Clock::now() + std::chrono::seconds(120);
        while (!(running("native") && running("invm"))) {
            ASSERT_LT(Clock::now(), deadline) << "the containers did not start";
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    // Our background launchers, reaped once they exit; "" when all did within `wait`.
    std::string reap_launchers(std::chrono::seconds wait) {
        const auto deadline = Clock::now() + wait;
        while (!launchers_.empty()) {
            for (auto it = launchers_.begin(); it != launchers_.end();)
                it = ::waitpid(*it, nullptr, WNOHANG) == *it ? launchers_.erase(it) : it + 1;
            if (launchers_.empty() || Clock::now() >= deadline) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::string left;
        for (pid_t p : launchers_) left += "launcher " + std::to_string(p) + " still runs; ";
        return left;
    }

    void after_kill(const std::string& verb, const std::vector<std::string>& redo, int run,
                    std::map<std::string, int>& repaired) {
        const std::string where = verb + " run " + std::to_string(run);
        // The next commands answer at once, whatever state the kill left.
        auto status = lx({"vm", "status", "--json"});
        ASSERT_EQ(status.exit_code, 0) << where << ": " << status.err;
        ASSERT_FALSE(nlohmann::json::parse(status.out, nullptr, false).is_discarded()) << where;
        auto ps = lx({"ps", "--json"});
        ASSERT_EQ(ps.exit_code, 0) << where << ": " << ps.err;
        auto check = lx({"check", "--json"});
        ASSERT_EQ(check.exit_code, 0) << where << ": " << check.out << check.err;
        // The parsed report is kept: a range-for over ["findings"] of the temporary itself read
        // freed memory (ASan: heap-use-after-free; operator[]'s reference does not extend it).
        const auto report = nlohmann::json::parse(check.out);
        for (const auto& f : report.at("findings")) ++repaired[f["kind"].get<std::string>()];
        // The redo finishes the job, and nothing is left behind.
        auto again = lx(redo);
        ASSERT_EQ(again.exit_code, 0) << where << ": the redo failed: " << again.err;
        ASSERT_EQ(reap_launchers(std::chrono::seconds(30)), "") << where;
        ASSERT_EQ(vm_leftovers(), "") << where << " after the redo";
        ASSERT_EQ(store_leftovers(root(), marker()), "") << where << " after the redo";
        ASSERT_FALSE(vm_running()) << where;
        for (const auto& e : nlohmann::json::parse(lx({"ps", "--json"}).out))
            ASSERT_EQ(e["state"], "stopped") << where << ": " << e.dump();
    }

    std::vector<pid_t> launchers_;
};

TEST_P(VmFaultKill, KillNineOfAStopLosesNothing) {
    const std::string verb = GetParam();
    const unsigned seed = fault_seed();
    std::cout << "LXBOX_FAULT_SEED=" << seed << " (verb " << verb << ")" << std::endl;
    RecordProperty("seed", std::to_string(seed));
    std::mt19937 rng(seed);
    const std::vector<std::string> args = verb == "shutdown" ? std::vector<std::string>{"shutdown"}
                                                             : std::vector<std::string>{"vm", "stop"};
    std::vector<std::string> argv{LXBOX_BINARY, "--root", root()};
    argv.insert(argv.end(), args.begin(), args.end());
    // How long one uninterrupted run takes: the range the kill moments are drawn from.
    ASSERT_NO_FATAL_FAILURE(prepare(verb));
    const auto t0 = Clock::now();
    auto whole = lx(args);
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    const auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    ASSERT_EQ(reap_launchers(std::chrono::seconds(30)), "");
    ASSERT_EQ(vm_leftovers(), "") << "after an uninterrupted " << verb;
    std::map<std::string, int> repaired;
    int kills = 0, attempts = 0;
    while (kills < kills_per_verb() && attempts < kills_per_verb() * 20) {
        ASSERT_NO_FATAL_FAILURE(prepare(verb));
        const int tries = kill_somewhere(argv, full, rng, [&] {
            reap_launchers(std::chrono::seconds(30));
            prepare(verb);
        }, {marker()});
        attempts += tries ? tries : 12;
        if (!tries) continue;
        ++kills;
        ASSERT_NO_FATAL_FAILURE(after_kill(verb, args, kills, repaired)) << "LXBOX_FAULT_SEED=" << seed;
    }
    std::cout << verb << ": " << kills << " kills survived of " << kills << " made (" << attempts
              << " attempts, a run takes " << full.count() / 1000 << " ms); lxbox check repaired:";
    for (const auto& [kind, n] : repaired) std::cout << " " << kind << "=" << n;
    std::cout << std::endl;
    EXPECT_EQ(kills, kills_per_verb());
}

INSTANTIATE_TEST_SUITE_P(Verbs, VmFaultKill, ::testing::Values("vm-stop", "shutdown"), [](const auto& info) {
    std::string n = info.param;
    for (auto& c : n)
        if (c == '-') c = '_';
    return n;
});

}  // namespace
}  // namespace lxbox::test
