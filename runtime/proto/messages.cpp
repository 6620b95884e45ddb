#include "runtime/proto/messages.hpp"

#include "runtime/base/json_number.hpp"

namespace lxbox::proto {

using nlohmann::json;

// Required fields use at() (a missing one is an error); optional ones have defaults, so an
// older peer that omits a newer field still parses. Numbers are whole and in range
// (json_get_to): the guest's messages are a container's reach into the host.
template <class T>
static void get_req(const json& j, const char* key, T& out) {
    json_get_to(j.at(key), out, key);
}
template <class T>
static void get_opt(const json& j, const char* key, T& out) {
    if (auto it = j.find(key); it != j.end()) json_get_to(*it, out, key);
}

// A TCP port: nlohmann would wrap 70000 or -1 into a u16 silently, and a wrapped port is
// someone else's.
static uint16_t get_port(const json& j, const char* key) {
    const json& v = j.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65535)
        throw json::type_error::create(302, std::string(key) + " is not a TCP port (1-65535)", &v);
    return static_cast<uint16_t>(v.get<int64_t>());
}

void to_json(json& j, const Hello& m) {
    j = json{{"protocol_version", m.protocol_version},
             {"agent_version", m.agent_version},
             {"capabilities", m.capabilities},
             {"host_time_ns", m.host_time_ns}};
}
void from_json(const json& j, Hello& m) {
    get_req(j, "protocol_version", m.protocol_version);
    get_opt(j, "agent_version", m.agent_version);
    get_opt(j, "capabilities", m.capabilities);
    get_opt(j, "host_time_ns", m.host_time_ns);
}

void to_json(json& j, const Ping& m) { j = json{{"nonce", m.nonce}}; }
void from_json(const json& j, Ping& m) { get_req(j, "nonce", m.nonce); }
void to_json(json& j, const Pong& m) { j = json{{"nonce", m.nonce}}; }
void from_json(const json& j, Pong& m) { get_req(j, "nonce", m.nonce); }

void to_json(json& j, const GuestMount& m) {
    j = json{{"device", m.device}, {"serial", m.serial}, {"target", m.target}, {"fstype", m.fstype},
             {"readonly", m.readonly}};
}
void from_json(const json& j, GuestMount& m) {
    get_opt(j, "device", m.device);
    get_opt(j, "serial", m.serial);
    get_req(j, "target", m.target);
    get_opt(j, "fstype", m.fstype);
    get_opt(j, "readonly", m.readonly);
}

void to_json(json& j, const Run& m) {
    j = json{{"spec", m.spec}, {"mounts", m.mounts}, {"tty", m.tty}, {"rows", m.rows}, {"cols", m.cols}};
    if (!m.boot_command.empty()) j["boot_command"] = m.boot_command;
}
void from_json(const json& j, Run& m) {
    m.spec = j.at("spec");
    if (!m.spec.is_object()) throw json::type_error::create(302, "spec must be an object", &j);
    get_opt(j, "mounts", m.mounts);
    get_opt(j, "tty", m.tty);
    get_opt(j, "rows", m.rows);
    get_opt(j, "cols", m.cols);
    get_opt(j, "boot_command", m.boot_command);
}

void to_json(json& j, const Exec& m) {
    j = json{{"container_dir", m.container_dir}, {"process", m.process}, {"tty", m.tty}, {"rows", m.rows}, {"cols", m.cols}};
}
void from_json(const json& j, Exec& m) {
    get_req(j, "container_dir", m.container_dir);
    m.process = j.at("process");
    if (!m.process.is_object()) throw json::type_error::create(302, "process must be an object", &j);
    get_opt(j, "tty", m.tty);
    get_opt(j, "rows", m.rows);
    get_opt(j, "cols", m.cols);
}

void to_json(json& j, const Signal& m) { j = json{{"signal", m.signal}}; }
void from_json(const json& j, Signal& m) { get_req(j, "signal", m.signal); }

void to_json(json& j, const Resize& m) { j = json{{"rows", m.rows}, {"cols", m.cols}}; }
void from_json(const json& j, Resize& m) {
    get_req(j, "rows", m.rows);
    get_req(j, "cols", m.cols);
}

void to_json(json& j, const StdinClose&) { j = json::object(); }
void from_json(const json&, StdinClose&) {}

void to_json(json& j, const Exit& m) { j = json{{"code", m.code}, {"signal", m.signal}}; }
void from_json(const json& j, Exit& m) {
    get_req(j, "code", m.code);
    get_opt(j, "signal", m.signal);
}

void to_json(json& j, const ErrorMessage& m) { j = json{{"message", m.message}}; }
void from_json(const json& j, ErrorMessage& m) { get_req(j, "message", m.message); }

void to_json(json& j, const Shutdown&) { j = json::object(); }
void from_json(const json&, Shutdown&) {}

void to_json(json& j, const AttachDisk& m) {
    j = json{{"serial", m.serial}, {"path", m.path}, {"readonly", m.readonly}};
}
void from_json(const json& j, AttachDisk& m) {
    get_req(j, "serial", m.serial);
    get_req(j, "path", m.path);
    get_opt(j, "readonly", m.readonly);
}
void to_json(json& j, const PortForward& m) {
    j = json{{"host_port", m.host_port}, {"guest_port", m.guest_port}, {"protocol", m.protocol}};
}
void from_json(const json& j, PortForward& m) {
    get_req(j, "host_port", m.host_port);
    get_req(j, "guest_port", m.guest_port);
    get_opt(j, "protocol", m.protocol);
}
void to_json(json& j, const Attach& m) { j = json{{"disks", m.disks}, {"ports", m.ports}}; }
void from_json(const json& j, Attach& m) {
    get_req(j, "disks", m.disks);
    get_opt(j, "ports", m.ports);
}

void to_json(json& j, const Remove& m) { j = json{{"container_dir", m.container_dir}, {"mounts", m.mounts}}; }
void from_json(const json& j, Remove& m) {
    get_req(j, "container_dir", m.container_dir);
    get_opt(j, "mounts", m.mounts);
}

void to_json(json& j, const Detach& m) {
    j = json{{"serial", m.serial}, {"target", m.target}};
    if (!m.error.empty()) j["error"] = m.error;
    if (m.busy) j["busy"] = true;
}
void from_json(const json& j, Detach& m) {
    get_opt(j, "serial", m.serial);
    get_opt(j, "target", m.target);
    get_opt(j, "error", m.error);
    get_opt(j, "busy", m.busy);
}

void to_json(json& j, const ListeningPort& m) { j = json{{"port", m.port}, {"session", m.session}}; }
void from_json(const json& j, ListeningPort& m) {
    m.port = get_port(j, "port");
    get_opt(j, "session", m.session);
}
void to_json(json& j, const Ports& m) { j = json{{"ports", m.ports}}; }
void from_json(const json& j, Ports& m) { get_req(j, "ports", m.ports); }
void to_json(json& j, const Connect& m) { j = json{{"port", m.port}}; }
void from_json(const json& j, Connect& m) { m.port = get_port(j, "port"); }
void to_json(json& j, const Notice& m) { j = json{{"message", m.message}}; }
void from_json(const json& j, Notice& m) { get_req(j, "message", m.message); }

void to_json(json& j, const Credit& m) { j = json{{"bytes", m.bytes}}; }
void from_json(const json& j, Credit& m) { get_req(j, "bytes", m.bytes); }

Result<json> parse_payload(const Frame& frame) {
    // No exceptions on the decode path: a hostile payload yields a discarded value.
    json j = json::parse(frame.payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        return Error(ErrorKind::Invalid,
                     std::string("bad ") + to_string(frame.type) + " message: payload is not JSON");
    if (!j.is_object())
        return Error(ErrorKind::Invalid, std::string("bad ") + to_string(frame.type) +
                                             " message: payload is not a JSON object");
    return j;
}

}  // namespace lxbox::proto
