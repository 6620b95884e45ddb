// Many lxbox processes against one store at once: --rm launches, kept containers made and
// removed, two imports of one name racing. Required: no error but the documented "exists" one,
// an intact registry, nothing leaked (mounts, cgroups, processes, fds, temp dirs).
// The full count, 8 x 500 --rm launches, fits CI's budget (83 s on this 2-core host
// under a load of 13), so it runs here; LXBOX_CONCURRENT_LAUNCHES=N changes the count per
// process. tools/bench/concurrency.sh runs the same outside ctest and prints the rate.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/common/store_leftovers.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox {
namespace {

using test::run_lxbox;
namespace fs = std::filesystem;

constexpr int kProcesses = 8;

int launches_per_process() {
    if (const char* s = std::getenv("LXBOX_CONCURRENT_LAUNCHES"); s && *s) return std::atoi(s);
    return 500;
}

class Concurrency : public ::testing::Test {
protected:
    void SetUp() override {
        if (!test::is_root()) LXBOX_SKIP("needs root (containers, cgroups)");
        root_ = scratch_ / "store";
        ASSERT_EQ(run_lxbox(root_, {"import", "base", test::busybox_tarball()}).exit_code, 0);
        fds_before_ = test::open_fds();
    }

    // Runs body(worker) in kProcesses threads (each starts lxbox processes); the failures, one
    // line each.
    std::vector<std::string> in_parallel(const std::function<void(int, std::vector<std::string>&)>& body) {
        std::mutex m;
        std::vector<std::string> errors;
        std::vector<std::thread> threads;
        for (int w = 0; w < kProcesses; ++w)
            threads.emplace_back([&, w] {
                std::vector<std::string> mine;
                body(w, mine);
                std::lock_guard<std::mutex> g(m);
                errors.insert(errors.end(), mine.begin(), mine.end());
            });
        for (auto& t : threads) t.join();
        return errors;
    }

    // Nothing left: registry intact, only registered dirs, no temp files or work dirs, no
    // mounts, no cgroups of this store, this process's fds as before; lxbox check agrees.
    void expect_no_leaks() {
        EXPECT_EQ(test::store_leftovers(root_), "");
        EXPECT_EQ(test::open_fds(), fds_before_);
        auto check = run_lxbox(root_, {"check", "--dry-run", "--json"});
        EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    }

    test::ScratchDir scratch_;
    std::string root_, fds_before_;
};

TEST_F(Concurrency, EightProcessesLaunchThrowawayContainersAtOnceWithoutErrorOrLeak) {
    const int n = launches_per_process();
    std::atomic<int> ok{0};
    auto errors = in_parallel([&](int, std::vector<std::string>& errs) {
        for (int i = 0; i < n; ++i) {
            auto r = run_lxbox(root_, {"launch", "base", "--rm", "--", "true"});
            if (r.exit_code == 0) ++ok;
            else errs.push_back("exit " + std::to_string(r.exit_code) + ": " + r.err);
        }
    });
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, the first: " << errors.front();
    EXPECT_EQ(ok.load(), kProcesses * n);
    std::cout << ok.load() << " concurrent --rm launches (" << kProcesses << " x " << n << "), "
              << errors.size() << " errors" << std::endl;
    expect_no_leaks();
}

TEST_F(Concurrency, KeptContainersAreMadeAndRemovedInParallel) {
    auto errors = in_parallel([&](int w, std::vector<std::string>& errs) {
        for (int i = 0; i < 6; ++i) {
            const std::string name = "c" + std::to_string(w) + "-" + std::to_string(i);
            for (const auto& args : {std::vector<std::string>{"launch", "base", "--name", name, "--", "true"},
                                     std::vector<std::string>{"launch", name, "--", "true"},
                                     std::vector<std::string>{"rm", name}}) {
                auto r = run_lxbox(root_, args);
                if (r.exit_code != 0) errs.push_back(args[0] + " " + name + ": " + r.err);
            }
        }
    });
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, the first: " << errors.front();
    auto reg = nlohmann::json::parse(test::registry_text(root_));
    EXPECT_TRUE(reg["containers"].empty()) << reg.dump();
    expect_no_leaks();
}

TEST_F(Concurrency, TwoImportsOfOneNameRaceOneWinsTheOtherSaysExists) {
    for (int round = 0; round < 10; ++round) {
        std::vector<test::CommandResult> results(2);
        std::thread a([&] { results[0] = run_lxbox(root_, {"import", "race", test::busybox_tarball()}); });
        std::thread b([&] { results[1] = run_lxbox(root_, {"import", "race", test::busybox_tarball()}); });
        a.join();
        b.join();
        int won = 0;
        for (const auto& r : results) {
            if (r.exit_code == 0) ++won;
            else EXPECT_NE(r.err.find("exists"), std::string::npos) << "round " << round << ": " << r.err;
        }
        EXPECT_EQ(won, 1) << "round " << round;
        ASSERT_TRUE(fs::exists(root_ + "/images/race/rootfs/bin/busybox"));
        ASSERT_EQ(run_lxbox(root_, {"launch", "race", "--rm", "--", "true"}).exit_code, 0);
        ASSERT_EQ(run_lxbox(root_, {"unregister", "race"}).exit_code, 0);
    }
    expect_no_leaks();
}

}  // namespace
}  // namespace lxbox
