#include "registry-client/credential_helper.hpp"

#include <signal.h>

#include <boost/process.hpp>

namespace bp = boost::process;

namespace lxbox::registry {

Result<std::optional<Credentials>> run_credential_helper(const std::string& helper, const std::string& registry) {
    const std::string name = "docker-credential-" + helper;
    // A name, not a path: the config file chooses among the programs in PATH, as docker's does.
    if (helper.find('/') != std::string::npos)
        return Error(ErrorKind::Invalid, "the credential helper \"" + helper + "\" for " + registry + " is not a name");
    const auto exe = bp::search_path(name);
    if (exe.empty())
        return Error(ErrorKind::NotFound, "the credential helper " + name + " for " + registry + " is not in PATH");
    bp::ipstream out;
    bp::opstream in;
    bp::child child;
    try {
        child = bp::child(exe, "get", (bp::std_out & bp::std_err) > out, bp::std_in < in);
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "run " + exe.string() + ": " + e.what());
    }
    // docker's client writes the URL with no newline and closes stdin. A helper that answers
    // without reading it (a locked keychain) has closed the pipe: the write's SIGPIPE is held
    // and dropped, so the helper's answer, not the signal, says what happened.
    {
        sigset_t pipe_only, old;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
        in << helper_server_url(registry);
        in.flush();
        in.pipe().close();
        const timespec now{0, 0};
        while (::sigtimedwait(&pipe_only, nullptr, &now) == SIGPIPE) {
        }
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    std::string output;
    constexpr size_t kMaxAnswer = 64 * 1024;  // a JSON object of three strings; more is not an answer
    for (char buf[4096]; out.read(buf, sizeof buf) || out.gcount() > 0;)
        if (output.size() < kMaxAnswer) output.append(buf, static_cast<size_t>(out.gcount()));
    std::error_code ec;
    child.wait(ec);
    if (ec) return Error(ErrorKind::System, "wait for " + name + ": " + ec.message());
    return credentials_from_helper(child.exit_code(), output, helper, registry);
}

}  // namespace lxbox::registry
