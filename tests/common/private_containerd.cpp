#include "tests/common/private_containerd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/common/oci_image.hpp"

extern char** environ;

namespace lxbox::test {

std::vector<pid_t> processes_naming(const std::string& text) {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    while (dirent* e = d ? ::readdir(d) : nullptr) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0 || pid == ::getpid()) continue;
        std::ifstream in("/proc/" + std::string(e->d_name) + "/cmdline");
        std::stringstream cmdline;
        cmdline << in.rdbuf();
        if (cmdline.str().find(text) != std::string::npos) out.push_back(pid);
    }
    if (d) ::closedir(d);
    return out;
}

std::vector<std::string> mounts_under(const std::string& dir) {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        if (point.rfind(dir, 0) == 0) out.push_back(point);
    }
    return out;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    while (dirent* e = d ? ::readdir(d) : nullptr)
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    if (d) ::closedir(d);
    return out;
}

PrivateContainerd::PrivateContainerd(const std::string& dir, const std::string& extra_config)
    : dir_(dir), socket_(dir + "/containerd.sock") {
    std::ofstream(dir + "/config.toml") << "version = 2\nroot = \"" << dir << "/root\"\nstate = \"" << dir
                                        << "/state\"\n"
                                        << extra_config << "[grpc]\n  address = \"" << socket_ << "\"\n"
                                        << "[ttrpc]\n  address = \"" << socket_ << ".ttrpc\"\n"
                                        << "[debug]\n  address = \"" << dir << "/debug.sock\"\n";
    std::vector<std::string> argv = {"/usr/bin/containerd", "--config", dir + "/config.toml"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const std::string log = dir + "/containerd.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int spawned = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (spawned != 0) {
        pid_ = -1;
        return;
    }
    struct stat st;
    for (int i = 0; i < 500 && ::stat(socket_.c_str(), &st) != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    started_ = ::stat(socket_.c_str(), &st) == 0;
}

PrivateContainerd::~PrivateContainerd() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    for (pid_t shim : processes_naming(socket_)) ::kill(shim, SIGKILL);
    auto left = mounts_under(dir_);
    for (auto it = left.rbegin(); it != left.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
}

std::string PrivateContainerd::log() const {
    std::ifstream in(dir_ + "/containerd.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> PrivateContainerd::ctr_argv(const std::string& ns,
                                                     const std::vector<std::string>& args) const {
    std::vector<std::string> full = {"ctr", "--address", socket_, "--namespace", ns};
    full.insert(full.end(), args.begin(), args.end());
    return full;
}

CommandResult PrivateContainerd::ctr(const std::string& ns, const std::vector<std::string>& args) const {
    return run(ctr_argv(ns, args));
}

std::string PrivateContainerd::import_busybox(const std::string& ns, const std::string& name,
                                              const nlohmann::json& config) const {
    // An OCI archive of the busybox rootfs, as `ctr image import` takes it: its ref the tag,
    // named by --base-name (ctr's default name, import-DATE:TAG, would be shared by each import).
    const auto colon = name.rfind(':');
    OciImage image;
    image.layers.push_back({{}, TarFilter::None, busybox_tarball()});
    image.config = config;
    const std::string layout = dir_ + "/layout-" + std::to_string(std::hash<std::string>{}(name));
    write_oci_layout(layout, image, name.substr(colon + 1));
    auto tar = run({"tar", "-C", layout, "-cf", layout + ".tar", "."});
    if (tar.exit_code != 0) return tar.err;
    auto imported = ctr(ns, {"images", "import", "--base-name", name.substr(0, colon), layout + ".tar"});
    return imported.exit_code == 0 ? "" : imported.err;
}

void PrivateContainerd::expect_no_shim_mount_or_state(const std::vector<std::string>& state_dirs) const {
    for (int i = 0; i < 250 && !processes_naming(socket_).empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a shim exits after its delete
    EXPECT_EQ(processes_naming(socket_).size(), 0u);
    for (const auto& m : mounts_under(dir_)) ADD_FAILURE() << "mount left: " << m;
    for (const auto& d : state_dirs)
        for (const auto& e : entries(d)) ADD_FAILURE() << "state left: " << d << "/" << e;
}

}  // namespace lxbox::test
