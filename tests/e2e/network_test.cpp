// A default container shares the host's network namespace. Without CAP_NET_RAW, dropped by
// default as podman drops it, it cannot open a raw or packet socket there; given it back with
// --cap-add NET_RAW, a packet socket reads the host's own loopback traffic, which is why it is
// not given by default.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

extern char** environ;

namespace lxbox::test {
namespace {

class HostNetwork : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    const std::string probe_mount = std::string(LXBOX_SYSCALL_PROBE) + ":/probe:ro";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
    }
};

TEST_F(HostNetwork, NoRawOrPacketSocketUnlessNetRawIsAdded) {
    const std::string script = "/probe socket-packet; /probe socket-raw; grep CapEff /proc/self/status";
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "-v", probe_mount, "--", "sh", "-c", script});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "EPERM\nEPERM\nCapEff:\t00000000a80405fb\n");
    r = run_lxbox(root, {"launch", "--rm", "-T", "--cap-add", "NET_RAW", "-v", probe_mount, "--", "sh", "-c", script});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "ok\nok\nCapEff:\t00000000a80425fb\n");
}

// busybox's ping opens a raw ICMP socket only (no ICMP datagram socket): without NET_RAW it
// says so, with it it works (to the host's loopback here).
TEST_F(HostNetwork, BusyboxPingNeedsNetRaw) {
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--", "ping", "-c", "1", "127.0.0.1"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("ping: permission denied (are you root?)"), std::string::npos) << r.err;
    r = run_lxbox(root, {"launch", "--rm", "-T", "--cap-add", "NET_RAW", "--", "ping", "-c", "1", "127.0.0.1"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("1 packets received"), std::string::npos) << r.out;
}

// The sniffer inside, a UDP sender on the host: datagrams to 127.0.0.1 until it sees one.
TEST_F(HostNetwork, WithNetRawAPacketSocketReadsTheHostsLoopbackTraffic) {
    const int port = 40000 + ::getpid() % 20000;
    const std::vector<std::string> argv = {LXBOX_BINARY, "--root", root, "launch", "--rm", "-T", "--cap-add", "NET_RAW",
                                           "-v", probe_mount, "--", "/probe", "sniff-udp", std::to_string(port)};
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    UniqueFd reader(out[0]), writer(out[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, writer.get(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    ASSERT_EQ(::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    writer.reset();

    UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(udp);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string payload = "from the host: lxbox-sniff";
    std::string seen;
    // The sniffer gives up after 20 s without a match; each round sends once it listens.
    for (int round = 0; round < 2000; ++round) {
        struct pollfd p {reader.get(), POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) {
            char buf[256];
            const ssize_t n = ::read(reader.get(), buf, sizeof buf);
            if (n <= 0) break;  // the sniffer ended
            seen.append(buf, static_cast<size_t>(n));
        }
        if (seen.find("listening") != std::string::npos)
            ::sendto(udp.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_EQ(seen, "listening\nseen\n");
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace lxbox::test
