// A QMP client (QEMU's JSON control socket), enough for the supervisor: the capabilities
// handshake, commands with a deadline, and HMP lines (hostfwd_add has no QMP command). Plus the
// pure pieces of port publishing: parsing -p and the hostfwd rule QEMU wants.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::vm {

class Qmp {
public:
    // Connects and negotiates capabilities (QEMU is listening by the time the agent said hello).
    static Result<Qmp> connect(const std::string& socket_path, std::chrono::milliseconds timeout);
    // Runs a command; its "return" value, or its "error" as an Error.
    Result<nlohmann::json> execute(const std::string& command, const nlohmann::json& arguments = nullptr);
    // Runs a human-monitor line; its text output (HMP reports failures as text).
    Result<std::string> hmp(const std::string& line);
    // Waits for the event `name` whose data matches (one that came while a command ran
    // counts); an error after timeout.
    Status wait_event(const std::string& name, const std::function<bool(const nlohmann::json& data)>& match,
                      std::chrono::milliseconds timeout);

private:
    explicit Qmp(UniqueFd fd) : fd_(std::move(fd)) {}
    // The next JSON object QEMU sends, reply or event.
    Result<nlohmann::json> read_message(std::chrono::steady_clock::time_point deadline);
    Result<nlohmann::json> read_reply();  // keeps the events that come first (the newest few)
    UniqueFd fd_;
    std::string buf_;
    std::deque<nlohmann::json> events_;
    std::chrono::milliseconds timeout_{5000};
};

// Pure: "8080:80", "8080:80/udp" (docker's -p, on the host's loopback) → a forward.
Result<proto::PortForward> parse_publish(const std::string& text);

// Pure: the hostfwd rule of a forward ("tcp:127.0.0.1:8080-:80"), and the key that removes it
// ("tcp:127.0.0.1:8080").
std::string hostfwd_rule(const proto::PortForward& f);
std::string hostfwd_key(const proto::PortForward& f);

}  // namespace lxbox::vm
