#include "runtime/linux/process.hpp"

#include <grp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "runtime/plan/plan.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace lxbox::linux_fx {

namespace {

// Where the kernel laid out this process's argument strings (what /proc/PID/cmdline shows):
// argv[0] up to the NUL of the last one, one block. glibc passes main's arguments to the
// .init_array functions too, so every binary that links this file (lxbox, lxbox-agent, the
// tests) has them caught without its main's help.
char* g_args = nullptr;
size_t g_args_size = 0;

void catch_args(int argc, char** argv, char**) {
    if (argc < 1 || !argv || !argv[0]) return;
    char* end = argv[0];
    for (int i = 0; i < argc; ++i) {
        if (!argv[i] || argv[i] != end) return;  // not one block: left alone
        end += std::strlen(argv[i]) + 1;
    }
    g_args = argv[0];
    g_args_size = static_cast<size_t>(end - argv[0]);
}

__attribute__((used, section(".init_array"))) void (*const g_catch_args)(int, char**, char**) = catch_args;

}  // namespace

void set_neutral_command_line(const char* name) {
    ::prctl(PR_SET_NAME, name, 0, 0, 0);
    if (!g_args || g_args_size < 2) return;
    const size_t n = std::min(std::strlen(name), g_args_size - 1);
    std::memset(g_args, 0, g_args_size);
    std::memcpy(g_args, name, n);
    // A last byte that is not NUL tells the kernel the arguments were rewritten (setproctitle's
    // convention): it shows them up to their first NUL, `name` alone rather than name and the
    // zeros that replaced the host's arguments.
    if (n + 1 < g_args_size) g_args[g_args_size - 1] = ' ';
}

Status switch_user(const runtime::ResolvedUser& user) {
    // No groups: a user namespace that denies setgroups (runtime::fit_user decided).
    if ((user.exact_groups || !user.groups.empty()) && ::setgroups(user.groups.size(), user.groups.data()) != 0)
        return Error::last("setgroups");
    if (::setgid(user.gid) != 0) return Error::last("setgid " + std::to_string(user.gid));
    if (::setuid(user.uid) != 0) return Error::last("setuid " + std::to_string(user.uid));
    return {};
}

Status bring_up_loopback() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return Error::last("socket for lo");
    struct ifreq ifr {};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return Error::last("read flags of lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return Error::last("bring lo up");
    return {};
}

SignalBlock::SignalBlock(const sigset_t& set) { ::sigprocmask(SIG_BLOCK, &set, &old_); }
SignalBlock::~SignalBlock() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }

sigset_t forwarded_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
    // systemd's halt (boot.systemd): `lxbox stop` sends it to a vm container's launcher, which
    // passes it on to the guest, whose runner passes it on to systemd. Left out, its default
    // action would kill the launcher or the runner, and systemd with them, uncleanly.
    sigaddset(&set, SIGRTMIN + 3);
    return set;
}

Result<UniqueFd> make_signal_fd(const sigset_t& set) {
    UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) return Error::last("signalfd");
    return fd;
}

static Result<std::optional<int>> wait_pidfd(int pidfd, int options) {
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED | options) != 0) {
        if (errno != EINTR) return Error::last("wait for the container");
    }
    if (info.si_pid == 0) return std::optional<int>{};
    return std::optional<int>{runtime::exit_code_from_siginfo(info.si_code, info.si_status)};
}

std::string boot_id() {
    auto id = read_file("/proc/sys/kernel/random/boot_id");
    return id ? id->substr(0, id->find('\n')) : "";
}

std::string last_line(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
    return text;
}

Result<int> wait_exit(int pidfd) {
    auto r = LXBOX_TRY(wait_pidfd(pidfd, 0));
    return r.value_or(125);
}

Result<std::optional<int>> poll_exit(int pidfd) { return wait_pidfd(pidfd, WNOHANG); }

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
    const auto close = text.rfind(')');
    if (close == std::string_view::npos || close + 2 >= text.size()) return std::nullopt;
    ProcStat st;
    st.state = text[close + 2];
    // The numeric fields after the state, found by counting spaces from field 3.
    auto field = [&](int wanted, auto& out) {
        size_t pos = close + 2;
        for (int f = 3; f < wanted; ++f) {
            pos = text.find(' ', pos);
            if (pos == std::string_view::npos) return false;
            ++pos;
        }
        auto [p, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), out);
        return ec == std::errc();
    };
    if (!field(4, st.ppid) || !field(22, st.start_time)) return std::nullopt;
    return st;
}

std::optional<uint64_t> parse_status_number(std::string_view status, std::string_view field, int base) {
    size_t at = 0;
    for (;;) {
        at = status.find(field, at);
        if (at == std::string_view::npos) return std::nullopt;
        if ((at == 0 || status[at - 1] == '\n') && status.substr(at + field.size()).starts_with(":")) break;
        at += field.size();
    }
    size_t pos = at + field.size() + 1;
    while (pos < status.size() && (status[pos] == ' ' || status[pos] == '\t')) ++pos;
    uint64_t value = 0;
    auto [p, ec] = std::from_chars(status.data() + pos, status.data() + status.size(), value, base);
    if (ec != std::errc() || (p != status.data() + status.size() && *p != '\n')) return std::nullopt;
    return value;
}

uint64_t non_default_signals() {
    auto text = read_file("/proc/self/status");
    if (!text) return ~0ULL;
    auto ignored = parse_status_number(*text, "SigIgn", 16);
    auto caught = parse_status_number(*text, "SigCgt", 16);
    if (!ignored || !caught) return ~0ULL;
    return *ignored | *caught;
}

std::optional<ProcStat> proc_stat(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::nullopt;
    return parse_proc_stat(*text);
}

std::optional<uint64_t> process_start_time(pid_t pid) {
    auto st = proc_stat(pid);
    if (!st) return std::nullopt;
    return st->start_time;
}

std::optional<pid_t> parent_pid(pid_t pid) {
    auto st = proc_stat(pid);
    if (!st) return std::nullopt;
    return st->ppid;
}

std::vector<pid_t> child_pids(pid_t pid) {
    std::vector<pid_t> out;
    const std::string p = std::to_string(pid);
    auto text = read_file("/proc/" + p + "/task/" + p + "/children");
    if (!text) return out;
    const char* s = text->data();
    const char* end = s + text->size();
    while (s < end) {
        pid_t child = 0;
        auto [next, ec] = std::from_chars(s, end, child);
        if (ec == std::errc()) out.push_back(child);
        s = next + 1;
    }
    return out;
}

}  // namespace lxbox::linux_fx
