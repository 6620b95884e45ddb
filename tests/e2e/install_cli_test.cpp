// lxbox as installed software: a copy of the binary alone (no share/lxbox/ beside it), the
// shell completions run in real shells, the man page through man, and --version.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Writes `lxbox completion SHELL` to path.
void write_completion(const std::string& shell, const std::string& path) {
    auto s = run({LXBOX_BINARY, "completion", shell});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    std::ofstream(path) << s.out;
}

// A copy of the built binary in a directory of its own: nothing it ships is found.
class LoneBinary : public ::testing::Test {
  protected:
    ScratchDir dir;
    std::string exe = dir / "bin/lxbox";
    std::string root = dir / "store";
    void SetUp() override {
        std::filesystem::create_directories(dir / "bin");
        std::filesystem::copy_file(LXBOX_BINARY, exe);
    }
    CommandResult lxbox(std::vector<std::string> args) {
        args.insert(args.begin(), {exe, "--root", root});
        return run(args);
    }
};

TEST_F(LoneBinary, LaunchWithoutADistroSaysInOneLineHowToGetOne) {
    auto r = lxbox({"launch", "--", "true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_EQ(r.err,
              "lxbox: no distro to launch: import one (lxbox import NAME ROOTFS.tar.gz, or lxbox import --script "
              "MANIFEST.json), then lxbox launch NAME; the busybox default ships in share/lxbox/ of an installed lxbox\n");
}

TEST_F(LoneBinary, ListImportAndLaunchOfAnotherDistroWork) {
    auto l = lxbox({"list"});
    EXPECT_EQ(l.exit_code, 0) << l.err;
    auto i = lxbox({"import", "mine", busybox_tarball()});
    ASSERT_EQ(i.exit_code, 0) << i.err;
    auto l2 = lxbox({"list", "--json"});
    EXPECT_NE(l2.out.find("\"mine\""), std::string::npos) << l2.out;
    EXPECT_EQ(l2.out.find("\"busybox\""), std::string::npos) << l2.out;
    auto r = lxbox({"launch", "mine", "--rm", "--", "echo", "ran"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "ran\n");
    // The first import became the default distro.
    EXPECT_EQ(lxbox({"launch", "--rm", "--", "true"}).exit_code, 0);
}

TEST_F(LoneBinary, ItsShareLxboxBesideItIsFoundRelativeToTheBinary) {
    std::filesystem::create_directories(dir / "share/lxbox");
    std::filesystem::copy_file(busybox_tarball(), dir / "share/lxbox/busybox-rootfs.tar");
    auto r = lxbox({"launch", "--rm", "--", "cat", "/etc/os-release"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("ID=busybox"), std::string::npos) << r.out;
}

TEST(Version, NamesTheVersionAndACommitAndDoctorJsonHasThem) {
    auto v = run({LXBOX_BINARY, "--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_EQ(v.out.rfind("lxbox 0.", 0), 0u) << v.out;
    // This tree is a git checkout: a commit, not "unknown".
    EXPECT_EQ(v.out.find("(commit unknown)"), std::string::npos) << v.out;
    const std::string commit = v.out.substr(v.out.find("(commit ") + 8, 12);
    auto head = run({"git", "-C", LXBOX_SOURCE_DIR, "rev-parse", "--short=12", "HEAD"});
    EXPECT_EQ(commit, first_line(head.out));
    ScratchDir dir;
    auto d = run_lxbox(dir / "store", {"doctor", "--json"});
    EXPECT_NE(d.out.find("\"commit\": \"" + commit), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("\"version\": \"0."), std::string::npos);
}

// Bash's completion as a user's <TAB> drives it: COMP_WORDS and COMP_CWORD, then COMPREPLY.
class Completion : public ::testing::Test {
  protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string script = dir / "lxbox.bash";
    void SetUp() override { write_completion("bash", script); }
    // The words of the command line, the last being completed; COMPREPLY sorted, one a line.
    std::string bash_complete(std::vector<std::string> words) {
        words.insert(words.begin(), {LXBOX_BINARY, "--root", root});
        std::string program = "source '" + script + "'; COMP_WORDS=(";
        for (const std::string& w : words) program += " '" + w + "'";
        program += " ); COMP_CWORD=" + std::to_string(words.size() - 1) +
                   "; complete -p lxbox >/dev/null || exit 3; _lxbox; printf '%s\\n' \"${COMPREPLY[@]}\" | sort";
        auto r = run({"bash", "-c", program});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.out;
    }
};

TEST_F(Completion, BashCompletesVerbsFlagsAndConfigKeys) {
    EXPECT_EQ(bash_complete({"co"}), "completion\nconfig\n");
    EXPECT_EQ(bash_complete({"config", "g"}), "get\n");
    EXPECT_EQ(bash_complete({"launch", "--pri"}), "--privileged\n");
    EXPECT_EQ(bash_complete({"config", "get", "vm.c"}), "vm.cpus\n");
}

TEST_F(Completion, BashCompletesDistroAndContainerNamesFromTheStore) {
    ASSERT_EQ(run_lxbox(root, {"import", "alpha", busybox_tarball()}).exit_code, 0);
    ASSERT_EQ(run_lxbox(root, {"launch", "alpha", "--name", "web", "--", "true"}).exit_code, 0);
    EXPECT_EQ(bash_complete({"launch", ""}), "alpha\nbusybox\nweb\n");
    EXPECT_EQ(bash_complete({"exec", ""}), "web\n");
    EXPECT_EQ(bash_complete({"set-default", "a"}), "alpha\n");
    EXPECT_EQ(run_lxbox(root, {"rm", "web"}).exit_code, 0);
}

TEST_F(Completion, BashCompletesFilesForATarball) {
    std::ofstream(dir / "rootfs-x.tar") << "";
    EXPECT_EQ(bash_complete({"import", "n", dir / "rootfs-"}), dir / "rootfs-x.tar\n");
}

TEST(CompletionScripts, ZshAndFishScriptsParse) {
    ScratchDir dir;
    for (const char* shell : {"zsh", "fish"}) {
        write_completion(shell, dir / shell);
        auto n = run({shell, "-n", dir / shell});
        EXPECT_EQ(n.exit_code, 0) << shell << ": " << n.err;
        EXPECT_EQ(n.err, "") << shell;
    }
}

// fish's own `complete -C` (what <TAB> runs) with the script loaded and lxbox on PATH.
TEST(CompletionScripts, FishCompletesThroughItsScript) {
    ScratchDir dir;
    write_completion("fish", dir / "lxbox.fish");
    const std::string bin = std::string(LXBOX_BINARY).substr(0, std::string(LXBOX_BINARY).rfind('/'));
    auto r = run({"fish", "-c",
                  "set -x PATH " + bin + " $PATH; source " + dir / "lxbox.fish" +
                      "; complete -C 'lxbox co'; complete -C 'lxbox config get vm.c'"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "completion\nconfig\nvm.cpus\n");
}

// zsh's completion system as <TAB> drives it: an interactive zsh on a pty (zsh_complete.zsh)
// with compinit and the script loaded; the candidates sorted, one a line.
class ZshCompletion : public ::testing::Test {
  protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string script = dir / "lxbox.zsh";
    void SetUp() override { write_completion("zsh", script); }
    std::string complete(const std::string& line) {
        // The binary by its full path: compdef's "lxbox" matches the command's last component.
        const std::string driver = std::string(LXBOX_SOURCE_DIR) + "/tests/e2e/zsh_complete.zsh";
        auto r = run({"timeout", "60", "zsh", "-f", driver, script,
                      std::string(LXBOX_BINARY) + " --root " + root + " " + line});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        auto s = run({"sort"}, r.out);
        return s.out;
    }
};

TEST_F(ZshCompletion, CompletesVerbsFlagsAndConfigKeys) {
    EXPECT_EQ(complete("co"), "completion\nconfig\n");
    EXPECT_EQ(complete("launch --pri"), "--privileged\n");
    EXPECT_EQ(complete("config get vm.c"), "vm.cpus\n");
}

TEST_F(ZshCompletion, CompletesDistroNamesFromTheStore) {
    ASSERT_EQ(run_lxbox(root, {"import", "alpha", busybox_tarball()}).exit_code, 0);
    EXPECT_EQ(complete("set-default a"), "alpha\n");
}

TEST(ManPage, RendersThroughManWithoutWarnings) {
    const std::string page = std::string(LXBOX_BUILD_DIR) + "/host/share/lxbox.1.gz";
    struct stat st;
    ASSERT_EQ(::stat(page.c_str(), &st), 0) << page << " (written at build time)";
    auto r = run({"man", "--warnings", "-l", page}, "", {"MANWIDTH=80"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    for (const char* section : {"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "lxbox launch", "lxbox config get"})
        EXPECT_NE(r.out.find(section), std::string::npos) << section;
}

}  // namespace
}  // namespace lxbox::test
