// The distro verbs as a user types them: import, list, export, unregister, set-default,
// scripted imports; errors, atomicity under kill -9, and concurrent imports.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/base/unique_fd.hpp"
#include "runtime/store/store.hpp"
#include "tests/common/tarball.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class StoreCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";

    nlohmann::json list_json() {
        auto r = run_lxbox(root, {"list", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return nlohmann::json::parse(r.out);
    }
    bool registered(const std::string& name) {
        for (const auto& d : list_json())
            if (d["name"] == name) return true;
        return false;
    }
    std::string small_tarball(TarFilter f = TarFilter::None, const std::string& name = "small.bin") {
        std::string path = dir / name;
        write_tarball(path,
                      {dir_entry("etc"), file_entry("etc/os-release", "ID=test\n"), dir_entry("bin"),
                       symlink_entry("bin/sh", "/bin/busybox")},
                      f);
        return path;
    }
};

TEST_F(StoreCli, ListRegistersEmbeddedBusyboxOnFirstUse) {
    auto list = list_json();
    ASSERT_EQ(list.size(), 1u) << list.dump();
    EXPECT_EQ(list[0]["name"], "busybox");
    EXPECT_EQ(list[0]["default"], true);
    EXPECT_EQ(list[0]["arch"], "x86_64");
    EXPECT_GT(list[0]["size_bytes"].get<uint64_t>(), 100000u);
    struct stat st;
    EXPECT_EQ(::stat((root + "/images/busybox/rootfs/bin/busybox").c_str(), &st), 0);
}

TEST_F(StoreCli, UnregisteredEmbeddedDistroStaysGone) {
    list_json();
    ASSERT_EQ(run_lxbox(root, {"unregister", "busybox"}).exit_code, 0);
    EXPECT_TRUE(list_json().empty());
}

TEST_F(StoreCli, ImportDetectsEveryCompressionByContent) {
    const std::pair<TarFilter, const char*> filters[] = {{TarFilter::None, "plain"}, {TarFilter::Gzip, "gz"},
                                                         {TarFilter::Xz, "xz"}, {TarFilter::Zstd, "zst"},
                                                         {TarFilter::Bzip2, "bz2"}};
    for (const auto& [f, name] : filters) {
        auto tar = small_tarball(f, std::string(name) + ".bin");
        auto r = run_lxbox(root, {"import", name, tar});
        EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
        std::ifstream in(root + "/images/" + name + "/rootfs/etc/os-release");
        std::string line;
        std::getline(in, line);
        EXPECT_EQ(line, "ID=test") << name;
    }
}

TEST_F(StoreCli, ImportFromStdin) {
    std::ifstream in(small_tarball(TarFilter::Gzip), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});
    auto r = run_lxbox(root, {"import", "piped", "-"}, data);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(registered("piped"));
}

TEST_F(StoreCli, DuplicateNameIsAnErrorUnlessReplace) {
    auto tar = small_tarball();
    ASSERT_EQ(run_lxbox(root, {"import", "a", tar}).exit_code, 0);
    auto r = run_lxbox(root, {"import", "a", tar});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(r.err, "lxbox: import a: a distro named 'a' exists (use --replace)\n");
    write_tarball(dir / "v2.tar", {file_entry("v2", "yes")});
    auto rr = run_lxbox(root, {"import", "--replace", "a", dir / "v2.tar"});
    EXPECT_EQ(rr.exit_code, 0) << rr.err;
    struct stat st;
    EXPECT_EQ(::stat((root + "/images/a/rootfs/v2").c_str(), &st), 0);
    EXPECT_NE(::stat((root + "/images/a/rootfs/etc").c_str(), &st), 0) << "the old tree must be gone";
}

TEST_F(StoreCli, HostileArchiveIsRefusedInOneLineAndRegistersNothing) {
    write_tarball(dir / "evil.tar", {file_entry("ok", "x"), file_entry("../x", "pwned")});
    auto r = run_lxbox(root, {"import", "evil", dir / "evil.tar"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lxbox: import evil: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("../x"), std::string::npos) << r.err;
    struct stat st;
    EXPECT_NE(::stat((dir / "store/images/x").c_str(), &st), 0);
    EXPECT_NE(::stat((dir / "x").c_str(), &st), 0);
    EXPECT_FALSE(registered("evil"));
    EXPECT_EQ(run({"sh", "-c", "ls -A " + root + "/images | grep -v '^busybox$' | wc -l"}).out, "0\n");
}

TEST_F(StoreCli, BadInputGetsOneClearLine) {
    auto missing = run_lxbox(root, {"import", "x", dir / "nope.tar"});
    EXPECT_EQ(missing.exit_code, 125);
    EXPECT_NE(missing.err.find("No such file"), std::string::npos) << missing.err;
    auto badname = run_lxbox(root, {"import", "../x", small_tarball()});
    EXPECT_EQ(badname.exit_code, 125);
    EXPECT_NE(badname.err.find("name '../x'"), std::string::npos) << badname.err;
    auto noexp = run_lxbox(root, {"export", "nosuch", dir / "o.tar"});
    EXPECT_EQ(noexp.exit_code, 125);
    EXPECT_EQ(noexp.err, "lxbox: export nosuch: no distro named 'nosuch'\n");
    auto badext = run_lxbox(root, {"export", "busybox", dir / "o.rar"});
    EXPECT_EQ(badext.exit_code, 125);
    // Nothing half-written under any name: neither the archive nor a temp file beside it.
    EXPECT_EQ(run({"sh", "-c", "ls -A " + dir.path() + " | grep '^o\\.' || true"}).out, "");
}

// The temp file beside the user's archive is made with O_EXCL under a name of its own: a
// symlink planted at the name export once used (by another user of /tmp, say) is neither
// written through nor replaced.
TEST_F(StoreCli, ExportDoesNotWriteThroughALinkPlantedBesideTheArchive) {
    list_json();
    const std::string victim = dir / "victim", out = dir / "out.tar", planted = out + ".lxbox-partial";
    { std::ofstream(victim) << "precious\n"; }
    ASSERT_EQ(::symlink(victim.c_str(), planted.c_str()), 0);
    auto r = run_lxbox(root, {"export", "busybox", out});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto kept = read_file(victim);
    EXPECT_TRUE(kept && *kept == "precious\n") << (kept ? *kept : kept.error().message);
    struct stat st {};
    ASSERT_EQ(::lstat(out.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_GT(st.st_size, 100000);
    char link[4096] = {};
    EXPECT_GT(::readlink(planted.c_str(), link, sizeof link - 1), 0);
    EXPECT_EQ(std::string(link), victim);
    // No temp file of lxbox's stays beside it.
    EXPECT_EQ(run({"ls", "-A", dir.path()}).out, "out.tar\nout.tar.lxbox-partial\nstore\nvictim\n");
}

TEST_F(StoreCli, ExportImportExportRoundTripKeepsTheTree) {
    list_json();
    const std::pair<const char*, const char*> formats[] = {
        {".tar", "rt-tar"}, {".tar.gz", "rt-gz"}, {".tar.xz", "rt-xz"}, {".tar.zst", "rt-zst"}};
    for (const auto& [ext, name] : formats) {
        std::string out = dir / (std::string("bb") + ext);
        auto e = run_lxbox(root, {"export", "busybox", out});
        ASSERT_EQ(e.exit_code, 0) << ext << ": " << e.err;
        auto i = run_lxbox(root, {"import", name, out});
        ASSERT_EQ(i.exit_code, 0) << ext << ": " << i.err;
        EXPECT_EQ(tree_listing(root + "/images/" + std::string(name) + "/rootfs"),
                  tree_listing(root + "/images/busybox/rootfs"))
            << ext;
    }
}

TEST_F(StoreCli, SetDefaultAndUnregisterMoveTheMarker) {
    ASSERT_EQ(run_lxbox(root, {"import", "a", small_tarball()}).exit_code, 0);
    ASSERT_EQ(run_lxbox(root, {"set-default", "a"}).exit_code, 0);
    for (const auto& d : list_json()) EXPECT_EQ(d["default"], d["name"] == "a") << d.dump();
    EXPECT_EQ(run_lxbox(root, {"set-default", "zzz"}).exit_code, 125);
    ASSERT_EQ(run_lxbox(root, {"unregister", "a"}).exit_code, 0);
    auto list = list_json();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["default"], true);
}

TEST_F(StoreCli, UnregisterRefusesWhileContainersExistUnlessForced) {
    ASSERT_EQ(run_lxbox(root, {"import", "a", small_tarball()}).exit_code, 0);
    auto store = store::Store::open(root);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(store->ensure_container("c1", "a").ok());
    auto r = run_lxbox(root, {"unregister", "a"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("has containers (c1)"), std::string::npos) << r.err;
    auto f = run_lxbox(root, {"unregister", "--force", "a"});
    EXPECT_EQ(f.exit_code, 0) << f.err;
    struct stat st;
    EXPECT_NE(::stat((root + "/containers/c1").c_str(), &st), 0);
    EXPECT_EQ(registry_text(root).find("\"c1\""), std::string::npos);
}

// A big tarball fed slowly through a pipe, and lxbox killed with SIGKILL halfway.
TEST_F(StoreCli, KillMidImportLeavesNothingAndTheNextCommandCleansUp) {
    list_json();
    const std::string before = registry_text(root);
    std::vector<TarEntry> entries;
    for (int i = 0; i < 400; ++i) entries.push_back(file_entry("f" + std::to_string(i), std::string(64 * 1024, 'x')));
    write_tarball(dir / "big.tar", entries);
    std::ifstream in(dir / "big.tar", std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});

    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p[0], 0);
        ::close(p[0]);
        ::close(p[1]);
        ::execl(LXBOX_BINARY, "lxbox", "--root", root.c_str(), "-q", "import", "half", "-", nullptr);
        ::_exit(127);
    }
    ::close(p[0]);
    ASSERT_EQ(write(p[1], data.data(), data.size() / 2), static_cast<ssize_t>(data.size() / 2));
    // Wait until the extraction has visibly started, then kill it mid-way.
    for (int i = 0; i < 500; ++i) {
        if (run({"sh", "-c", "ls -d " + root + "/images/.import-* 2>/dev/null"}).exit_code == 0) break;
        ::usleep(10000);
    }
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    ::close(p[1]);
    EXPECT_EQ(run({"sh", "-c", "ls -d " + root + "/images/.import-*"}).exit_code, 0) << "the temp dir should be left";
    EXPECT_EQ(registry_text(root), before);
    EXPECT_FALSE(registered("half"));
    // `list` (any command) removed the dead import's temp dir.
    EXPECT_NE(run({"sh", "-c", "ls -d " + root + "/images/.import-* 2>/dev/null"}).exit_code, 0);
}

TEST_F(StoreCli, EightConcurrentImportsAllEndUpRegistered) {
    auto tar = small_tarball(TarFilter::Gzip);
    list_json();
    std::vector<pid_t> pids;
    for (int i = 0; i < 8; ++i) {
        std::string name = "c" + std::to_string(i);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::execl(LXBOX_BINARY, "lxbox", "--root", root.c_str(), "import", name.c_str(), tar.c_str(), nullptr);
            ::_exit(127);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    auto list = list_json();
    EXPECT_EQ(list.size(), 9u) << list.dump();
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(registered("c" + std::to_string(i))) << i;
}

TEST_F(StoreCli, ScriptedImportOfTheBusyboxManifestAppliesPostImportSteps) {
    auto r = run_lxbox(root, {"import", "bb", "--script", std::string(LXBOX_SOURCE_DIR) + "/distro-images/busybox.json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(root + "/images/bb/rootfs/etc/hostname");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "busybox");
    struct stat st;
    EXPECT_EQ(::stat((root + "/images/bb/rootfs/bin/busybox").c_str(), &st), 0);
}

TEST_F(StoreCli, ScriptedImportWhoseBuildFailsRegistersNothing) {
    std::ofstream(dir / "fail.json") << R"({"name":"f","source":{"build":["sh","-c","tar -cf - -C / etc/hostname; exit 3"]}})";
    auto r = run_lxbox(root, {"import", "--script", dir / "fail.json"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("exited with status 3"), std::string::npos) << r.err;
    EXPECT_FALSE(registered("f"));
}

TEST_F(StoreCli, ScriptedImportVerifiesSha256) {
    auto tar = small_tarball(TarFilter::None, "t.tar");
    std::string sum = run({"sha256sum", tar}).out.substr(0, 64);
    std::ofstream(dir / "good.json") << R"({"name":"g","source":{"tarball":"t.tar"},"sha256":")" << sum << "\"}";
    EXPECT_EQ(run_lxbox(root, {"import", "--script", dir / "good.json"}).exit_code, 0);
    std::string bad = sum;
    bad[0] = bad[0] == '0' ? '1' : '0';
    std::ofstream(dir / "bad.json") << R"({"name":"b","source":{"tarball":"t.tar"},"sha256":")" << bad << "\"}";
    auto r = run_lxbox(root, {"import", "--script", dir / "bad.json"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("sha256 is " + sum), std::string::npos) << r.err;
    EXPECT_FALSE(registered("b"));
}

}  // namespace
}  // namespace lxbox::test

namespace lxbox::test {
namespace {

// debootstrap of bookworm minbase from the mirror apt uses: ~1 minute. Skipped (a failure in
// CI, where the mirror is reachable) only when the mirror cannot be reached.
TEST(StoreCliDebian, ScriptedImportOfTheDebianManifestGivesABookwormRootfs) {
    if (!is_root()) LXBOX_SKIP("debootstrap needs root");
    if (run({"sh", "-c", "timeout 10 bash -c '</dev/tcp/deb.debian.org/80'"}).exit_code != 0)
        LXBOX_SKIP("the Debian mirror deb.debian.org is unreachable from here");
    ScratchDir dir;
    const std::string root = dir / "store";
    auto r = run_lxbox(root, {"import", "--script", std::string(LXBOX_SOURCE_DIR) + "/distro-images/debian.json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ifstream os(root + "/images/debian/rootfs/etc/os-release");
    std::string text((std::istreambuf_iterator<char>(os)), {});
    EXPECT_NE(text.find("VERSION_CODENAME=bookworm"), std::string::npos) << text;
    std::ifstream hn(root + "/images/debian/rootfs/etc/hostname");
    std::string line;
    std::getline(hn, line);
    EXPECT_EQ(line, "debian");
    auto l = run_lxbox(root, {"list", "--json"});
    EXPECT_NE(l.out.find("\"debian\""), std::string::npos) << l.out;
}

}  // namespace
}  // namespace lxbox::test
