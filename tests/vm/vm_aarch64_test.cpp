// The aarch64 guest (issue 19): an arm64 busybox distro, imported on this x86-64 host with no
// binfmt_misc handler, is launched with plain `lxbox launch`: lxbox sees its arch, boots the
// aarch64 VM (qemu-system-aarch64 -M virt under TCG, Debian's arm64 kernel, the cross-compiled
// agent) and runs the command there, with exit codes, stdin, a pty and -v as on x86-64; the
// x86-64 VM runs beside it, each with its own supervisor, and `vm status` lists both. One store
// for the suite, so the aarch64 VM boots once for all its checks (a TCG boot of it is ~10 s).
// The suite ends with `lxbox vm stop`: no QEMU is left.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_terminal.hpp"
#include "tests/vm/vm_cli_suite.hpp"
#include "tests/vm/vm_fixture.hpp"
#include "tests/vm/vm_registry.hpp"

namespace lxbox::test {
namespace {

using namespace std::chrono_literals;

class VmAarch64 : public VmCliSuite {
protected:
    static std::string fixture() { return std::string(LXBOX_BUILD_DIR) + "/fixtures/busybox-arm64-rootfs.tar"; }

    // The x86-64 guest's image linked in as for every VM suite, and the aarch64 one the same
    // way from a cache of its own (built once per build tree).
    static void SetUpTestSuite() {
        VmCliSuite::SetUpTestSuite();
        const std::string shared = std::string(LXBOX_BUILD_DIR) + "/vm-test-cache-aarch64";
        const std::string vm = root() + "/vm/aarch64";
        run({"mkdir", "-p", vm, shared + "/cache", shared + "/kernel", shared + "/image"});
        for (const char* sub : {"cache", "kernel", "image"}) ::symlink((shared + "/" + sub).c_str(), (vm + "/" + sub).c_str());
    }
    void SetUp() override {
        VmCliSuite::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        ASSERT_TRUE(std::ifstream(fixture())) << "no " << fixture() << ": tools/setup --test makes it";
        if (run_lxbox(root(), {"list", "--json"}).out.find("\"arm64\"") == std::string::npos) {
            auto imported = run_lxbox(root(), {"-q", "import", "arm64", fixture()});
            ASSERT_EQ(imported.exit_code, 0) << imported.err;
        }
    }
    static nlohmann::json vm_of(const nlohmann::json& status, const std::string& arch) {
        for (const auto& v : status.value("vms", nlohmann::json::array()))
            if (v.value("arch", "") == arch) return v;
        return nullptr;
    }
};

// Whether pid runs: a zombie has exited (the supervisor, detached, waits for its reaper).
bool alive(int pid) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (pid <= 0 || !stat) return false;
    const size_t paren = stat->rfind(')');
    return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z';
}

// The checks share the VM the first launch boots.
TEST_F(VmAarch64, PlainLaunchOfAnArm64DistroRunsInTheAarch64Vm) {
    auto r = run_lxbox(root(), {"launch", "--rm", "arm64", "--", "uname", "-m"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "aarch64\n");
    EXPECT_NE(r.err.find("lxbox: running in the VM (aarch64, tcg): not native: the distro is aarch64 and the host "
                         "x86_64, with no binfmt_misc handler"),
              std::string::npos)
        << r.err;
    // Exit codes and stdin, as on x86-64; the notice is said once.
    r = run_lxbox(root(), {"launch", "--rm", "arm64", "--", "sh", "-c", "read x; echo got $x; exit 7"}, "hello\n");
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_EQ(r.out, "got hello\n");
    EXPECT_EQ(r.err, "");
    r = run_lxbox(root(), {"launch", "--rm", "arm64", "--", "wc", "-c"}, std::string(300000, 'x'));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(r.out.find_first_not_of(' ')), "300000\n");
    // -v: a host directory, read and written from the aarch64 guest.
    ScratchDir share;
    ASSERT_TRUE(write_file_atomic(share / "in", "from the host\n"));
    r = run_lxbox(root(), {"launch", "--rm", "-v", share.path() + ":/data", "arm64", "--", "sh", "-c",
                           "cat /data/in; uname -m > /data/out"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "from the host\n");
    auto written = read_file(share / "out");
    ASSERT_TRUE(written) << written.error().message;
    EXPECT_EQ(*written, "aarch64\n");
    // A kept container: ps shows its arch and backend; rm deletes its changes in that VM.
    r = run_lxbox(root(), {"launch", "--name", "arm-kept", "arm64", "--", "sh", "-c", "echo kept > /k"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto entry = ps_entry(root(), "arm-kept");
    EXPECT_EQ(entry.value("arch", ""), "aarch64") << entry.dump();
    EXPECT_EQ(entry.value("backend", ""), "vm") << entry.dump();
    r = run_lxbox(root(), {"launch", "arm-kept", "--", "cat", "/k"});
    EXPECT_EQ(r.out, "kept\n") << r.err;
    EXPECT_EQ(run_lxbox(root(), {"rm", "arm-kept"}).exit_code, 0);
    EXPECT_TRUE(ps_entry(root(), "arm-kept").is_null());
}

TEST_F(VmAarch64, APtyWorksInTheAarch64Vm) {
    TestTerminal term(30, 90, lxbox_on_terminal({"launch", "--rm", "-t", "arm64", "--", "sh"}));
    ASSERT_TRUE(term.ok());
    term.type("uname -m; stty size; echo DONE-$((40+2))\r");
    ASSERT_TRUE(term.read_until("DONE-42", 180s)) << term.output();
    EXPECT_NE(term.output().find("aarch64\r\n30 90\r\n"), std::string::npos) << term.output();
    EXPECT_TRUE(term.is_raw());
    term.type("exit 4\r");
    EXPECT_EQ(term.wait(), 4);
    EXPECT_FALSE(term.is_raw()) << "lxbox left the terminal raw";
}

// Issue 19's "an image pulled for --platform linux/arm64 takes the same path": a multi-platform
// index (amd64: the x86-64 busybox; arm64: Debian's arm64 busybox-static, the distro fixture's
// tar) in a local registry (TLS, htpasswd), pulled for linux/arm64 and launched with no --backend.
TEST_F(VmAarch64, AnImagePulledForLinuxArm64RunsInTheAarch64Vm) {
    if (auto why = VmRegistry::unavailable_reason(); !why.empty()) LXBOX_SKIP(why);
    auto image_of = [](const std::string& arch, const std::string& rootfs) {
        OciImage img;
        img.architecture = arch;
        img.layers = {OciLayer{{}, TarFilter::Gzip, rootfs}, OciLayer{{file_entry("etc/built-for", arch + "\n")}}};
        img.config = {{"Cmd", {"/bin/sh", "-c", "cat /etc/built-for; uname -m"}}};
        return img;
    };
    const std::string layout = *dir / "multi";
    const auto built = write_multi_platform_layout(layout, {image_of("amd64", busybox_tarball()), image_of("arm64", fixture())},
                                                   "v1");
    VmRegistry reg(root());
    const std::string ref = reg.push(layout, "v1", "multi/box");
    auto r = reg.lxbox({"pull", "--platform", "linux/arm64", "--ca-file", reg.ca_file(), ref});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(built[1].manifest), std::string::npos) << r.out;
    auto listed = nlohmann::json::parse(run_lxbox(root(), {"images", "--json"}).out, nullptr, false);
    ASSERT_TRUE(listed.is_object());
    bool seen = false;
    for (const auto& img : listed["images"])
        if (img.value("name", "") == "box-v1") seen = img.value("arch", "") == "aarch64";
    EXPECT_TRUE(seen) << listed.dump();
    // launch REF finds the image pulled from it: its Cmd runs in the aarch64 VM.
    r = run_lxbox(root(), {"launch", "--rm", ref});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "arm64\naarch64\n");
    const std::string disk = root() + "/vm/aarch64/disks/" + built[1].manifest + ".ext4";
    EXPECT_EQ(::access(disk.c_str(), F_OK), 0) << disk;
    EXPECT_EQ(run_lxbox(root(), {"image", "rm", "box-v1"}).exit_code, 0);
    EXPECT_NE(::access(disk.c_str(), F_OK), 0) << disk;
}

TEST_F(VmAarch64, BothArchesVmsRunAtOnceEachOnItsOwnAndStop) {
    auto arm = run_lxbox(root(), {"launch", "--rm", "arm64", "--", "uname", "-m"});
    ASSERT_EQ(arm.exit_code, 0) << arm.err;
    auto x86 = run_lxbox(root(), {"launch", "--rm", "--backend", "vm", "busybox", "--", "uname", "-m"});
    ASSERT_EQ(x86.exit_code, 0) << x86.err;
    EXPECT_EQ(x86.out, "x86_64\n");
    auto status = vm_status();
    const auto a = vm_of(status, "aarch64"), x = vm_of(status, "x86_64");
    ASSERT_TRUE(a.is_object() && x.is_object()) << status.dump();
    EXPECT_EQ(a.value("state", ""), "running") << status.dump();
    EXPECT_EQ(x.value("state", ""), "running") << status.dump();
    EXPECT_EQ(a.value("accel", ""), "tcg");
    EXPECT_NE(a.value("qemu_pid", 0), x.value("qemu_pid", 0));
    EXPECT_NE(a.value("pid", 0), x.value("pid", 0));
    EXPECT_EQ(status.value("arch", ""), "x86_64");  // the host's VM at the top, as before
    auto text = run_lxbox(root(), {"vm", "status"});
    EXPECT_NE(text.out.find("x86_64       running"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("aarch64      running"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("/vm/aarch64/console.log"), std::string::npos) << text.out;
    // One `vm stop` powers both off; nothing of either is left.
    ASSERT_EQ(run_lxbox(root(), {"vm", "stop"}).exit_code, 0);
    status = vm_status();
    EXPECT_EQ(vm_of(status, "aarch64").value("state", ""), "stopped") << status.dump();
    EXPECT_EQ(vm_of(status, "x86_64").value("state", ""), "stopped") << status.dump();
    for (const auto& v : {a, x})
        for (const char* pid : {"pid", "qemu_pid"}) EXPECT_FALSE(alive(v.value(pid, 0))) << pid << " still runs";
    // Images of both arches share the store: unregister takes the arm64 distro's disk from the
    // aarch64 VM's dir as it does the x86-64 one's from the host's.
    const std::string disk = root() + "/vm/aarch64/disks/arm64.ext4";
    ASSERT_EQ(::access(disk.c_str(), F_OK), 0) << disk;
    ASSERT_EQ(run_lxbox(root(), {"unregister", "arm64"}).exit_code, 0);
    EXPECT_NE(::access(disk.c_str(), F_OK), 0) << disk;
    EXPECT_EQ(run_lxbox(root(), {"list", "--json"}).out.find("\"arm64\""), std::string::npos);
}

}  // namespace
}  // namespace lxbox::test
