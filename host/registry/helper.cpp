#include "host/registry/helper.hpp"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>

#include "host/install/layout.hpp"
#include "runtime/base/unique_fd.hpp"

namespace bp = boost::process;

namespace lxbox::registry {

Result<std::string> find_registry_helper() {
    return install::find_companion(install::Companion::RegistryClient);
}

Error error_from_event(const nlohmann::json& event) {
    auto it = event.find("error");
    if (it != event.end() && it->is_object()) {
        try {
            return it->get<Error>();
        } catch (const nlohmann::json::exception&) {
        }
    }
    return Error(ErrorKind::Internal, "lxbox-registry failed without a message");
}

Result<nlohmann::json> run_registry_helper(const std::vector<std::string>& args, const EventFn& on_event,
                                           const std::string& stdin_text) {
    const std::string exe = LXBOX_TRY(find_registry_helper());
    bp::ipstream out;
    bp::opstream in;
    bp::child child;
    try {
        child = bp::child(exe, bp::args(args), bp::std_out > out, bp::std_in < in);
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "run " + exe + ": " + e.what());
    }
    in << stdin_text;
    in.flush();
    in.pipe().close();
    nlohmann::json last;
    for (std::string line; std::getline(out, line);) {
        auto event = nlohmann::json::parse(line, nullptr, false);
        if (!event.is_object()) continue;
        const std::string kind = event.value("event", "");
        if (kind == "done" || kind == "error") {
            last = std::move(event);
        } else if (on_event) {
            on_event(event);
        }
    }
    std::error_code ec;
    child.wait(ec);
    // (last is null when the helper died before its answer: a crash is said below, not thrown.)
    if (last.is_object() && last.value("event", "") == "error") return error_from_event(last);
    if (ec || child.exit_code() != 0 || last.is_null()) {
        const int raw = child.native_exit_code();
        const std::string how = WIFSIGNALED(raw) ? std::string("was killed by ") + ::strsignal(WTERMSIG(raw))
                                                 : "ended with status " + std::to_string(child.exit_code());
        return Error(ErrorKind::System, exe + " " + how + " without an answer");
    }
    return last;
}

}  // namespace lxbox::registry
