#include "host/oci/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::oci {

namespace {

template <class T>
void get_opt(const nlohmann::json& j, const char* key, T& out) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

}  // namespace

void to_json(nlohmann::json& j, const Record& r) {
    j = {{"ociVersion", r.oci_version}, {"id", r.id},         {"pid", r.pid},
         {"start_time", r.start_time},  {"bundle", r.bundle}, {"created", r.created},
         {"annotations", r.annotations}, {"cgroup", r.cgroup}, {"cgroup_paths", r.cgroup_paths}, {"namespaces", r.namespaces},
         {"root_mount", r.root_mount}, {"root_mount_id", r.root_mount_id}, {"userns", r.userns}, {"poststart", r.poststart}, {"poststop", r.poststop}};
    if (!r.resources.is_null()) j["resources"] = r.resources;
}

void from_json(const nlohmann::json& j, Record& r) {
    get_opt(j, "ociVersion", r.oci_version);
    get_opt(j, "id", r.id);
    get_opt(j, "pid", r.pid);
    get_opt(j, "start_time", r.start_time);
    get_opt(j, "bundle", r.bundle);
    get_opt(j, "created", r.created);
    get_opt(j, "annotations", r.annotations);
    get_opt(j, "cgroup", r.cgroup);
    get_opt(j, "cgroup_paths", r.cgroup_paths);
    get_opt(j, "namespaces", r.namespaces);
    get_opt(j, "root_mount", r.root_mount);
    get_opt(j, "root_mount_id", r.root_mount_id);
    get_opt(j, "userns", r.userns);
    get_opt(j, "poststart", r.poststart);
    get_opt(j, "poststop", r.poststop);
    if (auto it = j.find("resources"); it != j.end()) r.resources = *it;
}

const char* status_name(RunState s) {
    switch (s) {
    case RunState::Created: return "created";
    case RunState::Running: return "running";
    case RunState::Paused: return "paused";
    case RunState::Stopped: return "stopped";
    }
    return "stopped";
}

RunState status_of(const Record& r, const ProcessFacts& facts, bool fifo_exists) {
    if (r.pid <= 0 || !facts.exists || facts.start_time != r.start_time || facts.state == 'Z' || facts.state == 'X')
        return RunState::Stopped;
    return fifo_exists ? RunState::Created : RunState::Running;
}

nlohmann::json state_json(const Record& r, RunState s) {
    nlohmann::json j = {{"ociVersion", r.oci_version}, {"id", r.id}, {"status", status_name(s)}};
    if (s != RunState::Stopped) j["pid"] = r.pid;
    j["bundle"] = r.bundle;
    if (!r.annotations.empty()) j["annotations"] = r.annotations;
    return j;
}

nlohmann::json merged_resources(const nlohmann::json& applied, const nlohmann::json& update) {
    nlohmann::json out = applied.is_object() ? applied : nlohmann::json::object();
    out.merge_patch(update);
    out.erase("devices");
    return out;
}

Status validate_id(const std::string& id) {
    if (id.empty()) return Error(ErrorKind::Invalid, "container id is empty");
    if (id == "." || id == "..") return Error(ErrorKind::Invalid, "container id '" + id + "' is not allowed");
    if (id.size() > 1024) return Error(ErrorKind::Invalid, "container id is longer than 1024 characters");
    for (char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' && c != '-' && c != '.')
            return Error(ErrorKind::Invalid, "container id '" + id + "' may hold only letters, digits and _+-.");
    }
    return {};
}

Result<int> parse_signal(const std::string& text) {
    if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
        char* end = nullptr;
        const long n = std::strtol(text.c_str(), &end, 10);
        if (*end == '\0' && n > 0 && n < NSIG) return static_cast<int>(n);
        return Error(ErrorKind::Invalid, "unknown signal '" + text + "'");
    }
    std::string name;
    for (char c : text) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    static const std::pair<const char*, int> table[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},     {"TRAP", SIGTRAP},
        {"ABRT", SIGABRT}, {"IOT", SIGIOT},     {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL},
        {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
        {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},
        {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},
        {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
        {"POLL", SIGPOLL}, {"PWR", SIGPWR},     {"SYS", SIGSYS}};
    for (const auto& [n, number] : table)
        if (name == n) return number;
    return Error(ErrorKind::Invalid, "unknown signal '" + text + "'");
}

Result<std::string> StateDir::default_root() {
    if (::geteuid() == 0) return std::string("/run/lxbox/oci");
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg) return std::string(xdg) + "/lxbox/oci";
    const std::string own = "/tmp/lxbox-" + std::to_string(::geteuid());
    if (::mkdir(own.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + own);
    // Opened without following a link, then checked as opened: nothing can be swapped in between.
    UniqueFd dir(::open(own.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!dir || ::fstat(dir.get(), &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
        return Error(ErrorKind::Refused, own + " is not a directory of this user's that only it can use "
                                              "(set XDG_RUNTIME_DIR, or --root)");
    return own + "/oci";
}

Status StateDir::claim(const std::string& id) const {
    // The root's parents may be shared (/run/lxbox). A container's directory can be searched
    // but not listed (0711, as runc's): a container with a user namespace reaches its exec fifo
    // there as its own root.
    LXBOX_TRY(linux_fx::make_dirs(root_, 0711));
    if (::mkdir(dir(id).c_str(), 0711) != 0) {
        if (errno == EEXIST) return Error(ErrorKind::Exists, "container '" + id + "' already exists");
        return Error::last("create " + dir(id));
    }
    return {};
}

Result<Record> StateDir::load(const std::string& id) const {
    LXBOX_TRY(validate_id(id));
    auto text = read_file(dir(id) + "/state.json");
    if (!text) {
        if (text.error().kind == ErrorKind::NotFound)
            return Error(ErrorKind::NotFound, "container '" + id + "' does not exist");
        return std::move(text).error();
    }
    try {
        return nlohmann::json::parse(*text).get<Record>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid, "read " + dir(id) + "/state.json: " + e.what());
    }
}

Status StateDir::save(const Record& r) const {
    return write_file_atomic(dir(r.id) + "/state.json", nlohmann::json(r).dump(), Durability::RenameOnly, 0600);
}

Status StateDir::remove(const std::string& id) const { return remove_tree(dir(id)); }

std::vector<std::string> StateDir::ids() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(root_.c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        if (e->d_name[0] != '.' && validate_id(e->d_name)) out.push_back(e->d_name);
    }
    ::closedir(d);
    return out;
}

Result<UniqueFd> StateDir::lock(const std::string& id) const {
    UniqueFd fd(::open(dir(id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return Error(ErrorKind::NotFound, "container '" + id + "' does not exist");
        return Error::last("open " + dir(id));
    }
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return Error::last("lock " + dir(id));
    }
    return fd;
}

ProcessFacts process_facts(pid_t pid) {
    if (pid <= 0) return {};
    auto st = linux_fx::proc_stat(pid);
    if (!st) return {};
    return ProcessFacts{true, st->state, st->start_time};
}

Result<std::pair<Record, RunState>> StateDir::current(const std::string& id) const {
    Record r = LXBOX_TRY(load(id));
    struct stat st;
    const bool waiting = ::lstat(fifo(id).c_str(), &st) == 0;
    RunState s = status_of(r, process_facts(r.pid), waiting);
    if (s == RunState::Running && cgroups::is_frozen(r.cgroup_paths)) s = RunState::Paused;
    return std::pair<Record, RunState>{std::move(r), s};
}

}  // namespace lxbox::oci
