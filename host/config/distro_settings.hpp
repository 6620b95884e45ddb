// Per-distro settings, as WSL keeps /etc/wsl.conf with each distro: the default user,
// integration on or off, a boot command, systemd, and the VM's mount of the host's files.
//
// Kept in the distro's entry of registry.json ("settings": {"user.default": "alice"}), not as
// a file in the image: an image's layers are content-addressed and shared by every image that
// lists them (a file written into one would change its digest or reach the other images), a
// rootfs import's tree is read-only by convention, and registry.json is already the one place
// a distro's facts are written, atomically under the store's lock; the settings go with
// `unregister`. `lxbox config ... --distro NAME` reads and changes them. Pure here.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "runtime/base/error.hpp"

namespace lxbox::config {

using DistroValues = std::map<std::string, std::string>;  // key -> the text as set

struct DistroSettings {
    std::string default_user;      // user.default: NAME or UID the commands run as; "" = root
    bool integration = false;      // integration: new containers are integrated (launch --integrate)
    std::string boot_command;      // boot.command: run as root by `sh -c` when a container starts
    bool systemd = false;          // boot.systemd: a kept container boots systemd as PID 1 (host/launch/systemd.hpp)
    std::string host_mount = "none";  // vm.host-mount: none, home, or a guest dir for the host's /
};

// Pure: every per-distro key, in the order `config list --distro` shows them.
const std::vector<KeyInfo>& distro_keys();
// Pure: an Invalid error listing the known keys unless key is one of them.
Status check_distro_key(const std::string& key);
// Pure: the settings of the stored values; a bad one names its key and value.
Result<DistroSettings> parse_distro_settings(const DistroValues& values);
// Pure: values with key set to value after validating it (nothing changed on an error).
Result<DistroValues> set_distro_key(const DistroValues& values, const std::string& key, const std::string& value);
// Pure: values without key (an unknown key is an error).
Result<DistroValues> unset_distro_key(const DistroValues& values, const std::string& key);
// Pure: every key with its stored value or default, as `config list` shows them.
std::vector<Setting> distro_settings_view(const DistroValues& values);

}  // namespace lxbox::config
