#include "runtime/plan/oci_process.hpp"

#include <cerrno>

#include <algorithm>

namespace lxbox::runtime {

namespace {

const std::string* env_value(const std::vector<std::string>& env, const std::string& key) {
    const std::string prefix = key + "=";
    // The last one wins, as getenv sees a list with duplicates that runc set one by one.
    const auto it = std::find_if(env.rbegin(), env.rend(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    return it == env.rend() ? nullptr : &*it;
}

}  // namespace

std::vector<std::string> env_with_home(std::vector<std::string> env, const std::vector<PasswdEntry>& passwd, uid_t uid) {
    if (env_value(env, "HOME")) return env;
    const auto it = std::find_if(passwd.begin(), passwd.end(), [&](const PasswdEntry& p) { return p.uid == uid; });
    env.push_back("HOME=" + (it == passwd.end() || it->home.empty() ? std::string("/") : it->home));
    return env;
}

Result<std::string> look_path(const std::string& file, const std::vector<std::string>& env,
                              const std::function<int(const std::string&)>& check) {
    if (file.empty()) return Error(ErrorKind::Invalid, "process.args: the command is empty");
    if (file.find('/') != std::string::npos) {
        const int err = check(file);
        if (err == 0) return file;
        return Error(ErrorKind::NotFound, "exec: \"" + file + "\": " +
                                              (err == ENOENT ? "stat " + file + ": no such file or directory"
                                                             : std::string("permission denied")));
    }
    const std::string* path = env_value(env, "PATH");
    if (path) {
        const std::string list = path->substr(5);
        size_t start = 0;
        for (;;) {
            const size_t colon = list.find(':', start);
            std::string dir = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
            if (dir.empty()) dir = ".";
            const std::string candidate = dir + "/" + file;
            if (check(candidate) == 0) return candidate;
            if (colon == std::string::npos) break;
            start = colon + 1;
        }
    }
    return Error(ErrorKind::NotFound, "exec: \"" + file + "\": executable file not found in $PATH");
}

}  // namespace lxbox::runtime
