// The one backend decision as a user meets it: doctor's "launch would use" is what launch used,
// and a distro of another arch is listed, exported and unregistered as any other, while its
// launch goes where its binaries can run or says in one line what is missing (issue 19).
#include <sys/utsname.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "host/detect/detect.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class BackendCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
    }
    nlohmann::json ps_entry(const std::string& name) {
        auto r = run_lxbox(root, {"ps", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        for (auto& c : nlohmann::json::parse(r.out))
            if (c["name"] == name) return c;
        return nullptr;
    }
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

TEST_F(BackendCli, ADistroOfAnotherArchIsListedExportedAndUnregisteredAndItsLaunchSaysWhatIsMissing) {
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
    auto r = run_lxbox(root, {"launch", "arm64", "--", "uname", "-m"});
    if (handler != handlers.end() && handler->second.fix_binary) {
        // qemu-user-static is registered here: native, through it.
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, "aarch64\n");
    } else {
        // No handler and no aarch64 guest yet: one line naming both, not "Exec format error".
        EXPECT_EQ(r.exit_code, 125);
        EXPECT_EQ(r.err,
                  "lxbox: launch arm64: no backend can run here: native: the distro is aarch64 and the host x86_64, "
                  "with no binfmt_misc handler for aarch64 binaries (qemu-user-static registers one); vm: lxbox has "
                  "no aarch64 guest to boot on this x86_64 host (its VM image is built for x86_64 only)\n");
        EXPECT_TRUE(ps_entry("arm64").is_null()) << "a refused launch registers no container";
        // --backend native is refused the same way, before anything runs.
        auto forced = run_lxbox(root, {"launch", "--rm", "--backend", "native", "arm64", "--", "true"});
        EXPECT_EQ(forced.exit_code, 125);
        EXPECT_NE(forced.err.find("the native backend cannot run here: the distro is aarch64"), std::string::npos)
            << forced.err;
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

}  // namespace
}  // namespace lxbox::test
