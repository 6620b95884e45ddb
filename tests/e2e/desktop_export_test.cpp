// A distro app on the host's menu (`lxbox shim --desktop`, issue 20) through the built CLI:
// Debian's xterm (in the fixture tools/fixtures/debian-x11.sh builds) exported from an imported
// Debian, its entry and icon written under the home's data dir, the entry's Exec line run as a
// menu would run it (through lxbox into the distro), and --remove leaving the dirs as they were.
#include <sstream>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

std::string slurp(const std::string& path) {
    auto text = read_file(path);
    return text ? *text : std::string();
}

class DesktopExport : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string home = dir / "home";
    std::string share = home + "/.local/share";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (the Debian fixture)");
        const std::string fixture = std::string(LXBOX_BUILD_DIR) + "/fixtures/debian-x11-rootfs.tar";
        ASSERT_EQ(run({std::string(LXBOX_SOURCE_DIR) + "/tools/fixtures/debian-x11.sh", fixture}).exit_code, 0);
        auto imp = run_lxbox(root, {"import", "dx", fixture});
        ASSERT_EQ(imp.exit_code, 0) << imp.err;
        // A desktop user's data dir: a menu entry of their own, no icons/ yet.
        ASSERT_EQ(run({"mkdir", "-p", share + "/applications"}).exit_code, 0);
        ASSERT_TRUE(write_file_atomic(share + "/applications/mine.desktop", "[Desktop Entry]\nName=Mine\n"));
    }
    CommandResult lx(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"env", "-u", "XDG_DATA_HOME", "HOME=" + home, LXBOX_BINARY, "--root", root};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }
};

TEST_F(DesktopExport, XtermGoesOnTheMenuRunsThroughLxboxAndComesOffAgain) {
    const std::string before = tree_listing(home, false);
    auto r = lx({"shim", "--desktop", "debian-xterm", "--distro", "dx"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string entry = share + "/applications/lxbox-dx-debian-xterm.desktop";
    const std::string icon = share + "/icons/hicolor/scalable/apps/lxbox-dx-mini.xterm.svg";
    EXPECT_EQ(r.out, entry + "\n" + icon + "\n");
    EXPECT_EQ(r.err, "");
    const std::string text = slurp(entry);
    EXPECT_NE(text.find("\nName=XTerm (on dx)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nIcon=lxbox-dx-mini.xterm\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("TryExec"), std::string::npos) << text;
    const std::string exec_prefix = "\nExec=" + std::string(LXBOX_BINARY) + " --root " + root + " launch --integrate dx -- ";
    ASSERT_NE(text.find(exec_prefix + "xterm\n"), std::string::npos) << text;
    // The icon is the distro's scalable one, byte for byte.
    auto svg = run_lxbox(root, {"launch", "--rm", "dx", "--", "cat", "/usr/share/icons/hicolor/scalable/apps/mini.xterm.svg"});
    ASSERT_EQ(svg.exit_code, 0) << svg.err;
    EXPECT_EQ(slurp(icon), svg.out);
    // The Exec line, split as a menu splits it (no quoting in it here), runs the distro's xterm:
    // the host has none.
    ASSERT_NE(run({"sh", "-c", "command -v xterm"}).exit_code, 0) << "the host has an xterm: the test would prove nothing";
    const auto at = text.find("\nExec=") + 6;
    std::istringstream words(text.substr(at, text.find('\n', at) - at));
    std::vector<std::string> argv = {"env", "HOME=" + home};
    for (std::string w; words >> w;) argv.push_back(w);
    argv.push_back("-version");
    auto ran = run(argv);
    EXPECT_EQ(ran.exit_code, 0) << ran.err;
    EXPECT_EQ(ran.out.rfind("XTerm(", 0), 0u) << ran.out << ran.err;
    // Exported again: replaced, not doubled.
    ASSERT_EQ(lx({"shim", "--desktop", "debian-xterm.desktop", "--distro", "dx"}).exit_code, 0);
    EXPECT_EQ(slurp(entry), text);
    // --remove deletes what the export made (icons/ and the dirs under it too) and nothing else.
    auto rm = lx({"shim", "--desktop", "debian-xterm", "--distro", "dx", "--remove"});
    ASSERT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_EQ(rm.out, icon + "\n" + entry + "\n");
    EXPECT_EQ(tree_listing(home, false), before);
    auto again = lx({"shim", "--desktop", "debian-xterm", "--distro", "dx", "--remove"});
    EXPECT_EQ(again.exit_code, 125);
    EXPECT_EQ(again.err, "lxbox: shim --desktop debian-xterm --remove: no " + entry +
                             ": debian-xterm.desktop was not exported from dx\n");
    ASSERT_EQ(run_lxbox(root, {"rm", "dx"}).exit_code, 0);
}

TEST_F(DesktopExport, AMissingAppOrAFileLxboxDidNotWriteIsRefusedAndNothingIsWritten) {
    const std::string before = tree_listing(home, false);
    auto missing = lx({"shim", "--desktop", "nosuch", "--distro", "dx"});
    EXPECT_EQ(missing.exit_code, 125);
    EXPECT_EQ(missing.err, "lxbox: shim --desktop nosuch: no nosuch.desktop in /usr/share/applications of dx\n");
    EXPECT_EQ(tree_listing(home, false), before);
    // A user's own file under the exported name is neither replaced nor removed.
    const std::string theirs = share + "/applications/lxbox-dx-debian-xterm.desktop";
    ASSERT_TRUE(write_file_atomic(theirs, "[Desktop Entry]\nName=Theirs\n"));
    const std::string with_theirs = tree_listing(home, false);
    auto taken = lx({"shim", "--desktop", "debian-xterm", "--distro", "dx"});
    EXPECT_EQ(taken.exit_code, 125);
    EXPECT_NE(taken.err.find("exists and lxbox did not write it for dx: move it away first"), std::string::npos) << taken.err;
    auto rm = lx({"shim", "--desktop", "debian-xterm", "--distro", "dx", "--remove"});
    EXPECT_EQ(rm.exit_code, 125);
    EXPECT_EQ(tree_listing(home, false), with_theirs);
    // Bad use is one line.
    auto both = lx({"shim", "--desktop", "x", "dx", "ls"});
    EXPECT_EQ(both.err, "lxbox: shim --desktop APP takes no CONTAINER CMD nor --dir (--distro names where it runs)\n");
    (void)run_lxbox(root, {"rm", "dx"});
}

}  // namespace
}  // namespace lxbox::test
