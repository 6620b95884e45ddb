// The exec stub (runtime/linux/exec_stub.hpp) every command in a container is exec'd through:
// its copy is sealed, it does execvp's search and fallbacks, and it reports a command that
// cannot be exec'd as lxbox's child does (the JSON the parent reads, 127/126).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/exec_stub.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

struct StubRun {
    int exit_code = -1;
    std::string out, err, report;
};

// Runs the stub as lxbox does (execveat of the sealed fd) with its report going to a pipe
// (report = true) or to stderr.
StubRun run_stub(const std::string& file, const std::vector<std::string>& argv, const std::vector<std::string>& env,
                 bool report = true) {
    auto fd = linux_fx::exec_stub_fd();
    EXPECT_TRUE(fd.ok());
    Pipe out = make_pipe().value(), err = make_pipe().value(), rep = make_pipe().value();
    const auto args = linux_fx::exec_stub_argv(report ? rep.write.get() : -1, file, argv);
    std::vector<char*> av, ev;
    for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
    ev.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out.write.get(), 1);
        ::dup2(err.write.get(), 2);
        ::fcntl(rep.write.get(), F_SETFD, 0);  // as exec_command leaves it
        ::syscall(SYS_execveat, *fd, "", av.data(), ev.data(), AT_EMPTY_PATH);
        ::_exit(99);
    }
    out.write.reset();
    err.write.reset();
    rep.write.reset();
    StubRun r;
    r.out = *read_all(out.read.get());
    r.err = *read_all(err.read.get());
    r.report = *read_all(rep.read.get());
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

TEST(ExecStub, ItsCopyIsSealedAndTheSameForTheProcess) {
    auto fd = linux_fx::exec_stub_fd();
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_EQ(*linux_fx::exec_stub_fd(), *fd);
    const int seals = ::fcntl(*fd, F_GET_SEALS);
    for (int s : {F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE}) EXPECT_TRUE(seals & s) << seals;
    // What the attack does with /proc/PID/exe: reopen it for writing, then write.
    UniqueFd w(::open(("/proc/self/fd/" + std::to_string(*fd)).c_str(), O_WRONLY | O_CLOEXEC));
    if (w) {
        EXPECT_EQ(::pwrite(w.get(), "PWN", 3, 0), -1);
        EXPECT_EQ(errno, EPERM);
    }
    EXPECT_NE(::ftruncate(*fd, 0), 0);
}

TEST(ExecStub, RunsTheCommandFoundOnThePathOfItsEnvironment) {
    auto r = run_stub("sh", {"named-sh", "-c", "echo $0 $ONLY"}, {"PATH=/nonexistent:/bin:/usr/bin", "ONLY=this"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "named-sh this\n");
    EXPECT_EQ(r.report, "");  // closed at the command's exec: lxbox reads "started"
}

TEST(ExecStub, AFileWithoutAnInterpreterLineRunsUnderSh) {
    ScratchDir dir;
    std::ofstream(dir / "script") << "echo from sh $1\n";
    ASSERT_EQ(::chmod((dir / "script").c_str(), 0755), 0);
    auto r = run_stub(dir / "script", {"script", "arg"}, {"PATH=/bin:/usr/bin"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "from sh arg\n");
}

TEST(ExecStub, ReportsWhatCouldNotBeExecdAsLxboxsChildDoes) {
    auto missing = run_stub("no-such-command", {"no-such-command"}, {"PATH=/bin"});
    EXPECT_EQ(missing.exit_code, 127);
    auto j = nlohmann::json::parse(missing.report);
    EXPECT_EQ(j["exit_code"], 127);
    EXPECT_EQ(j["error"]["errno"], ENOENT);
    EXPECT_EQ(j["error"]["message"], "exec no-such-command: No such file or directory");

    auto not_exec = run_stub("/etc/hostname\"x", {"x"}, {});
    EXPECT_EQ(not_exec.exit_code, 127);
    EXPECT_EQ(nlohmann::json::parse(not_exec.report)["error"]["message"],
              "exec /etc/hostname\"x: No such file or directory");

    ScratchDir dir;
    std::ofstream(dir / "data") << "x";
    auto denied = run_stub(dir / "data", {"data"}, {});
    EXPECT_EQ(denied.exit_code, 126);
    EXPECT_EQ(nlohmann::json::parse(denied.report)["error"]["errno"], EACCES);
    // Without a report fd (a created container whose creator is gone): one line on stderr.
    auto quiet = run_stub("no-such-command", {"x"}, {"PATH=/bin"}, false);
    EXPECT_EQ(quiet.exit_code, 127);
    EXPECT_EQ(quiet.err, "lxbox: exec no-such-command: No such file or directory\n");
}

TEST(ExecStub, AsAScriptsInterpreterItRunsNothing) {
    // `#!/proc/self/exe` exec'd by the stub names the stub itself: it refuses.
    ScratchDir dir;
    std::ofstream(dir / "evil") << "#!/proc/self/exe\n";
    ASSERT_EQ(::chmod((dir / "evil").c_str(), 0755), 0);
    auto r = run_stub(dir / "evil", {"evil"}, {});
    EXPECT_EQ(r.exit_code, 127);
    EXPECT_NE(r.err.find("lxbox-exec: not a program to run"), std::string::npos) << r.err;
}

TEST(ExecStub, ArgvCarriesTheReportFdTheFileAndTheCommandsArgv) {
    EXPECT_EQ(linux_fx::exec_stub_argv(7, "ls", {"ls", "-l"}),
              (std::vector<std::string>{"lxbox-exec", "--lxbox-exec-stub", "7", "ls", "ls", "-l"}));
}

}  // namespace
}  // namespace lxbox::test
