#include "tests/common/test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "runtime/base/unique_fd.hpp"

extern char** environ;

namespace lxbox::test {

bool skips_forbidden() {
    const char* v = std::getenv("LXBOX_NO_SKIP");
    return v && std::string(v) == "1";
}

bool is_root() { return ::geteuid() == 0; }

CommandResult run(const std::vector<std::string>& argv, const std::string& input,
                  const std::vector<std::string>& extra_env) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
        throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    // extra_env's variables replace the process's own of the same name (getenv finds the first).
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) {
        const std::string var(*e);
        const std::string name = var.substr(0, var.find('=') + 1);
        if (std::none_of(extra_env.begin(), extra_env.end(), [&](const std::string& x) { return x.starts_with(name); }))
            env_store.push_back(var);
    }
    for (auto& e : extra_env) env_store.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid;
    int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        throw std::runtime_error("spawn " + argv[0] + ": " + std::strerror(rc));
    }
    CommandResult r;
    size_t written = 0;
    int in_fd = in[1];
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    } else {
        ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    }
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        struct pollfd p[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                              {err_open ? err[0] : -1, POLLIN, 0},
                              {in_fd, POLLOUT, 0}};
        if (::poll(p, 3, -1) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = ::read(p[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    (i == 0 ? out_open : err_open) = false;
                } else {
                    (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
                }
            }
        }
        if (in_fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<size_t>(n);
            if (n < 0 || written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    if (in_fd >= 0) ::close(in_fd);
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

CommandResult run_lxbox(const std::string& root, const std::vector<std::string>& args,
                        const std::string& input) {
    std::vector<std::string> argv{LXBOX_BINARY, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input);
}

nlohmann::json ps_entry(const std::string& root, const std::string& name) {
    auto r = run_lxbox(root, {"ps", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (auto& c : nlohmann::json::parse(r.out))
        if (c["name"] == name) return c;
    return nullptr;
}

ScratchDir::ScratchDir() {
    char tmpl[] = "/tmp/lxbox-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
}

ScratchDir::~ScratchDir() { (void)lxbox::remove_tree(path_); }

std::string open_fds() {
    std::vector<int> fds;
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return "";
    const int own = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != own) fds.push_back(fd);
    }
    ::closedir(d);
    std::sort(fds.begin(), fds.end());
    std::string out;
    for (int fd : fds) out += (out.empty() ? "" : " ") + std::to_string(fd);
    return out;
}

std::vector<std::string> cgroup_roots() {
    std::vector<std::string> roots = {"/sys/fs/cgroup"};
    if (DIR* d = ::opendir("/sys/fs/cgroup")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') roots.push_back(std::string("/sys/fs/cgroup/") + e->d_name);
        ::closedir(d);
    }
    return roots;
}

std::string busybox_tarball() { return std::string(LXBOX_BUILD_DIR) + "/distro-images/busybox-rootfs.tar"; }

}  // namespace lxbox::test

#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

namespace lxbox::test {

namespace {

std::string content_hash(const std::string& path) {
    // FNV-1a over the content: enough to tell two test trees apart.
    std::ifstream in(path, std::ios::binary);
    uint64_t h = 1469598103934665603ull;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
    }
    std::ostringstream s;
    s << std::hex << h;
    return s.str();
}

std::string xattr_listing(const std::string& path) {
    char names[4096];
    ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
    if (n <= 0) return "";
    std::vector<std::string> keys;
    for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) keys.emplace_back(names + i);
    std::sort(keys.begin(), keys.end());
    std::string out;
    for (const auto& k : keys) {
        char val[4096];
        ssize_t vn = ::lgetxattr(path.c_str(), k.c_str(), val, sizeof val);
        out += k + "=";
        std::string v(val, vn > 0 ? static_cast<size_t>(vn) : 0u);
        std::ostringstream hex;
        for (unsigned char c : v) hex << std::hex << static_cast<int>(c);
        out += hex.str() + ";";
    }
    return out;
}

}  // namespace

std::string tree_listing(const std::string& root, bool with_mtime) {
    std::vector<std::string> lines;
    std::function<void(const std::string&)> walk = [&](const std::string& rel) {
        const std::string path = rel.empty() ? root : root + "/" + rel;
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) return;
        std::ostringstream l;
        l << (rel.empty() ? "." : rel) << " mode=" << std::oct << st.st_mode << std::dec << " uid=" << st.st_uid
          << " gid=" << st.st_gid;
        if (S_ISREG(st.st_mode)) l << " size=" << st.st_size << " hash=" << content_hash(path) << " nlink=" << st.st_nlink;
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
            l << " -> " << std::string(buf, n > 0 ? static_cast<size_t>(n) : 0u);
        }
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) l << " rdev=" << major(st.st_rdev) << "," << minor(st.st_rdev);
        if (with_mtime && !S_ISLNK(st.st_mode) && !rel.empty()) l << " mtime=" << st.st_mtim.tv_sec;
        l << " xattrs=" << xattr_listing(path);
        lines.push_back(l.str());
        if (S_ISDIR(st.st_mode)) {
            DIR* d = ::opendir(path.c_str());
            if (!d) return;
            std::vector<std::string> kids;
            while (auto* e = ::readdir(d)) {
                std::string n = e->d_name;
                if (n != "." && n != "..") kids.push_back(rel.empty() ? n : rel + "/" + n);
            }
            ::closedir(d);
            for (const auto& k : kids) walk(k);
        }
    };
    walk("");
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

std::string registry_text(const std::string& store_root) {
    std::ifstream in(store_root + "/registry.json");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace lxbox::test
