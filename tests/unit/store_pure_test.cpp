// Pure decisions of the store and the distro CLI: names, roots, work-dir ownership, manifests.
#include <elf.h>
#include <gtest/gtest.h>

#include "host/cli/progress.hpp"
#include "host/distro/manifest.hpp"
#include "runtime/store/images.hpp"
#include "runtime/store/stale.hpp"
#include "runtime/store/store.hpp"

namespace lxbox {
namespace {

TEST(StoreNames, AcceptsDistroLikeNames) {
    for (const char* n : {"debian", "Ubuntu-24.04", "my_box", "a", "x1.2-3_4"})
        EXPECT_TRUE(store::validate_name(n).ok()) << n;
}

TEST(StoreNames, RefusesPathsAndOddNames) {
    for (const char* n : {"", "..", ".hidden", "-flag", "a/b", "../x", "a b", "ünicode", "x\n"})
        EXPECT_FALSE(store::validate_name(n).ok()) << n;
    EXPECT_FALSE(store::validate_name(std::string(65, 'a')).ok());
    EXPECT_EQ(store::validate_name("a/b").error().kind, ErrorKind::Invalid);
    // Whatever the name holds, the error is one line (the registry_json fuzz target found "x\n").
    EXPECT_EQ(store::validate_name("x\n\x01").error().message,
              "name 'x\\n\\x01' may hold only letters, digits, '.', '_' and '-'");
}

// registry.json's names become paths that removals delete (images/NAME, containers/NAME,
// layers/sha256/HEX): a file naming "../x" must not load (found writing the registry_json fuzz
// target's properties: before, any string loaded).
TEST(StoreRegistryFile, RefusesNamesNoWriterWouldHaveAccepted) {
    const std::string layer = "sha256:" + std::string(64, 'a');
    auto parse = [](const nlohmann::json& j) { return store::parse_registry(j.dump(), "/s/registry.json"); };
    const nlohmann::json good = {
        {"images", {{"alpine", {{"name", "alpine"}, {"layers", {layer}}}}}},
        {"containers", {{"web", {{"name", "web"}, {"image", "alpine"}}}}},
        {"layers", {{layer, {{"size_bytes", 1}}}}}};
    auto ok = parse(good);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(ok->containers.at("web").image, "alpine");
    std::vector<nlohmann::json> bad(6, good);
    bad[0]["images"]["../../etc"] = {{"name", "../../etc"}};
    bad[1]["images"]["alpine"]["name"] = "other";
    bad[2]["images"]["alpine"]["layers"] = {"sha256:../../x"};
    bad[3]["containers"]["../x"] = {{"name", "../x"}, {"image", "alpine"}};
    bad[4]["containers"]["web"]["image"] = "../alpine";
    bad[5]["layers"]["sha256:/etc"] = {{"size_bytes", 1}};
    for (size_t i = 0; i < bad.size(); ++i) {
        auto r = parse(bad[i]);
        ASSERT_FALSE(r) << i;
        EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << i;
        EXPECT_TRUE(r.error().message.starts_with("read /s/registry.json: ")) << r.error().message;
    }
}

TEST(StoreRoot, PrefersExplicitEnvThenXdgThenHome) {
    EXPECT_EQ(store::default_root("/r", "/x", "/h"), "/r");
    EXPECT_EQ(store::default_root(nullptr, "/x", "/h"), "/x/lxbox");
    EXPECT_EQ(store::default_root("", "", "/h"), "/h/.local/share/lxbox");
    EXPECT_EQ(store::default_root(nullptr, nullptr, nullptr), "/var/lib/lxbox");
}

TEST(StoreWorkDirs, NameRoundTripsOwner) {
    store::WorkOwner o{1234, 987654321};
    auto name = store::work_dir_name("import", o, "debian-12");
    EXPECT_EQ(name, ".import-1234-987654321-debian-12");
    auto back = store::parse_work_dir_name(name);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->pid, 1234);
    EXPECT_EQ(back->start_time, 987654321u);
}

TEST(StoreWorkDirs, IgnoresNamesItDidNotMake) {
    for (const char* n : {"debian", ".import", ".import-x-1-a", ".import-12-", ".trash--1-2-a", ".import-0-5-a"})
        EXPECT_FALSE(store::parse_work_dir_name(n)) << n;
}

TEST(StoreArch, MapsElfMachines) {
    EXPECT_EQ(store::arch_from_elf_machine(EM_X86_64), "x86_64");
    EXPECT_EQ(store::arch_from_elf_machine(EM_AARCH64), "aarch64");
    EXPECT_EQ(store::arch_from_elf_machine(0xffff), "");
}

TEST(Progress, FormatsBytesAndRates) {
    EXPECT_EQ(cli::format_bytes(512), "512 B");
    EXPECT_EQ(cli::format_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    EXPECT_EQ(cli::format_progress("importing x", 50u << 20, 100u << 20, 2.0),
              "importing x  50.0 MiB / 100.0 MiB   50%  25.0 MiB/s");
    EXPECT_EQ(cli::format_progress("importing x", 1024, 0, 0.0), "importing x  1.0 KiB");
}

TEST(Manifest, ParsesTarballSourceRelativeToItsDirectory) {
    auto m = distro::parse_manifest(R"({"name":"deb","arch":"x86_64","source":{"tarball":"r.tar.zst"},
        "sha256":"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        "post_import":[{"write":{"path":"/etc/hostname","content":"deb\n","mode":"0600"}}]})",
                                    "/srv/m");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->tarball, "/srv/m/r.tar.zst");
    EXPECT_TRUE(m->build.empty());
    EXPECT_EQ(m->sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    ASSERT_EQ(m->post_import.size(), 1u);
    EXPECT_EQ(m->post_import[0].mode, 0600u);
}

TEST(Manifest, ParsesBuildCommand) {
    auto m = distro::parse_manifest(R"({"name":"bb","source":{"build":["sh","build.sh","--x"]}})", "/d");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->build, (std::vector<std::string>{"sh", "build.sh", "--x"}));
    EXPECT_EQ(m->directory, "/d");
}

TEST(Manifest, RefusesBadManifestsNamingTheField) {
    struct Case {
        const char* text;
        const char* expect;
    } cases[] = {
        {"not json", "not valid JSON"},
        {R"([])", "JSON object"},
        {R"({"source":{"tarball":"x"}})", "'name'"},
        {R"({"name":"../x","source":{"tarball":"x"}})", "name '../x'"},
        {R"({"name":"a"})", "'source'"},
        {R"({"name":"a","source":{"tarball":"x","build":["y"]}})", "exactly one"},
        {R"({"name":"a","source":{"build":[]}})", "source.build"},
        {R"({"name":"a","source":{"tarball":"x"},"sha256":"12"})", "64 hex"},
        {R"({"name":"a","source":{"tarball":"x"},"post_import":[{"run":["x"]}]})", "write"},
        {R"({"name":"a","source":{"tarball":"x"},"post_import":[{"write":{"path":"rel","content":""}}]})", "absolute"},
        {R"({"name":"a","source":{"tarball":"x"},"post_import":[{"write":{"path":"/a","content":"","mode":"999"}}]})", "mode"},
    };
    for (const auto& c : cases) {
        auto m = distro::parse_manifest(c.text, "/d");
        ASSERT_FALSE(m.ok()) << c.text;
        EXPECT_NE(m.error().message.find(c.expect), std::string::npos) << c.text << " → " << m.error().message;
        EXPECT_EQ(m.error().kind, ErrorKind::Invalid);
    }
}

}  // namespace
}  // namespace lxbox

#include "host/cli/app.hpp"

namespace lxbox {
namespace {

TEST(ShimArgv, SymlinkNamedAfterADistroLaunchesIt) {
    using V = std::vector<std::string>;
    EXPECT_EQ(cli::expand_shim_argv(V{"/usr/local/bin/debian", "ls", "-l"}),
              (V{"lxbox", "launch", "debian", "--", "ls", "-l"}));
    EXPECT_EQ(cli::expand_shim_argv(V{"debian"}), (V{"lxbox", "launch", "debian", "--"}));
}

TEST(ShimArgv, LxboxItselfIsUnchanged) {
    using V = std::vector<std::string>;
    EXPECT_EQ(cli::expand_shim_argv(V{"/work/build/host/lxbox", "list"}), (V{"/work/build/host/lxbox", "list"}));
    EXPECT_EQ(cli::expand_shim_argv(V{"lxbox"}), (V{"lxbox"}));
}

}  // namespace
}  // namespace lxbox
