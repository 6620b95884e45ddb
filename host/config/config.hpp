// The user's settings file, $root/config.json (as WSL's .wslconfig): the utility VM's size and
// lifetime. The file stores each value as the user wrote it ("2G", "5m"), grouped by section:
// {"vm": {"memory": "2G", "cpus": "4"}}; a key that is absent takes its default. Every reader
// validates the whole file, so a typo fails loudly instead of silently meaning the default.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::config {

struct VmSettings {
    unsigned memory_mib = 1024;              // vm.memory: "2G", "512M" (at least 128M)
    unsigned cpus = 2;                       // vm.cpus: 1..256
    std::chrono::seconds idle_timeout{300};  // vm.idle-timeout: "300", "30s", "5m", "1h"; 0 = never
    uint64_t disk_bytes = 64ull << 30;       // vm.disk-size: the VM's containers disk (at least 1G)
};

struct StorageSettings {
    // storage.overlay: how a container's root is mounted. "auto": the kernel's overlayfs, and
    // fuse-overlayfs (when installed) where the kernel refuses it in a user namespace (rootless
    // before Linux 5.11); "kernel": overlayfs only; "fuse": fuse-overlayfs always.
    std::string overlay = "auto";
};

struct Config {
    VmSettings vm;
    StorageSettings storage;
};

// A key users can set, its default as they would write it, and one line saying what it does.
struct KeyInfo {
    std::string key, default_value, description;
};

// A key as `config list` shows it: the stored text, or the default when unset.
struct Setting {
    std::string key, value;
    bool is_default = true;
    std::string description;
};

// Pure: every key lxbox knows, in the order `config list` shows them.
const std::vector<KeyInfo>& known_keys();

// Pure: an Invalid error listing the known keys unless key is one of them.
Status check_key(const std::string& key);

// Pure: the settings in config.json's text ("" or whitespace: all defaults). A syntax error
// names its line and column; an unknown key or a bad value names the key and the value.
Result<Config> parse_config(const std::string& json_text);

// Pure: every known key with its value (stored or default); validates the whole text as
// parse_config does.
Result<std::vector<Setting>> settings(const std::string& json_text);

// Pure: the text with KEY set to VALUE, after validating VALUE for KEY (an unknown KEY is an
// Invalid error listing the known ones). Other keys, even ones this version does not know,
// are kept as they are.
Result<std::string> set_key(const std::string& json_text, const std::string& key,
                            const std::string& value);
// Pure: the text without KEY (unchanged when KEY is not set; an unknown KEY is an error).
Result<std::string> unset_key(const std::string& json_text, const std::string& key);

// $root/config.json.
std::string config_path(const std::string& root);
// Effects: the text of $root/config.json, "" when there is none (no lock: the file is only
// ever replaced by rename, so a reader sees a whole version).
Result<std::string> read_text(const std::string& root);
// Effects: the settings of $root/config.json; a missing file is all defaults.
Result<Config> load(const std::string& root);
// Effects, the save: under an flock on $root/config.lock, reads config.json, passes its text
// to change and writes the result atomically (temp + fsync + rename). Creates root if needed.
// When change fails the file is left untouched and its error returned.
Status update(const std::string& root,
              const std::function<Result<std::string>(const std::string& json_text)>& change);

}  // namespace lxbox::config
