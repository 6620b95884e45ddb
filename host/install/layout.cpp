#include "host/install/layout.hpp"
#include "host/install/version.hpp"

#include <unistd.h>

#include <cstdlib>

#include "runtime/base/unique_fd.hpp"

namespace lxbox::install {

namespace {

struct CompanionInfo {
    const char* file;
    const char* env;
    const char* build_dir;  // its CMake subdirectory in the build tree
    bool program;           // executable (libexec/lxbox/), else data (share/lxbox/)
};

const CompanionInfo& info(Companion c) {
    static const CompanionInfo table[] = {
        {"busybox-rootfs.tar", "LXBOX_BUSYBOX_TARBALL", "distro-images", false},
        {"lxbox-agent", "LXBOX_AGENT", "guest-agent", true},
        {"lxbox-registry", "LXBOX_REGISTRY_HELPER", "registry-client", true},
        {"lxbox-agent-aarch64", "LXBOX_AGENT_AARCH64", "guest-agent", true},
    };
    return table[static_cast<int>(c)];
}

}  // namespace

const char* companion_file(Companion c) { return info(c).file; }
const char* companion_env(Companion c) { return info(c).env; }

std::vector<std::string> companion_candidates(const std::string& exe, Companion c) {
    const size_t slash = exe.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "" : exe.substr(0, slash);
    // The parent of the binary's directory without "..": messages name real places.
    const size_t up = dir.rfind('/');
    const std::string parent = dir.empty() ? "" : up == std::string::npos ? ".." : dir.substr(0, up);
    const std::string file = companion_file(c);
    std::vector<std::string> out;
    if (info(c).program) out.push_back(dir + "/" + file);
    out.push_back(parent + "/" + info(c).build_dir + "/" + file);
    out.push_back(parent + (info(c).program ? "/libexec/lxbox/" : "/share/lxbox/") + file);
    return out;
}

Result<std::string> find_companion(Companion c) {
    const int mode = info(c).program ? X_OK : R_OK;
    if (const char* env = std::getenv(companion_env(c)); env && *env) {
        if (::access(env, mode) != 0) return Error::last(std::string(companion_env(c)) + "=" + env, ErrorKind::NotFound);
        return std::string(env);
    }
    const std::string exe = LXBOX_TRY(self_executable());
    const std::vector<std::string> candidates = companion_candidates(exe, c);
    for (const std::string& path : candidates)
        if (::access(path.c_str(), mode) == 0) return path;
    return Error(ErrorKind::NotFound, std::string(companion_file(c)) + " not found (looked in " + candidates.back() +
                                          " and beside " + exe + "; set " + companion_env(c) + " to its path)");
}

std::string version_line(const std::string& version, const std::string& commit) {
    return "lxbox " + version + " (commit " + commit + ")";
}

}  // namespace lxbox::install
