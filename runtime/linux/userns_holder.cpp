#include "runtime/linux/userns_holder.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/base/json_number.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::linux_fx {

namespace {

std::string state_path(const std::string& dir) { return dir + "/userns-holder.json"; }

std::optional<HolderRecord> load_record(const std::string& dir) {
    auto text = read_file(state_path(dir));
    if (!text) return std::nullopt;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    HolderRecord r;
    r.pid = json_value<pid_t>(j, "pid", 0);
    r.start_time = json_value<uint64_t>(j, "start_time", 0);
    r.boot_id = j.value("boot_id", "");
    if (r.pid <= 0) return std::nullopt;
    return r;
}

// Whether the recorded holder still runs (this boot's, and its pid not reused since).
bool still_runs(const HolderRecord& r, const std::string& boot_id) {
    return r.boot_id == boot_id && r.start_time != 0 && process_start_time(r.pid).value_or(0) == r.start_time;
}

std::string namespace_of(const HolderRecord& r) { return "/proc/" + std::to_string(r.pid) + "/ns/user"; }

// The recorded holder when it is the one to join.
std::optional<HolderRecord> current_holder(const std::string& dir, const runtime::UserNamespaceSpec& u,
                                           const std::string& boot_id) {
    auto r = load_record(dir);
    // Not still running: its pid may be another process's, whose maps are none of ours to read.
    if (!r || !still_runs(*r, boot_id)) return std::nullopt;
    if (!holder_is_current(*r, boot_id, r->start_time, id_maps_of(r->pid), u)) return std::nullopt;
    return r;
}

// The holder itself: in a user namespace of its own, with nothing of its maker's open, waiting
// for its maps, then for a signal that ends it.
[[noreturn]] void holder_main(int report, int go) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(null, 2) < 0) ::_exit(1);
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(1);
    if (::write(report, "U", 1) != 1) ::_exit(1);
    char byte = 0;
    while (::read(go, &byte, 1) < 0 && errno == EINTR) {
    }
    if (byte != 'G') ::_exit(1);
    sys::close_range(3, ~0u, 0);
    ::prctl(PR_SET_NAME, "lxbox-userns");
    if (::chdir("/") != 0) ::_exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) ::signal(s, SIG_DFL);
    for (;;) ::pause();
}

Result<HolderRecord> start_holder(const runtime::UserNamespaceSpec& u, const std::string& boot_id) {
    auto report = LXBOX_TRY(make_pipe());
    auto go = LXBOX_TRY(make_pipe());
    // Twice forked, in a session of its own: no terminal, no parent that waits for it.
    int middle_fd = -1;
    const pid_t middle = sys::clone3_pidfd(0, &middle_fd);
    if (middle < 0) return Error::last("fork");
    if (middle == 0) {
        report.read.reset();
        go.write.reset();
        ::setsid();
        const pid_t holder = ::fork();
        if (holder == 0) holder_main(report.write.get(), go.read.get());
        (void)!::write(report.write.get(), &holder, sizeof holder);
        ::_exit(holder > 0 ? 0 : 1);
    }
    report.write.reset();
    go.read.reset();
    const UniqueFd middle_done(middle_fd);
    (void)wait_exit(middle_done.get());
    pid_t holder = -1;
    char unshared = 0;
    if (::read(report.read.get(), &holder, sizeof holder) != sizeof holder || holder <= 0 ||
        ::read(report.read.get(), &unshared, 1) != 1 || unshared != 'U')
        return Error(ErrorKind::System, "start the user namespace holder: it did not make its namespace");
    if (auto mapped = write_id_maps(holder, u); !mapped) {
        ::kill(holder, SIGKILL);
        return std::move(mapped).error().context("map the ids of the user namespace holder");
    }
    LXBOX_TRY(write_all(go.write.get(), std::string("G")));
    HolderRecord r{holder, process_start_time(holder).value_or(0), boot_id};
    if (r.start_time == 0)
        return Error(ErrorKind::System, "the user namespace holder (pid " + std::to_string(holder) + ") is gone");
    return r;
}

}  // namespace

bool holder_is_current(const HolderRecord& record, const std::string& boot_id, uint64_t start_time_now,
                       const runtime::IdMapsView& maps_now, const runtime::UserNamespaceSpec& u) {
    return record.pid > 0 && !boot_id.empty() && record.boot_id == boot_id && record.start_time != 0 &&
           record.start_time == start_time_now && maps_now.uids == u.uids && maps_now.gids == u.gids;
}

Result<std::string> ensure_userns_holder(const std::string& state_dir, const runtime::UserNamespaceSpec& u) {
    const std::string boot_id = linux_fx::boot_id();
    if (auto r = current_holder(state_dir, u, boot_id)) return namespace_of(*r);
    // One launch makes it; the others wait on the lock and then find it.
    auto lock = LXBOX_TRY(open_fd(state_dir + "/userns-holder.lock", O_RDWR | O_CREAT, 0600));
    if (::flock(lock.get(), LOCK_EX) != 0) return Error::last("lock " + state_dir + "/userns-holder.lock");
    if (auto r = current_holder(state_dir, u, boot_id)) return namespace_of(*r);
    // One with other maps (the user's subordinate ids changed) ends first.
    if (auto old = load_record(state_dir); old && still_runs(*old, boot_id)) ::kill(old->pid, SIGKILL);
    const HolderRecord r = LXBOX_TRY(start_holder(u, boot_id));
    const nlohmann::json j{{"pid", r.pid}, {"start_time", r.start_time}, {"boot_id", r.boot_id}};
    LXBOX_TRY(write_file_atomic(state_path(state_dir), j.dump() + "\n", Durability::RenameOnly, 0600));
    spdlog::debug("user namespace holder started: pid {}", r.pid);
    return namespace_of(r);
}

Result<bool> stop_userns_holder(const std::string& state_dir) {
    auto r = load_record(state_dir);
    bool stopped = false;
    if (r && still_runs(*r, boot_id())) stopped = ::kill(r->pid, SIGKILL) == 0;
    if (::unlink(state_path(state_dir).c_str()) != 0 && errno != ENOENT)
        return Error::last("remove " + state_path(state_dir));
    return stopped;
}

}  // namespace lxbox::linux_fx
