#include "guest-agent/listeners.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::agent {

namespace {

constexpr std::string_view kListenState = "0A";  // TCP_LISTEN in /proc/net/tcp's "st" column

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

template <class T>
bool parse_number(std::string_view text, T& out, int base) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
    return ec == std::errc() && end == text.data() + text.size();
}

// "0100007F:1F90": the address as the kernel's u32 words in its own byte order, then the port.
std::optional<Listener> parse_local(std::string_view local, bool v6) {
    const size_t colon = local.find(':');
    const size_t hex_len = v6 ? 32 : 8;
    if (colon != hex_len) return std::nullopt;
    Listener l;
    l.v6 = v6;
    if (!parse_number(local.substr(colon + 1), l.port, 16) || l.port == 0) return std::nullopt;
    unsigned char bytes[16];
    for (size_t word = 0; word < hex_len / 8; ++word) {
        uint32_t w = 0;
        if (!parse_number(local.substr(word * 8, 8), w, 16)) return std::nullopt;
        std::memcpy(bytes + word * 4, &w, 4);
    }
    char text[INET6_ADDRSTRLEN];
    if (!::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text)) return std::nullopt;
    l.address = text;
    return l;
}

bool is_loopback_or_any(const Listener& l) {
    if (l.v6) return l.address == "::" || l.address == "::1";
    return l.address == "0.0.0.0" || l.address.starts_with("127.");
}

}  // namespace

std::vector<Listener> parse_proc_net_tcp(std::string_view text, bool v6) {
    std::vector<Listener> out;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
        const auto f = fields(line);
        if (f.size() < 10 || f[3] != kListenState) continue;
        auto l = parse_local(f[1], v6);
        if (!l || !parse_number(f[9], l->inode, 10)) continue;
        out.push_back(std::move(*l));
    }
    return out;
}

std::optional<std::string> connect_address(const std::vector<Listener>& listeners, uint16_t port) {
    std::optional<std::string> other;
    for (bool v6 : {false, true})
        for (const auto& l : listeners) {
            if (l.port != port || l.v6 != v6) continue;
            if (!is_loopback_or_any(l)) {
                if (!other) other = l.address;
                continue;
            }
            if (l.address == "0.0.0.0") return "127.0.0.1";
            if (l.address == "::") return v6 ? "::1" : l.address;
            return l.address;
        }
    return other;
}

std::vector<proto::ListeningPort> listening_ports(const std::vector<Listener>& listeners,
                                                  const std::map<uint64_t, uint32_t>& session_of_inode) {
    std::map<uint16_t, uint32_t> by_port;
    for (const auto& l : listeners) {
        auto it = session_of_inode.find(l.inode);
        const uint32_t session = it == session_of_inode.end() ? 0 : it->second;
        auto& known = by_port[l.port];
        if (known == 0) known = session;
    }
    std::vector<proto::ListeningPort> out;
    for (const auto& [port, session] : by_port) out.push_back({port, session});
    return out;
}

std::vector<Listener> read_listeners() {
    std::vector<Listener> out;
    for (bool v6 : {false, true}) {
        // /proc files have no size: read_file reads to EOF.
        auto text = read_file(v6 ? "/proc/net/tcp6" : "/proc/net/tcp");
        if (!text) continue;  // no IPv6 in the guest's kernel, say
        auto some = parse_proc_net_tcp(*text, v6);
        out.insert(out.end(), some.begin(), some.end());
    }
    return out;
}

Result<UniqueFd> connect_tcp(const std::string& address, uint16_t port) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        return Error(ErrorKind::Invalid, "connect to " + address + ": not an IP address");
    }
    const std::string where = address + " port " + std::to_string(port);
    UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Error::last("socket for " + where);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS)
        return Error::last("connect to " + where + " in the VM");
    return fd;
}

std::map<uint64_t, uint32_t> socket_sessions(const std::set<uint64_t>& inodes, const std::map<pid_t, uint32_t>& roots) {
    std::map<uint64_t, uint32_t> out;
    if (inodes.empty() || roots.empty()) return out;
    DIR* proc = ::opendir("/proc");
    if (!proc) return out;
    while (dirent* e = ::readdir(proc)) {
        pid_t pid = 0;
        if (!parse_number(std::string_view(e->d_name), pid, 10)) continue;
        const std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
        DIR* fds = ::opendir(fd_dir.c_str());
        if (!fds) continue;  // gone, or a kernel thread
        std::vector<uint64_t> held;
        while (dirent* f = ::readdir(fds)) {
            char link[64];
            const ssize_t n = ::readlinkat(::dirfd(fds), f->d_name, link, sizeof link - 1);
            if (n <= 0) continue;
            const std::string_view target(link, static_cast<size_t>(n));
            uint64_t inode = 0;
            if (!target.starts_with("socket:[") || !target.ends_with("]") ||
                !parse_number(target.substr(8, target.size() - 9), inode, 10))
                continue;
            if (inodes.count(inode)) held.push_back(inode);
        }
        ::closedir(fds);
        if (held.empty()) continue;
        // Up the parents to a runner: the container of that session holds the socket.
        for (pid_t p = pid; p > 1;) {
            if (auto root = roots.find(p); root != roots.end()) {
                for (uint64_t inode : held) out.emplace(inode, root->second);
                break;
            }
            auto parent = linux_fx::parent_pid(p);
            if (!parent) break;
            p = *parent;
        }
    }
    ::closedir(proc);
    return out;
}

}  // namespace lxbox::agent
