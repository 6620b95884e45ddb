// kill -9 anywhere loses nothing: each run starts a store verb, kills it with SIGKILL at a
// random moment (seeded: LXBOX_FAULT_SEED=N reproduces a run; the seed is printed), then
// requires of the next commands that the store is consistent (the registry parses, no
// half-imported image is registered, stale work is gone, no mount, cgroup or process is left)
// and that the operation can be redone. A run whose verb finished before the kill landed is
// tried again with a shorter delay, so every counted run is a kill.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/fault_injection.hpp"
#include "tests/common/store_leftovers.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox {
namespace {

using test::run_lxbox;
namespace fs = std::filesystem;

// 9 verbs (launch three ways) x 36 = 324 kills; LXBOX_FAULT_KILLS=N changes the count per verb.
int kills_per_verb() { return test::count_from_env("LXBOX_FAULT_KILLS", 36); }
constexpr const char* kMarker = "LXBOX_FAULT_MARK";

// Waits (10 s at most) until nothing of the killed lxbox lives on: what it started dies on its
// own (PDEATHSIG, or EOF on the sync pipe for a child cloned before it could set PDEATHSIG), but
// not at once. Until then its container is rightly busy to lxbox. A dying process is seen three
// ways, because it drops out of each view at a different moment of its exit: its open files
// (/proc/PID/fd, gone first), its cgroup (/proc/PID/cgroup names a cgroup of the store until its
// very end, while cgroup.procs already leaves out an exiting process), and a container's lock
// (released only when its files are really closed, after the kernel has torn down its mount
// namespace, which with an overlay can take a while in D state).
bool wait_for_no_holders(const std::string& root) {
    struct stat st {};
    ::stat(root.c_str(), &st);
    char id[40];
    std::snprintf(id, sizeof id, "-%llx.%llx-", static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    const std::string store_id = id;
    auto lock_held = [&] {
        std::error_code ec;
        for (const auto& c : fs::directory_iterator(root + "/containers", ec)) {
            const int fd = ::open((c.path() / "lock").c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
            ::close(fd);
            if (held) return true;
        }
        return false;
    };
    for (int tries = 0; tries < 1000; ++tries) {
        bool held = false;
        std::error_code ec;
        for (const auto& p : fs::directory_iterator("/proc", ec)) {
            if (!std::isdigit(static_cast<unsigned char>(p.path().filename().string()[0]))) continue;
            // read_file, not a stream: a process that ends mid-read makes libstdc++'s filebuf throw (ESRCH).
            if (auto groups = read_file((p.path() / "cgroup").string()); groups && groups->find(store_id) != std::string::npos)
                held = true;
            for (const auto& fd : fs::directory_iterator(p.path() / "fd", ec)) {
                if (held) break;
                if (fs::read_symlink(fd.path(), ec).string().rfind(root + "/", 0) == 0) held = true;
            }
            if (held) break;
        }
        if (!held && !lock_held()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

struct Verb {
    std::string name;
    std::function<void()> prepare;                     // the state the verb needs
    std::function<std::vector<std::string>()> argv;    // after `lxbox --root R`
    std::function<bool(const test::CommandResult&)> redo_ok;  // the redo's result is right
};

class FaultKill : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (!test::is_root()) LXBOX_SKIP("needs root (containers, cgroups)");
        root_ = scratch_ / "store";
        tar_ = test::busybox_tarball();
        ASSERT_EQ(run_lxbox(root_, {"import", "base", tar_}).exit_code, 0);
        ASSERT_EQ(run_lxbox(root_, {"import", "other", tar_}).exit_code, 0);
    }

    bool registered(const char* section, const std::string& name) {
        auto reg = nlohmann::json::parse(test::registry_text(root_));
        return reg[section].contains(name);
    }
    test::CommandResult lx(const std::vector<std::string>& args) { return run_lxbox(root_, args); }
    // In the environment of every container the test starts: a process left behind is found by it.
    std::string marker() const { return std::string(kMarker) + "=" + root_; }
    std::vector<std::string> launch(std::vector<std::string> head) {
        head.insert(head.end(), {"-e", marker(), "--", "true"});
        return head;
    }

    Verb verb(const std::string& name) {
        auto ok = [](const test::CommandResult& r) { return r.exit_code == 0; };
        auto ok_or_gone = [](const test::CommandResult& r) {
            return r.exit_code == 0 || r.err.find("no ") != std::string::npos;
        };
        if (name == "import")
            return {name, [&] { if (registered("images", "imp")) lx({"unregister", "imp"}); },
                    [&] { return std::vector<std::string>{"import", "imp", tar_}; },
                    [&](const test::CommandResult& r) {
                        return r.exit_code == 0 || (r.err.find("exists") != std::string::npos && registered("images", "imp"));
                    }};
        if (name == "launch-first")
            return {name, [&] { if (registered("containers", "first")) lx({"rm", "first"}); },
                    [&] { return launch({"launch", "base", "--name", "first"}); }, ok};
        if (name == "launch-kept")
            return {name, [&] { if (!registered("containers", "kept")) lx(launch({"launch", "base", "--name", "kept"})); },
                    [&] { return launch({"launch", "kept"}); }, ok};
        if (name == "launch-rm")
            return {name, [] {}, [&] { return launch({"launch", "base", "--rm"}); }, ok};
        if (name == "rm")
            return {name, [&] { if (!registered("containers", "victim")) lx(launch({"launch", "base", "--name", "victim"})); },
                    [&] { return std::vector<std::string>{"rm", "victim"}; }, ok_or_gone};
        if (name == "unregister")
            return {name,
                    [&] {
                        if (!registered("images", "gone")) lx({"import", "gone", tar_});
                        if (!registered("containers", "gone-c")) lx(launch({"launch", "gone", "--name", "gone-c"}));
                    },
                    [&] { return std::vector<std::string>{"unregister", "gone", "--force"}; }, ok_or_gone};
        if (name == "export")
            return {name, [] {}, [&] { return std::vector<std::string>{"export", "base", scratch_ / "out/base.tar"}; }, ok};
        if (name == "set-default")
            return {name, [] {},
                    [&] { return std::vector<std::string>{"set-default", (flip_ = !flip_) ? "other" : "base"}; }, ok};
        if (name == "config-set")
            return {name, [] {},
                    [&] { return std::vector<std::string>{"config", "set", "vm.cpus", std::to_string(1 + (++n_ % 4))}; }, ok};
        ADD_FAILURE() << "no verb " << name;
        return {};
    }

    // After a kill: the ordinary next command, lxbox check's repair, then the test's own look.
    void after_kill(const Verb& v, int run, std::map<std::string, int>& repaired) {
        const std::string where = v.name + " run " + std::to_string(run);
        ASSERT_TRUE(wait_for_no_holders(root_)) << where << ": a process of the killed lxbox lives on";
        auto list = lx({"list"});
        ASSERT_EQ(list.exit_code, 0) << where << ": " << list.err;
        auto check = lx({"check", "--json"});
        ASSERT_EQ(check.exit_code, 0) << where << ": " << check.out << check.err;
        // The parsed report is kept: a range-for over ["findings"] of the temporary itself read
        // freed memory (ASan: heap-use-after-free; operator[]'s reference does not extend it).
        const auto report = nlohmann::json::parse(check.out);
        for (const auto& f : report.at("findings")) ++repaired[f["kind"].get<std::string>()];
        auto again = lx({"check", "--json", "--dry-run"});
        ASSERT_EQ(again.exit_code, 0) << where << ": " << again.out;
        ASSERT_EQ(test::store_leftovers(root_, marker()), "") << where;
        if (v.name == "export") {
            for (const auto& e : fs::directory_iterator(scratch_ / "out"))
                ASSERT_EQ(e.path().filename().string(), "base.tar") << where << ": a partial export was left";
            if (fs::exists(scratch_ / "out/base.tar"))
                ASSERT_EQ(test::run({"tar", "-tf", scratch_ / "out/base.tar"}).exit_code, 0) << where << ": a torn archive";
        }
        auto redo = lx(v.argv());
        ASSERT_TRUE(v.redo_ok(redo)) << where << ": redo failed: " << redo.err;
        ASSERT_EQ(test::store_leftovers(root_, marker()), "") << where << " after the redo";
    }

    test::ScratchDir scratch_;
    std::string root_, tar_;
    bool flip_ = false;
    int n_ = 0;
};

TEST_P(FaultKill, KillNineAnywhereLosesNothing) {
    const unsigned seed = test::fault_seed();
    std::cout << "LXBOX_FAULT_SEED=" << seed << " (verb " << GetParam() << ")" << std::endl;
    RecordProperty("seed", std::to_string(seed));
    std::mt19937 rng(seed);
    fs::create_directories(scratch_ / "out");
    Verb v = verb(GetParam());
    // How long one uninterrupted run takes: the range the kill moments are drawn from.
    v.prepare();
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(v.redo_ok(lx(v.argv())));
    const auto full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    std::map<std::string, int> repaired;
    int kills = 0, attempts = 0;
    while (kills < kills_per_verb() && attempts < kills_per_verb() * 20) {
        v.prepare();
        std::vector<std::string> argv{LXBOX_BINARY, "--root", root_};
        for (auto& a : v.argv()) argv.push_back(a);
        const int tries = test::kill_somewhere(argv, full, rng, v.prepare);
        attempts += tries ? tries : 12;
        if (!tries) continue;
        ++kills;
        ASSERT_NO_FATAL_FAILURE(after_kill(v, kills, repaired)) << "LXBOX_FAULT_SEED=" << seed;
    }
    std::cout << GetParam() << ": " << kills << " kills survived of " << kills << " made (" << attempts
              << " attempts, a run takes " << full.count() / 1000 << " ms); lxbox check repaired:";
    for (const auto& [kind, n] : repaired) std::cout << " " << kind << "=" << n;
    std::cout << std::endl;
    EXPECT_EQ(kills, kills_per_verb());
}

INSTANTIATE_TEST_SUITE_P(Verbs, FaultKill,
                         ::testing::Values("import", "launch-first", "launch-kept", "launch-rm", "rm", "unregister",
                                           "export", "set-default", "config-set"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (auto& c : n) if (c == '-') c = '_';
                             return n;
                         });

}  // namespace
}  // namespace lxbox
