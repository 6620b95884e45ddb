#include "host/vm/qmp.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace lxbox::vm {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

Result<Qmp> Qmp::connect(const std::string& socket_path, Millis timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) return Error(ErrorKind::Invalid, "socket path too long: " + socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::last("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::last("connect to QMP " + socket_path);
    Qmp q(std::move(fd));
    q.timeout_ = timeout;
    // The greeting ({"QMP": ...}) first, then capabilities negotiation ends the handshake.
    auto greeting = LXBOX_TRY(q.read_reply());
    if (!greeting.contains("QMP")) return Error(ErrorKind::Invalid, "QMP: no greeting");
    LXBOX_TRY(q.execute("qmp_capabilities"));
    return q;
}

Result<nlohmann::json> Qmp::read_message(Clock::time_point deadline) {
    for (;;) {
        if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
            auto j = nlohmann::json::parse(buf_.substr(0, nl), nullptr, false);
            buf_.erase(0, nl + 1);
            if (j.is_discarded() || !j.is_object()) return Error(ErrorKind::Invalid, "QMP: a reply that is not JSON");
            return j;
        }
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return Error(ErrorKind::System, "QMP: no reply within " + std::to_string(timeout_.count()) + " ms");
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, int(left)) <= 0) continue;
        char chunk[4096];
        ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error(ErrorKind::System, "QMP: QEMU closed the connection");
        buf_.append(chunk, static_cast<size_t>(n));
    }
}

Result<nlohmann::json> Qmp::read_reply() {
    // QEMU sends events whenever (RTC_CHANGE, NIC_RX_FILTER_CHANGED, ...): a few are kept for
    // wait_event, the older ones dropped.
    constexpr size_t kKeptEvents = 32;
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
        auto j = LXBOX_TRY(read_message(deadline));
        if (!j.contains("event")) return j;
        events_.push_back(std::move(j));
        if (events_.size() > kKeptEvents) events_.pop_front();
    }
}

Status Qmp::wait_event(const std::string& name, const std::function<bool(const nlohmann::json&)>& match,
                       Millis timeout) {
    auto wanted = [&](const nlohmann::json& e) {
        return e.value("event", "") == name && match(e.value("data", nlohmann::json::object()));
    };
    if (auto it = std::find_if(events_.begin(), events_.end(), wanted); it != events_.end()) {
        events_.erase(it);
        return {};
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto j = read_message(deadline);
        if (!j)
            return Error(ErrorKind::System,
                         "QMP: no " + name + " event within " + std::to_string(timeout.count()) + " ms");
        if (wanted(*j)) return {};
    }
}

Result<nlohmann::json> Qmp::execute(const std::string& command, const nlohmann::json& arguments) {
    nlohmann::json request{{"execute", command}};
    if (!arguments.is_null()) request["arguments"] = arguments;
    LXBOX_TRY(write_all(fd_.get(), request.dump() + "\n").context("QMP " + command));
    auto reply = LXBOX_TRY(read_reply());
    if (reply.contains("error"))
        return Error(ErrorKind::System, "QMP " + command + ": " + reply["error"].value("desc", reply["error"].dump()));
    return reply.value("return", nlohmann::json::object());
}

Result<std::string> Qmp::hmp(const std::string& line) {
    auto out = LXBOX_TRY(execute("human-monitor-command", {{"command-line", line}}));
    return out.is_string() ? out.get<std::string>() : std::string();
}

namespace {

Result<uint16_t> parse_port(std::string_view text, const std::string& whole) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
        return Error(ErrorKind::Invalid, "-p " + whole + ": '" + std::string(text) + "' is not a port (1-65535)");
    return static_cast<uint16_t>(value);
}

}  // namespace

Result<proto::PortForward> parse_publish(const std::string& text) {
    proto::PortForward f;
    std::string_view rest = text;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        f.protocol = std::string(rest.substr(slash + 1));
        rest = rest.substr(0, slash);
        if (f.protocol != "tcp" && f.protocol != "udp")
            return Error(ErrorKind::Invalid, "-p " + text + ": protocol '" + f.protocol + "' is not tcp or udp");
    }
    auto colon = rest.find(':');
    if (colon == std::string_view::npos || rest.find(':', colon + 1) != std::string_view::npos)
        return Error(ErrorKind::Invalid, "-p " + text + ": expected HOSTPORT:CONTAINERPORT[/tcp|/udp]");
    f.host_port = LXBOX_TRY(parse_port(rest.substr(0, colon), text));
    f.guest_port = LXBOX_TRY(parse_port(rest.substr(colon + 1), text));
    return f;
}

std::string hostfwd_key(const proto::PortForward& f) {
    return f.protocol + ":127.0.0.1:" + std::to_string(f.host_port);
}

std::string hostfwd_rule(const proto::PortForward& f) {
    return hostfwd_key(f) + "-:" + std::to_string(f.guest_port);
}

}  // namespace lxbox::vm
