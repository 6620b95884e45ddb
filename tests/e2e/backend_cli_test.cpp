// The one backend decision as a user meets it: doctor's "launch would use" is what launch used,
// and a distro of another arch is listed, exported and unregistered as any other, while its
// launch goes where its binaries can run or says in one line what is missing (issue 19).
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "host/detect/detect.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_users.hpp"

namespace lxbox::test {
namespace {

class BackendCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
    }
    nlohmann::json ps_entry(const std::string& name) { return test::ps_entry(root, name); }
    std::string host_arch() {
        utsname u{};
        ::uname(&u);
        return detect::normalize_arch(u.machine);
    }
};

TEST_F(BackendCli, DoctorsAutoBackendIsTheOneLaunchUses) {
    ASSERT_EQ(run_lxbox(root, {"launch", "--rm", "--", "true"}).exit_code, 0);  // makes the store
    auto doctor = run_lxbox(root, {"doctor", "--json"});
    ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
    const auto report = nlohmann::json::parse(doctor.out);
    const std::string automatic = report["backends"]["auto"]["backend"];
    ASSERT_TRUE(automatic == "native" || automatic == "vm") << doctor.out;
    // doctor left the facts it found for launch, which decides from them and says so.
    auto r = run_lxbox(root, {"--log-level", "debug", "launch", "busybox", "--", "true"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("backend " + automatic + ": "), std::string::npos) << r.err;
    EXPECT_EQ(ps_entry("busybox")["backend"], automatic);
    // The same words as doctor's reasons, joined.
    std::string reasons;
    for (const auto& why : report["backends"]["auto"]["reasons"])
        reasons += (reasons.empty() ? "" : "; ") + why.get<std::string>();
    EXPECT_NE(r.err.find(reasons), std::string::npos) << r.err << "\n" << reasons;
}

TEST_F(BackendCli, ADistroOfAnotherArchIsListedExportedAndUnregisteredAndNativeSaysWhatIsMissing) {
    const std::string tar = std::string(LXBOX_BUILD_DIR) + "/fixtures/busybox-arm64-rootfs.tar";
    if (!std::ifstream(tar)) LXBOX_SKIP("no " + tar + ": tools/setup --test makes it");
    if (host_arch() != "x86_64") LXBOX_SKIP("the arm64 fixture is foreign only on x86-64");
    auto imported = run_lxbox(root, {"-q", "import", "arm64", tar});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    auto list = run_lxbox(root, {"list", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    std::string arch;
    for (const auto& d : nlohmann::json::parse(list.out))
        if (d["name"] == "arm64") arch = d["arch"];
    EXPECT_EQ(arch, "aarch64") << list.out;
    EXPECT_NE(run_lxbox(root, {"list"}).out.find("aarch64"), std::string::npos);

    const auto handlers = detect::binfmt_handlers();
    const auto handler = handlers.find("aarch64");
    if (handler != handlers.end() && handler->second.fix_binary) {
        // qemu-user-static is registered here: native, through it.
        auto r = run_lxbox(root, {"launch", "arm64", "--", "uname", "-m"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, "aarch64\n");
    } else {
        // No handler: native is refused in one line, before anything runs, not with "Exec format
        // error". (Plain launch boots the aarch64 VM: tests/vm/vm_aarch64_test.cpp.)
        auto forced = run_lxbox(root, {"launch", "--rm", "--backend", "native", "arm64", "--", "true"});
        EXPECT_EQ(forced.exit_code, 125);
        EXPECT_EQ(forced.err,
                  "lxbox: launch arm64: the native backend cannot run here: the distro is aarch64 and the host "
                  "x86_64, with no binfmt_misc handler for aarch64 binaries (qemu-user-static registers one) "
                  "(--backend vm works on this host)\n");
        EXPECT_TRUE(ps_entry("arm64").is_null()) << "a refused launch registers no container";
    }

    // Export gives back the arm64 binaries as imported.
    const std::string out = dir / "arm64.tar";
    auto exported = run_lxbox(root, {"-q", "export", "arm64", out});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    auto busybox = run({"tar", "-xOf", out, "./bin/busybox"});
    ASSERT_EQ(busybox.exit_code, 0) << busybox.err;
    ASSERT_GT(busybox.out.size(), 20u);
    EXPECT_EQ(static_cast<unsigned char>(busybox.out[18]), 0xb7);  // e_machine EM_AARCH64
    EXPECT_EQ(busybox.out, run({"tar", "-xOf", tar, "./bin/busybox"}).out);

    auto gone = run_lxbox(root, {"unregister", "arm64"});
    ASSERT_EQ(gone.exit_code, 0) << gone.err;
    EXPECT_EQ(run_lxbox(root, {"list", "--json"}).out.find("arm64"), std::string::npos);
}

class BackendRootlessCli : public ::testing::Test {
protected:
    static inline TestUser user{"lxbox-bk-" + std::to_string(::getpid()), 0};
    static inline bool user_ready = false;
    static void SetUpTestSuite() {
        if (::geteuid() == 0) user_ready = make_user(user);
    }
    static void TearDownTestSuite() { delete_user(user); }

    ScratchDir dir;
    std::string lxbox = dir / "bin/lxbox";
    std::string store = dir / "store";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (to create the unprivileged test user)");
        ASSERT_TRUE(user_ready);
        ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
        ASSERT_EQ(run({"install", "-D", "-m", "0755", LXBOX_BINARY, lxbox}).exit_code, 0);
        ASSERT_EQ(::mkdir(store.c_str(), 0700), 0);
        ASSERT_EQ(::chown(store.c_str(), user.uid, user.uid), 0);
        // Where an installed lxbox finds its embedded default distro; where the shims go.
        ASSERT_EQ(run({"install", "-D", "-m", "0644", busybox_tarball(), dir / "share/lxbox/busybox-rootfs.tar"})
                      .exit_code,
                  0);
        ASSERT_EQ(run({"install", "-d", "-o", std::to_string(user.uid), dir / "shims"}).exit_code, 0);
    }
    // lxbox run as the user, under the filter when refuse_userns.
    CommandResult lx(bool refuse_userns, const std::vector<std::string>& args) {
        std::vector<std::string> full = {lxbox, "--root", store};
        full.insert(full.end(), args.begin(), args.end());
        std::vector<std::string> argv = as_user(user, full);
        return run(refuse_userns ? without_user_namespaces(argv, dir.path()) : argv);
    }
    nlohmann::json doctor(bool refuse_userns) {
        auto r = lx(refuse_userns, {"doctor", "--json"});
        EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        EXPECT_TRUE(j.is_object()) << r.out << r.err;
        return j;
    }
    // The backend `lxbox shim` found the busybox distro would run on (its debug line): the
    // launch use case's decision, from the facts cache.
    std::string shim_backend(bool refuse_userns) {
        auto r = lx(refuse_userns, {"--log-level", "debug", "shim", "busybox", "true", "--dir", dir / "shims"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        for (const char* b : {"native", "vm"})
            if (r.err.find(std::string("runs in busybox on the ") + b + " backend") != std::string::npos) return b;
        return r.err;
    }
};

// Where the kernel refuses this user the namespaces native needs (here: a seccomp filter of a
// parent, as inside a docker container), auto takes the VM, says why, and the cache launch
// reads holds that answer only under the same filter.
TEST_F(BackendRootlessCli, RefusedUserNamespacesSendAutoToTheVm) {
    const auto open = doctor(false);
    EXPECT_EQ(open["backends"]["auto"]["backend"], "native") << open.dump(2);
    const auto refused = doctor(true);
    const auto& automatic = refused["backends"]["auto"];
    EXPECT_EQ(automatic["backend"], "vm") << refused.dump(2);
    EXPECT_EQ(automatic["fallback"], true);
    const std::string why = automatic["reasons"][0];
    EXPECT_EQ(why.rfind("not native: user namespaces are unavailable to uid " + std::to_string(user.uid), 0), 0)
        << why;
    EXPECT_NE(why.find("Operation not permitted"), std::string::npos) << why;
    EXPECT_EQ(refused["backends"]["native"]["backend"], "none");
    // Launch's decision reads the cached facts, which hold only under the seccomp mode they were
    // probed in: each change of it is seen.
    EXPECT_EQ(shim_backend(false), "native");
    EXPECT_EQ(shim_backend(true), "vm");
    EXPECT_EQ(shim_backend(false), "native");
}

}  // namespace
}  // namespace lxbox::test
