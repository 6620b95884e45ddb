// Localhost forwarding for real (issue 20 part 4): servers in vm containers, under QEMU, reached
// on the host's 127.0.0.1 at the same port without -p, with curl and a socket; forwards that go
// when their server or container stops; and the one-line warning for ports that cannot be
// forwarded. All traffic is on the host's loopback and the guest's. The suite ends with
// `lxbox vm stop` (VmCliSuite): no QEMU is left.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/loopback.hpp"
#include "tests/common/test_support.hpp"
#include "tests/vm/vm_cli_suite.hpp"

namespace lxbox::test {
namespace {

using namespace std::chrono_literals;

class VmPortForward : public VmCliSuite {
protected:
    // Whether something on the host's 127.0.0.1 accepts a connection on port.
    static bool accepts(uint16_t port) { return bool(connect_loopback(port)); }
    // Waits (bounded: the test fails rather than hangs) until pred holds.
    template <class Pred>
    static bool eventually(Pred pred) {
        for (int i = 0; i < 1200; ++i) {
            if (pred()) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    static std::string read_text(const std::string& path) {
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    static size_t count(const std::string& text, const std::string& what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
        return n;
    }
};

TEST_F(VmPortForward, ServersInAVmContainerAreReachedOnTheHostsLoopbackUntilTheyOrTheContainerStop) {
    const uint16_t local = free_loopback_port(), any = free_loopback_port();
    const std::string shared = *dir / "fwd";
    run({"mkdir", "-p", shared});
    // One server bound to the guest's 127.0.0.1 only (WSL forwards those too), one to every
    // address; the first stops when the host says so, the second with the container.
    auto kid = spawn_lxbox({"launch", "--rm", "--backend", "vm", "-v", shared + ":/out", "--", "sh", "-c",
                            "mkdir /srv; echo from-vm > /srv/index.html; "
                            "httpd -f -p 127.0.0.1:" + std::to_string(local) + " -h /srv & a=$!; "
                            "httpd -f -p " + std::to_string(any) + " -h /srv & "
                            "while [ ! -e /out/stop ]; do sleep 1; done; kill $a; exec sleep 600"},
                           *dir / "fwd.out", *dir / "fwd.err");
    const std::string url = "http://127.0.0.1:" + std::to_string(local) + "/index.html";
    EXPECT_TRUE(eventually([&] { return run({"curl", "-sS", "--max-time", "10", url}).out == "from-vm\n"; }))
        << read_text(*dir / "fwd.err");
    EXPECT_TRUE(eventually([&] { return http_get(any, "/index.html") == "from-vm\n"; })) << read_text(*dir / "fwd.err");
    const auto forwarded = vm_status().value("forwarded_ports", std::vector<uint16_t>{});
    EXPECT_NE(std::find(forwarded.begin(), forwarded.end(), local), forwarded.end());
    EXPECT_NE(std::find(forwarded.begin(), forwarded.end(), any), forwarded.end());
    // Many connections, one after another, each answered whole.
    for (int i = 0; i < 20; ++i) ASSERT_EQ(http_get(local, "/index.html"), "from-vm\n") << i;
    // The first server exits: its forward goes, the other's stays.
    std::ofstream(shared + "/stop") << "";
    EXPECT_TRUE(eventually([&] { return !accepts(local); }));
    EXPECT_EQ(http_get(any, "/index.html"), "from-vm\n");
    // The container stops: the other forward goes too.
    ::kill(kid.id(), SIGTERM);
    kid.wait();
    EXPECT_TRUE(eventually([&] { return !accepts(any); }));
    const std::string err = without_kvm_notice(read_text(*dir / "fwd.err"));
    EXPECT_EQ(err.find("not forwarded"), std::string::npos) << err;
}

TEST_F(VmPortForward, APortTheHostUsesAndAPortBelow1024AreWarnedAboutOnceAndNotForwarded) {
    uint16_t taken_port = 0;
    UniqueFd taken = listen_loopback(taken_port);
    const std::string q = std::to_string(taken_port);
    auto kid = spawn_lxbox({"launch", "--rm", "--backend", "vm", "--", "sh", "-c",
                            "nc -l -p " + q + " & httpd -f -p 80 -h / & exec sleep 600"},
                           *dir / "warn.out", *dir / "warn.err");
    const std::string used = "lxbox: port " + q + " in the VM is not forwarded to the host's 127.0.0.1:" + q +
                             ": the host already uses it";
    const std::string low = "lxbox: port 80 in the VM is not forwarded to the host's 127.0.0.1: ports below 1024";
    EXPECT_TRUE(eventually([&] {
        const std::string err = read_text(*dir / "warn.err");
        return err.find(used) != std::string::npos && err.find(low) != std::string::npos;
    })) << read_text(*dir / "warn.err");
    // The host's own server still gets what comes to its port.
    ASSERT_TRUE(accepts(taken_port));
    UniqueFd got(::accept4(taken.get(), nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(got);
    ::kill(kid.id(), SIGTERM);
    kid.wait();
    // Said once each, however many times the agent looked while the servers ran.
    const std::string err = read_text(*dir / "warn.err");
    EXPECT_EQ(count(err, used), 1u) << err;
    EXPECT_EQ(count(err, low), 1u) << err;
}

}  // namespace
}  // namespace lxbox::test
