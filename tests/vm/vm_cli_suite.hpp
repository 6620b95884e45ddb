// The fixture of the suites that drive `lxbox` against a real VM: one store per suite, with
// the guest image the other VM tests use (built once per build tree) linked in instead of
// fetched and built again; the suite ends with `lxbox vm stop`, so no QEMU is left.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"
#include "tests/vm/vm_fixture.hpp"

namespace lxbox::test {

class VmCliSuite : public ::testing::Test {
protected:
    static inline ScratchDir* dir = nullptr;
    static std::string root() { return *dir / "store"; }

    static void SetUpTestSuite() {
        dir = new ScratchDir;
        auto image = test_guest_image();
        if (!image) return;
        const std::string shared = std::string(LXBOX_BUILD_DIR) + "/vm-test-cache";
        const std::string vm = root() + "/vm";
        run({"mkdir", "-p", vm});
        for (const char* sub : {"cache", "kernel", "image"}) ::symlink((shared + "/" + sub).c_str(), (vm + "/" + sub).c_str());
    }
    static void TearDownTestSuite() {
        run_lxbox(root(), {"vm", "stop"});
        delete dir;
        dir = nullptr;
    }
    void SetUp() override {
        if (auto why = vm_unavailable_reason(); !why.empty()) LXBOX_SKIP(why);
        if (!is_root()) LXBOX_SKIP("needs root (the store's imports keep owners)");
        auto image = test_guest_image();
        ASSERT_TRUE(image) << image.error().message;
    }
    // Each suite has a store of its own, so on a host whose KVM fails (nested, or QEMU aborting, as here at
    // times) the first boot says once that it fell back to TCG: expected, and not what these
    // tests look at.
    static std::string without_kvm_notice(const std::string& err) {
        static const std::regex kvm_notice("lxbox: KVM (did not|could not) boot the VM[^\n]*\n");
        return std::regex_replace(err, kvm_notice, "");
    }
    static nlohmann::json vm_status() {
        auto r = run_lxbox(root(), {"vm", "status", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return nlohmann::json::parse(r.out, nullptr, false);
    }
    // What a VM leaves when it is not stopped cleanly: processes of this store (QEMU, the
    // supervisor, a launcher: their command line names it) and sockets in the VM dir. "" when
    // none is left.
    static std::string vm_leftovers() {
        namespace fs = std::filesystem;
        std::string bad;
        for (const auto& p : fs::directory_iterator("/proc")) {
            if (!std::isdigit(static_cast<unsigned char>(p.path().filename().string()[0]))) continue;
            std::ifstream cmd(p.path() / "cmdline"), st(p.path() / "stat");
            const std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
            std::string pid, comm, state;
            st >> pid >> comm >> state;
            if (state != "Z" && cmdline.find(root() + "/") != std::string::npos)
                bad += "process " + pid + " " + comm + " left; ";
        }
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(root() + "/vm", ec); it != fs::recursive_directory_iterator();
             it.increment(ec))
            if (it->is_socket()) bad += "socket " + it->path().string() + " left; ";
        return bad;
    }
    // lxbox in the background, its output in files of the scratch dir.
    static boost::process::child spawn_lxbox(const std::vector<std::string>& args, const std::string& out,
                                             const std::string& err) {
        std::vector<std::string> full{"--root", root()};
        full.insert(full.end(), args.begin(), args.end());
        return boost::process::child(LXBOX_BINARY, boost::process::args(full), boost::process::std_in < boost::process::null,
                                     boost::process::std_out > out, boost::process::std_err > err);
    }
    // The body of GET path from 127.0.0.1:port ("" when nothing answers). Our own client: the
    // host's static busybox wget crashes resolving names.
    static std::string http_get(int port, const std::string& path) {
        UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{5, 0};
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "";
        const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
        if (!write_all(fd.get(), request)) return "";
        std::string reply;
        char buf[4096];
        for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) reply.append(buf, static_cast<size_t>(n));
        auto body = reply.find("\r\n\r\n");
        return body == std::string::npos ? "" : reply.substr(body + 4);
    }
    // What a TestTerminal's child runs: lxbox with args, on that terminal.
    static std::function<int()> lxbox_on_terminal(std::vector<std::string> args) {
        args.insert(args.begin(), {LXBOX_BINARY, "--root", root()});
        return [args] {
            std::vector<char*> argv;
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execv(LXBOX_BINARY, argv.data());
            return 127;
        };
    }
};

}  // namespace lxbox::test
