#include "runtime/linux/namespaces.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>


#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/syscalls.hpp"

extern char** environ;

namespace lxbox::linux_fx {

namespace {

// A helper (newuidmap, newgidmap) started with a clean signal state, its stderr in a pipe.
struct Helper {
    std::string program;
    pid_t pid = -1;
    UniqueFd err;
};

Result<Helper> start_helper(const std::string& program, const std::vector<std::string>& args) {
    auto [err_read, err_write] = LXBOX_TRY(make_pipe());
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
    ::posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &all);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return Error::sys(rc, "run " + program + " (install package uidmap)",
                          rc == ENOENT ? ErrorKind::NotFound : ErrorKind::System);
    return Helper{program, pid, std::move(err_read)};
}

// Waits for the helper; its last line on stderr is the error's message when it failed.
Status finish_helper(Helper& h) {
    auto text = read_all(h.err.get());
    int status = 0;
    while (::waitpid(h.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    const std::string err = last_line(text ? *text : "");
    return Error(ErrorKind::System, h.program + " failed" + (err.empty() ? "" : ": " + err));
}

Status write_proc(pid_t pid, const char* file, const std::string& text) {
    const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    auto fd = LXBOX_TRY(open_fd(path, O_WRONLY));
    // One write: the kernel takes a map file in a single write(2) only.
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return Error::last("write " + path);
    return {};
}

}  // namespace

Status write_id_maps(pid_t pid, const runtime::UserNamespaceSpec& u) {
    if (u.use_helpers) {
        // Both at once: each is the start of a setuid program (~5 ms here, most of a rootless
        // launch's extra cost), and the maps are independent. Both are waited for.
        auto uid = start_helper("newuidmap", runtime::id_map_helper_args(pid, u.uids));
        if (!uid) return std::move(uid).error();
        auto gid = start_helper("newgidmap", runtime::id_map_helper_args(pid, u.gids));
        const Status uid_done = finish_helper(*uid);
        if (!gid) return std::move(gid).error();
        const Status gid_done = finish_helper(*gid);
        return uid_done ? gid_done : uid_done;
    }
    LXBOX_TRY(write_proc(pid, "setgroups", "deny"));
    LXBOX_TRY(write_proc(pid, "uid_map", runtime::id_map_text(u.uids)));
    return write_proc(pid, "gid_map", runtime::id_map_text(u.gids));
}

runtime::IdMapsView id_maps_of(pid_t pid) { return id_maps_in("/proc/" + std::to_string(pid)); }

namespace {

// The view from a process's uid_map, gid_map and setgroups texts ("" for a file not there).
runtime::IdMapsView id_maps_from(const std::string& uid_map, const std::string& gid_map, const std::string& setgroups) {
    runtime::IdMapsView v;
    v.uids = runtime::parse_id_map(uid_map);
    v.gids = runtime::parse_id_map(gid_map);
    // The initial namespace maps every id to itself.
    v.in_userns = !(v.uids.size() == 1 && v.uids[0].inside == 0 && v.uids[0].outside == 0 &&
                    v.uids[0].count == 0xffffffffu);
    v.setgroups_allowed = setgroups.empty() || setgroups.rfind("allow", 0) == 0;
    return v;
}

}  // namespace

runtime::IdMapsView id_maps_in(const std::string& proc) {
    auto text = [&](const char* file) {
        auto t = read_file(proc + file);
        return t ? *t : std::string();
    };
    return id_maps_from(text("/uid_map"), text("/gid_map"), text("/setgroups"));
}

Result<runtime::IdMapsView> id_maps_of_namespace(const std::string& path) {
    UniqueFd ns = LXBOX_TRY(open_fd(path, O_RDONLY));
    auto [out_read, out_write] = LXBOX_TRY(make_pipe());
    int pidfd = -1;
    const pid_t pid = sys::clone3_pidfd(0, &pidfd);
    if (pid < 0) return Error::last("fork");
    if (pid == 0) {
        out_read.reset();
        // Inside, /proc/self/*_map shows the ids outside as the parent namespace numbers them.
        if (::setns(ns.get(), CLONE_NEWUSER) != 0) ::_exit(1);
        std::string text;
        for (const char* map : {"/proc/self/uid_map", "/proc/self/gid_map", "/proc/self/setgroups"}) {
            auto t = read_file(map);
            text += (t ? *t : std::string()) + '\0';
        }
        ::_exit(write_all(out_write.get(), text) ? 0 : 1);
    }
    out_write.reset();
    const UniqueFd child(pidfd);
    auto text = read_all(out_read.get());
    const int code = LXBOX_TRY(wait_exit(child.get()));
    if (!text || code != 0)
        return Error(ErrorKind::System, "read the id maps of the user namespace " + path + ": cannot join it");
    std::vector<std::string> parts;
    for (size_t at = 0, nul; (nul = text->find('\0', at)) != std::string::npos; at = nul + 1)
        parts.push_back(text->substr(at, nul - at));
    if (parts.size() != 3) return Error(ErrorKind::Internal, "read the id maps of the user namespace " + path);
    return id_maps_from(parts[0], parts[1], parts[2]);
}

Status run_in_userns(const runtime::UserNamespaceSpec& u, const std::function<Status()>& fn) {
    auto [go_read, go_write] = LXBOX_TRY(make_pipe());
    auto [err_read, err_write] = LXBOX_TRY(make_pipe());
    int pidfd = -1;
    const pid_t pid = sys::clone3_pidfd(CLONE_NEWUSER, &pidfd);
    if (pid < 0) return Error::last("make a user namespace");
    if (pid == 0) {
        go_write.reset();
        err_read.reset();
        char byte = 0;
        while (::read(go_read.get(), &byte, 1) < 0 && errno == EINTR) {
        }
        Status st = byte == 'G' ? fn() : Status(Error(ErrorKind::Internal, "no id maps"));
        if (!st) (void)write_all(err_write.get(), st.error().message);
        ::_exit(st ? 0 : 1);
    }
    UniqueFd child(pidfd);
    go_read.reset();
    err_write.reset();
    Status mapped = write_id_maps(pid, u);
    if (mapped) (void)write_all(go_write.get(), std::string("G"));
    go_write.reset();
    auto text = read_all(err_read.get());
    const std::string err = text ? *text : "";
    const int code = LXBOX_TRY(wait_exit(child.get()));
    if (!mapped) return mapped;
    if (code != 0) return Error(ErrorKind::System, err.empty() ? "child in a user namespace failed" : err);
    return {};
}

}  // namespace lxbox::linux_fx
