// `lxbox doctor`'s rows, table and JSON, built from injected facts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "host/backend/doctor_report.hpp"

namespace lxbox::backend {
namespace {

using detect::HostFacts;
using detect::HostOs;
using detect::KvmState;

HostFacts hybrid_root_host() {
    HostFacts f;
    f.os = HostOs::Linux;
    f.kernel_release = "6.18.44";
    f.arch = "x86_64";
    f.distro = "Debian GNU/Linux 12 (bookworm)";
    f.distro_id = "debian";
    f.is_root = true;
    f.uid = 0;
    for (const char* ns : {"user", "mount", "pid", "net", "uts", "ipc", "cgroup"})
        f.namespaces[ns] = {true, "works"};
    f.cgroup = {detect::CgroupLayout::Hybrid, "/sys/fs/cgroup/unified",
                {"cpu", "memory", "pids"},    {},
                {"cpu", "memory", "pids"},    "hybrid: ..."};
    f.overlay = {true, true, "overlay mounted", "overlay mounted in userns"};
    f.seccomp = {true, 0, "filter installs"};
    f.kvm = {KvmState::ProbeOkBootUnverified, 12, "probe ok"};
    f.qemu["qemu-system-x86_64"] = {};
    f.qemu["qemu-system-aarch64"] = {};
    f.guest_arches = {"x86_64"};
    return f;
}

const DoctorCheck* find_check(const DoctorReport& r, const std::string& name) {
    for (const auto& c : r.checks)
        if (c.check == name) return &c;
    return nullptr;
}

TEST(DoctorReport, KvmThatOnlyPassedTheProbeIsNeverCalledUsable) {
    auto r = build_doctor_report(hybrid_root_host());
    const DoctorCheck* kvm = find_check(r, "kvm");
    ASSERT_NE(kvm, nullptr);
    EXPECT_EQ(kvm->status, CheckStatus::Warn);
    EXPECT_NE(kvm->detail.find("present, probe ok, guest boot unverified"), std::string::npos);
    EXPECT_EQ(kvm->detail.find("usable"), std::string::npos);
}

TEST(DoctorReport, BinfmtHandlersSayWhichForeignDistrosRunNatively) {
    HostFacts f = hybrid_root_host();
    const DoctorReport plain = build_doctor_report(f);
    const DoctorCheck* none = find_check(plain, "binfmt_misc");
    ASSERT_NE(none, nullptr);
    EXPECT_EQ(none->fix, "apt-get install qemu-user-static (only for distros of another arch)");
    f.binfmt["aarch64"] = {"qemu-aarch64", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", true, true};
    f.binfmt["riscv64"] = {"qemu-riscv64", "/usr/bin/qemu-riscv64", true, false};
    auto r = build_doctor_report(f);
    const DoctorCheck* some = find_check(r, "binfmt_misc");
    ASSERT_NE(some, nullptr);
    EXPECT_EQ(some->detail, "distros of aarch64 (qemu-aarch64) run natively through their handler; without the F "
                            "flag, unusable in a container: riscv64 (qemu-riscv64)");
    EXPECT_TRUE(some->fix.empty());
}

TEST(DoctorReport, MissingQemuHasAFixLineAndNativeKeepsTheHostUsable) {
    auto r = build_doctor_report(hybrid_root_host());
    EXPECT_TRUE(r.usable);
    EXPECT_EQ(r.automatic.backend, Backend::Native);
    const DoctorCheck* qemu = find_check(r, "qemu-system-x86_64");
    ASSERT_NE(qemu, nullptr);
    EXPECT_EQ(qemu->status, CheckStatus::Fail);
    EXPECT_EQ(qemu->fix, "apt-get install qemu-system-x86");
    std::string table = render_doctor_table(r);
    EXPECT_NE(table.find("fix: apt-get install qemu-system-x86\n"), std::string::npos) << table;
    EXPECT_NE(table.find("lxbox launch would use the native backend."), std::string::npos) << table;
}

TEST(DoctorReport, NoBackendMeansNotUsable) {
    HostFacts f = hybrid_root_host();
    f.overlay = {false, false, "no overlay", "no overlay"};
    auto r = build_doctor_report(f);
    EXPECT_FALSE(r.usable);
    EXPECT_EQ(find_check(r, "backend auto")->status, CheckStatus::Fail);
    EXPECT_NE(render_doctor_table(r).find("no backend can run containers"), std::string::npos);
}

TEST(DoctorReport, FuseOverlayfsIsShownAndStandsInForARefusedOverlayfs) {
    HostFacts f = hybrid_root_host();
    f.is_root = false;
    f.uid = 1000;
    f.overlay.in_userns = false;
    f.overlay.fuse_reason = "fuse-overlayfs is not installed; /dev/fuse opens";
    f.overlay.fuse_device = true;
    auto r = build_doctor_report(f);
    EXPECT_EQ(find_check(r, "overlayfs in userns")->status, CheckStatus::Fail);
    const DoctorCheck* fuse = find_check(r, "fuse-overlayfs");
    ASSERT_NE(fuse, nullptr);
    EXPECT_EQ(fuse->status, CheckStatus::Warn);
    EXPECT_EQ(fuse->fix, "apt-get install fuse-overlayfs (only needed where overlayfs is refused)");
    f.overlay.fuse_program = "/usr/bin/fuse-overlayfs";
    f.overlay.fuse_reason = "/usr/bin/fuse-overlayfs; /dev/fuse opens";
    r = build_doctor_report(f);
    EXPECT_EQ(find_check(r, "fuse-overlayfs")->status, CheckStatus::Ok);
    EXPECT_EQ(find_check(r, "overlayfs in userns")->status, CheckStatus::Warn);
    EXPECT_EQ(find_check(r, "overlayfs in userns")->fix,
              "none needed: rootless containers mount their root with fuse-overlayfs");
}

TEST(DoctorReport, TableColumnsAreAligned) {
    std::string table = render_doctor_table(build_doctor_report(hybrid_root_host()));
    size_t status_col = table.find("STATUS");
    size_t line_start = 0;
    while (line_start < table.size()) {
        size_t end = table.find('\n', line_start);
        std::string line = table.substr(line_start, end - line_start);
        line_start = end + 1;
        if (line.empty() || line.find("fix: ") != std::string::npos ||
            line.rfind("lxbox", 0) == 0 || line.rfind("no backend", 0) == 0)
            continue;
        ASSERT_GT(line.size(), status_col) << line;
        EXPECT_EQ(line[status_col - 1], ' ') << line;
        EXPECT_NE(line[status_col], ' ') << line;
    }
}

TEST(DoctorReport, JsonHasTheDocumentedTopLevelKeys) {
    nlohmann::json j = build_doctor_report(hybrid_root_host());
    for (const char* key : {"schema_version", "usable", "backends", "checks", "host"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j.at("schema_version"), kDoctorSchemaVersion);
    EXPECT_EQ(j.at("backends").at("auto").at("backend"), "native");
    EXPECT_EQ(j.at("backends").at("vm").at("backend"), "none");
    const auto& first = j.at("checks").at(0);
    for (const char* key : {"check", "status", "detail", "fix"})
        EXPECT_TRUE(first.contains(key)) << key;
}

TEST(DoctorReport, RootlessWithoutUserNamespacesSuggestsTheSysctl) {
    HostFacts f = hybrid_root_host();
    f.is_root = false;
    f.uid = 1000;
    f.namespaces["user"] = {false, "unshare(CLONE_NEWUSER): Operation not permitted"};
    f.userns_sysctls.unprivileged_userns_clone = 0;
    auto r = build_doctor_report(f);
    const DoctorCheck* user = find_check(r, "namespace user");
    ASSERT_NE(user, nullptr);
    EXPECT_EQ(user->status, CheckStatus::Fail);
    EXPECT_EQ(user->fix, "sysctl -w kernel.unprivileged_userns_clone=1");
}

TEST(DoctorReport, RootlessWithoutSubordinateIdsSaysWhatBreaksAndHowToFixIt) {
    HostFacts f = hybrid_root_host();
    f.is_root = false;
    f.uid = 1000;
    f.rootless_ids = {0, 0, false, "alice"};
    auto report = build_doctor_report(f);
    const DoctorCheck* c = find_check(report, "rootless ids");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status, CheckStatus::Warn);
    EXPECT_EQ(c->fix, "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice; "
                      "sudo apt-get install uidmap");
    f.rootless_ids = {65536, 65536, true, "alice"};
    report = build_doctor_report(f);
    c = find_check(report, "rootless ids");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status, CheckStatus::Ok);
    EXPECT_NE(c->detail.find("65536 more uids"), std::string::npos);
    // Root needs no mapping: no row.
    report = build_doctor_report(hybrid_root_host());
    EXPECT_EQ(find_check(report, "rootless ids"), nullptr);
}

}  // namespace
}  // namespace lxbox::backend
