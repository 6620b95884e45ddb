// Native and vm launches mixed against one store and one VM supervisor, at once (issue 23
// section 4): 4 processes launch --rm containers, every other one with --backend vm, so that
// native launches, vm sessions opening and closing, and the supervisor's accept loop all
// overlap. Required: no error, a registry that is intact, no session left open in the
// supervisor, and after `vm stop` no QEMU, supervisor, socket, mount or cgroup of the store.
// LXBOX_VM_CONCURRENT_LAUNCHES=N changes the count per process (default 8: 32 launches);
// tools/bench/concurrency.sh --mixed runs it at full size.
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/common/fault_injection.hpp"
#include "tests/common/store_leftovers.hpp"
#include "tests/vm/vm_cli_suite.hpp"

namespace lxbox::test {
namespace {

constexpr int kProcesses = 4;

class VmConcurrency : public VmCliSuite {};

TEST_F(VmConcurrency, NativeAndVmLaunchesMixedAgainstOneSupervisor) {
    ASSERT_EQ(run_lxbox(root(), {"import", "base", busybox_tarball()}).exit_code, 0);
    const int n = count_from_env("LXBOX_VM_CONCURRENT_LAUNCHES", 8);
    const std::string fds_before = open_fds();
    std::mutex m;
    std::vector<std::string> errors;
    int vm_ok = 0, native_ok = 0;
    std::vector<std::thread> threads;
    for (int w = 0; w < kProcesses; ++w)
        threads.emplace_back([&, w] {
            for (int i = 0; i < n; ++i) {
                // Half of them in the VM, interleaved across the processes.
                const bool vm = (w + i) % 2 == 0;
                auto r = run_lxbox(root(), {"launch", "--rm", "--backend", vm ? "vm" : "native", "base", "--", "sh",
                                            "-c", "echo ok"});
                r.err = without_kvm_notice(r.err);
                std::lock_guard<std::mutex> g(m);
                if (r.exit_code == 0 && r.out == "ok\n" && r.err.empty()) ++(vm ? vm_ok : native_ok);
                else errors.push_back(std::string(vm ? "vm" : "native") + ": exit " + std::to_string(r.exit_code) +
                                      ": " + r.out + r.err);
            }
        });
    for (auto& t : threads) t.join();
    std::cout << vm_ok << " vm and " << native_ok << " native --rm launches at once (" << kProcesses << " x " << n
              << "), " << errors.size() << " errors" << std::endl;
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, the first: " << errors.front();
    EXPECT_EQ(vm_ok + native_ok, kProcesses * n);
    EXPECT_EQ(vm_ok, kProcesses * n / 2);
    const auto status = vm_status();
    EXPECT_TRUE(status.value("running", false));
    EXPECT_EQ(status.value("sessions", -1), 0) << status.dump();
    EXPECT_EQ(store_leftovers(root()), "");
    EXPECT_EQ(open_fds(), fds_before);
    auto check = run_lxbox(root(), {"check", "--dry-run", "--json"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    ASSERT_EQ(run_lxbox(root(), {"vm", "stop"}).exit_code, 0);
    EXPECT_EQ(vm_leftovers(), "");
}

}  // namespace
}  // namespace lxbox::test
