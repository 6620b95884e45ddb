// The host binary is never reachable from inside a container (CVE-2019-5736 class): a container
// writes /evil = "#!/proc/self/exe" and runs a watcher (tests/common/exe_watcher.c) that opens
// every /proc/PID/exe naming lxbox and tries to overwrite it; the host then starts /evil in the
// container on each entry path. Each test runs a copy of the built lxbox (its hash checked
// after) with a store of its own. Without the exec stub the kernel ran the host binary inside
// the container, the watcher got a handle to it, and overwrote it once it was no longer busy.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

using nlohmann::json;

// What the stub says when the kernel runs it as /evil's interpreter: proof that
// /proc/self/exe named the stub, not lxbox, when the command was exec'd.
constexpr const char* kStubRefusal = "lxbox-exec: not a program to run";

class ExeEscape : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string exe = dir / "bin/lxbox";  // the "host binary" the container attacks
    std::string out = dir / "out";         // the watcher's report, bind-mounted at /out
    std::string hash_before;
    struct stat exe_stat {};

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
        ASSERT_EQ(::mkdir((dir / "bin").c_str(), 0755), 0);
        ASSERT_EQ(::mkdir(out.c_str(), 0777), 0);
        ASSERT_EQ(run({"cp", LXBOX_BINARY, exe}).exit_code, 0);
        ASSERT_EQ(::stat(exe.c_str(), &exe_stat), 0);
        hash_before = sha256(exe);
        ASSERT_FALSE(hash_before.empty());
    }
    static std::string sha256(const std::string& path) {
        auto r = run({"sha256sum", path});
        return r.exit_code == 0 ? r.out.substr(0, 64) : "";
    }
    std::vector<std::string> env() const { return {"LXBOX_BUSYBOX_TARBALL=" + busybox_tarball()}; }
    CommandResult lxbox(const std::vector<std::string>& args) const {
        std::vector<std::string> argv{exe, "--root", root};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, {}, env());
    }
    // The watcher's command line, as the container runs it.
    std::string watcher_command() const {
        return "/watcher /out/report " + std::to_string(exe_stat.st_dev) + " " + std::to_string(exe_stat.st_ino);
    }
    std::string report() const {
        auto text = read_file(out + "/report");
        return text ? *text : std::string();
    }
    bool wait_report(const std::string& line) const {
        for (int i = 0; i < 1500; ++i) {
            if (report().find(line) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
    // Starts /evil in the container (run_evil) until the watcher has seen an lxbox process
    // (lxbox ran it for a few ms, the stub for well under one: not every try is seen), then
    // checks the verdict: the stub was /evil's interpreter every time, the watcher never held
    // the host binary nor wrote anything, and the binary is unchanged.
    template <typename RunEvil>
    void expect_defended(RunEvil run_evil) {
        for (int i = 0; i < 20 && report().find("seen") == std::string::npos; ++i) {
            const CommandResult r = run_evil();
            EXPECT_NE(r.err.find(kStubRefusal), std::string::npos) << "exit " << r.exit_code << ": " << r.err;
        }
        std::ofstream(out + "/report.stop") << "";
        ASSERT_TRUE(wait_report("done\n")) << report();
        const std::string rep = report();
        EXPECT_EQ(rep.find("host-binary"), std::string::npos) << rep;
        EXPECT_EQ(rep.find("wrote"), std::string::npos) << rep;
        EXPECT_EQ(sha256(exe), hash_before) << rep;
    }
    // A kept container running the watcher; /evil written from inside it.
    void start_watched_container() {
        const std::string script = "printf '#!/proc/self/exe\\n' >/evil && chmod +x /evil && " + watcher_command() +
                                   " & sleep 600";
        auto bg = run({"sh", "-c", exe + " --root " + root + " launch --name victim -T -v " + LXBOX_EXE_WATCHER +
                                       ":/watcher:ro -v " + out + ":/out -- sh -c \"" + script +
                                       "\" >/dev/null 2>&1 & echo started"},
                      {}, env());
        ASSERT_EQ(bg.out, "started\n");
        ASSERT_TRUE(wait_report("ready\n")) << "the watcher did not start";
        // /evil is written before the watcher starts.
    }
    // Removed with the build's own lxbox: the copy may be the one the attack overwrote.
    void TearDown() override {
        if (is_root()) (void)run({LXBOX_BINARY, "--root", root, "rm", "-f", "victim"}, {}, env());
    }
};

TEST_F(ExeEscape, NativeExecCannotReachTheHostBinary) {
    start_watched_container();
    expect_defended([&] { return lxbox({"exec", "victim", "-T", "--", "/evil"}); });
}

TEST_F(ExeEscape, NativeSecondLaunchCannotReachTheHostBinary) {
    start_watched_container();
    expect_defended([&] { return lxbox({"launch", "victim", "-T", "--", "/evil"}); });
}

// `lxbox oci` with a runc-spec bundle of busybox, run detached: no lxbox process stays on the
// host to keep the binary busy.
class OciExeEscape : public ExeEscape {
protected:
    std::string state = dir / "state";
    std::string bundle = dir / "bundle";

    void SetUp() override {
        ExeEscape::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        ASSERT_EQ(::mkdir(bundle.c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((bundle + "/rootfs").c_str(), 0755), 0);
        ASSERT_EQ(run({"tar", "-xf", busybox_tarball(), "-C", bundle + "/rootfs"}).exit_code, 0);
        ASSERT_EQ(run({"cp", LXBOX_EXE_WATCHER, bundle + "/rootfs/watcher"}).exit_code, 0);
        // What the container would write (its root is read-only, as runc spec makes it).
        std::ofstream(bundle + "/rootfs/evil") << "#!/proc/self/exe\n";
        ASSERT_EQ(::chmod((bundle + "/rootfs/evil").c_str(), 0755), 0);
        ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    }
    void TearDown() override {
        for (const auto& id : {"watched", "evil"})
            (void)run({LXBOX_BINARY, "oci", "--root", state, "delete", "--force", id}, {}, env());
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
    CommandResult oci(const std::vector<std::string>& args) const {
        std::vector<std::string> argv{exe, "oci", "--root", state};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, {}, env());
    }
    // runc spec's config (its three capabilities, a read-only root), /out bind-mounted.
    json config(const std::vector<std::string>& args) const {
        const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
        return {{"ociVersion", "1.0.2-dev"},
                {"process",
                 {{"terminal", false},
                  {"user", {{"uid", 0}, {"gid", 0}}},
                  {"args", args},
                  {"env", {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}},
                  {"cwd", "/"},
                  {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
                  {"noNewPrivileges", true}}},
                {"root", {{"path", "rootfs"}, {"readonly", true}}},
                {"hostname", "ocibox"},
                {"mounts",
                 {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                  {{"destination", "/dev"},
                   {"type", "tmpfs"},
                   {"source", "tmpfs"},
                   {"options", {"nosuid", "mode=755"}}},
                  {{"destination", "/out"}, {"type", "bind"}, {"source", out}, {"options", {"rbind", "rw"}}}}},
                {"linux",
                 {{"namespaces", {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}}}}}};
    }
    void write_config(const json& c, const std::string& dir_path) const {
        std::ofstream(dir_path + "/config.json") << c.dump();
    }
    // `oci run -d` of the watcher: the container outlives the lxbox that made it.
    void run_watched_detached() {
        write_config(config({"sh", "-c", watcher_command() + " & sleep 600"}), bundle);
        auto r = run({"sh", "-c", exe + " oci --root " + state + " run -d -b " + bundle +
                                      " watched </dev/null >/dev/null 2>" + dir / "err"},
                     {}, env());
        ASSERT_EQ(r.exit_code, 0) << run({"cat", dir / "err"}).out;
        ASSERT_TRUE(wait_report("ready\n")) << "the watcher did not start";
    }
};

TEST_F(OciExeEscape, OciExecCannotReachTheHostBinary) {
    run_watched_detached();
    expect_defended([&] { return oci({"exec", "watched", "--", "/evil"}); });
}

TEST_F(OciExeEscape, OciRunCannotReachTheHostBinary) {
    run_watched_detached();
    // A second bundle over the same root whose process is /evil itself, in the watcher's pid
    // namespace so that the watcher sees it.
    const std::string pid = std::to_string(json::parse(oci({"state", "watched"}).out)["pid"].get<int>());
    const std::string evil_bundle = dir / "evil-bundle";
    ASSERT_EQ(::mkdir(evil_bundle.c_str(), 0755), 0);
    json c = config({"/evil"});
    c["root"]["path"] = bundle + "/rootfs";
    c["linux"]["namespaces"][0]["path"] = "/proc/" + pid + "/ns/pid";
    write_config(c, evil_bundle);
    expect_defended([&] { return oci({"run", "-b", evil_bundle, "evil"}); });
}

}  // namespace
}  // namespace lxbox::test
