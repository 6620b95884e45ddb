#include "tests/common/store_leftovers.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "tests/common/test_support.hpp"

namespace lxbox::test {

namespace fs = std::filesystem;

namespace {

std::string cgroups_of(const std::string& root) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) return {};
    char prefix[48];
    std::snprintf(prefix, sizeof prefix, "lxbox-%llx.%llx-", static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    std::string bad;
    for (const auto& croot : cgroup_roots()) {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(croot, ec); it != fs::recursive_directory_iterator();
             it.increment(ec)) {
            if (ec) break;
            if (it->is_directory() && it->path().filename().string().rfind(prefix, 0) == 0)
                bad += "cgroup " + it->path().string() + " left; ";
        }
    }
    return bad;
}

std::string processes_with(const std::string& marker) {
    std::string bad;
    for (const auto& p : fs::directory_iterator("/proc")) {
        std::ifstream env(p.path() / "environ");
        const std::string text((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
        if (text.find(marker) != std::string::npos) bad += "process " + p.path().filename().string() + " left; ";
    }
    return bad;
}

}  // namespace

std::string store_leftovers(const std::string& root, const std::string& env_marker) {
    nlohmann::json reg;
    try {
        reg = nlohmann::json::parse(registry_text(root));
    } catch (const std::exception& e) {
        return std::string("registry.json does not parse: ") + e.what();
    }
    std::string bad;
    for (const auto& [name, img] : reg["images"].items())
        if (img.value("layers", nlohmann::json::array()).empty() && !fs::exists(root + "/images/" + name + "/rootfs/bin"))
            bad += "image " + name + " registered without its rootfs; ";
    for (const char* folder : {"images", "containers"})
        for (const auto& e : fs::directory_iterator(root + "/" + folder))
            if (!reg[folder].contains(e.path().filename().string()))
                bad += std::string(folder) + "/" + e.path().filename().string() + " left; ";
    for (const char* dir : {"", "/tmp"}) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(root + dir, ec))
            if (e.path().filename().string().find(".tmp.") != std::string::npos || e.path().filename().string()[0] == '.')
                bad += e.path().string() + " left; ";
    }
    std::ifstream mi("/proc/self/mountinfo");
    for (std::string line; std::getline(mi, line);)
        if (line.find(" " + root + "/") != std::string::npos) bad += "mount " + line + " left; ";
    bad += cgroups_of(root);
    if (!env_marker.empty()) bad += processes_with(env_marker);
    return bad;
}

}  // namespace lxbox::test
