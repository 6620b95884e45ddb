#include "host/config/distro_settings.hpp"

#include <algorithm>
#include <cctype>

#include "runtime/base/printable.hpp"

namespace lxbox::config {

namespace {

Error invalid(const std::string& value, const std::string& why) {
    return Error(ErrorKind::Invalid, "'" + printable(value) + "' " + why);
}

Result<bool> parse_bool(const std::string& value) {
    if (value == "true") return true;
    if (value == "false") return false;
    return invalid(value, "is not true or false");
}

// A login name as shadow's useradd takes it ([a-z_][a-z0-9_-]*, a trailing $ allowed, 32 at
// most; upper case and dots too, as Debian's relaxed rule does), or a numeric uid.
Status check_user(const std::string& value) {
    const bool numeric = !value.empty() && std::all_of(value.begin(), value.end(), ::isdigit);
    if (numeric && value.size() <= 10) return {};
    bool ok = !value.empty() && value.size() <= 32 && (std::isalpha(static_cast<unsigned char>(value[0])) || value[0] == '_');
    for (size_t i = 0; ok && i < value.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(value[i]);
        ok = std::isalnum(c) || c == '_' || c == '-' || c == '.' || (c == '$' && i + 1 == value.size());
    }
    if (!ok) return invalid(value, "is not a user name or uid");
    return {};
}

Status check_boot_command(const std::string& value) {
    if (value.empty() || value.find_first_not_of(" \t") == std::string::npos) return invalid(value, "is empty (unset the key instead)");
    if (value.find('\n') != std::string::npos || value.find('\0') != std::string::npos)
        // Not echoed: the refusal is one line.
        return Error(ErrorKind::Invalid, "a command of several lines: give one command line");
    if (value.size() > 4096) return invalid(value.substr(0, 20) + "...", "is longer than 4096 characters");
    return {};
}

// none, home (the host's home at the same path), or an absolute, normalised guest directory
// under which the host's / is mounted (WSL's /mnt/c), never over the guest's own system dirs.
Status check_host_mount(const std::string& value) {
    if (value == "none" || value == "home") return {};
    if (value.empty() || value[0] != '/') return invalid(value, "is not none, home or an absolute path such as /mnt/host");
    if (value == "/" || value.back() == '/' || value.find("//") != std::string::npos ||
        value.find("/./") != std::string::npos || value.find("/../") != std::string::npos || value.ends_with("/.") ||
        value.ends_with("/.."))
        return invalid(value, "is not a normalised directory other than / (such as /mnt/host)");
    for (const char* sys : {"/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr", "/var"}) {
        const std::string s = sys;
        if (value == s || value.rfind(s + "/", 0) == 0) return invalid(value, "would cover the guest's " + s);
    }
    return {};
}

Status apply(const std::string& key, const std::string& value, DistroSettings& s) {
    if (key == "user.default") {
        LXBOX_TRY(check_user(value));
        s.default_user = value;
    } else if (key == "integration") {
        s.integration = LXBOX_TRY(parse_bool(value));
    } else if (key == "boot.command") {
        LXBOX_TRY(check_boot_command(value));
        s.boot_command = value;
    } else if (key == "boot.systemd") {
        s.systemd = LXBOX_TRY(parse_bool(value));
    } else if (key == "vm.host-mount") {
        LXBOX_TRY(check_host_mount(value));
        s.host_mount = value;
    } else {
        return check_distro_key(key);
    }
    return {};
}

}  // namespace

const std::vector<KeyInfo>& distro_keys() {
    static const std::vector<KeyInfo> keys = {
        {"user.default", "root", "the user commands run as (NAME or UID; -u overrides)"},
        {"integration", "false", "new containers run as you, with your home, display and sound (launch --integrate)"},
        {"boot.command", "", "a command run as root (sh -c) each time a container of the distro starts"},
        {"boot.systemd", "false", "systemd as the init of kept containers (launch and exec join it; stop halts it)"},
        {"vm.host-mount", "none", "in the VM, the host's files: none, home (same path) or a dir for the host's /"},
    };
    return keys;
}

Status check_distro_key(const std::string& key) {
    std::string known;
    for (const auto& k : distro_keys()) {
        if (k.key == key) return {};
        known += (known.empty() ? "" : ", ") + k.key;
    }
    return Error(ErrorKind::Invalid, "unknown distro key '" + printable(key) + "' (known: " + known + ")");
}

Result<DistroSettings> parse_distro_settings(const DistroValues& values) {
    DistroSettings s;
    for (const auto& [key, value] : values) LXBOX_TRY_CTX(apply(key, value, s), key);
    return s;
}

Result<DistroValues> set_distro_key(const DistroValues& values, const std::string& key, const std::string& value) {
    LXBOX_TRY(check_distro_key(key));
    DistroSettings scratch;
    LXBOX_TRY(apply(key, value, scratch));
    DistroValues out = values;
    out[key] = value;
    return out;
}

Result<DistroValues> unset_distro_key(const DistroValues& values, const std::string& key) {
    LXBOX_TRY(check_distro_key(key));
    DistroValues out = values;
    out.erase(key);
    return out;
}

std::vector<Setting> distro_settings_view(const DistroValues& values) {
    std::vector<Setting> out;
    for (const auto& k : distro_keys()) {
        auto it = values.find(k.key);
        out.push_back({k.key, it == values.end() ? k.default_value : it->second, it == values.end(), k.description});
    }
    return out;
}

}  // namespace lxbox::config
