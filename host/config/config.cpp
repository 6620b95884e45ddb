#include "host/config/config.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <climits>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "runtime/base/log.hpp"
#include "runtime/base/printable.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/plan/plan.hpp"

namespace lxbox::config {

namespace {

// Keeps the user's order of keys when set/unset rewrite the file they may have edited by hand.
using Json = nlohmann::ordered_json;

Error invalid(const std::string& value, const std::string& why) {
    return Error(ErrorKind::Invalid, "'" + printable(value) + "' " + why);
}

// A size as `--memory` takes it (512M, 2G, bytes), at least `minimum` (written the same way).
Result<uint64_t> parse_size(const std::string& value, const char* examples, const char* minimum) {
    auto bytes = runtime::parse_memory(value);
    if (!bytes) return invalid(value, std::string("is not a size (") + examples + ")");
    if (*bytes < runtime::parse_memory(minimum).value())
        return invalid(value, std::string("is less than the minimum, ") + minimum);
    return *bytes;
}

Status parse_vm_memory(const std::string& value, Config& config) {
    const uint64_t bytes = LXBOX_TRY(parse_size(value, "512M, 2G", "128M"));
    if ((bytes >> 20) > UINT_MAX) return invalid(value, "is too large");
    config.vm.memory_mib = static_cast<unsigned>(bytes >> 20);
    return {};
}

Status parse_vm_cpus(const std::string& value, Config& config) {
    unsigned cpus = 0;
    const char* end = value.data() + value.size();
    auto [p, ec] = std::from_chars(value.data(), end, cpus);
    if (ec != std::errc() || p != end || cpus < 1 || cpus > 256)
        return invalid(value, "is not a number of CPUs from 1 to 256");
    config.vm.cpus = cpus;
    return {};
}

Status parse_vm_idle_timeout(const std::string& value, Config& config) {
    // A year at most: "never" is spelled 0, and whoever waits on it may count in nanoseconds
    // (an int64 of them lasts 292 years).
    constexpr uint64_t kMaxSeconds = 365ull * 24 * 3600;
    uint64_t count = 0;
    const char* end = value.data() + value.size();
    auto [p, ec] = std::from_chars(value.data(), end, count);
    std::string unit(p, end);
    for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const uint64_t scale = unit.empty() || unit == "s" ? 1
                           : unit == "m"               ? 60
                           : unit == "h"               ? 3600
                                                       : 0;
    if (ec != std::errc() || p == value.data() || scale == 0)
        return invalid(value, "is not a duration (300, 30s, 5m, 1h; 0 = never)");
    if (count > kMaxSeconds / scale) return invalid(value, "is longer than a year (0 = never)");
    config.vm.idle_timeout = std::chrono::seconds(count * scale);
    return {};
}

Status parse_vm_disk_size(const std::string& value, Config& config) {
    config.vm.disk_bytes = LXBOX_TRY(parse_size(value, "64G, 256G", "1G"));
    return {};
}

Status parse_storage_overlay(const std::string& value, Config& config) {
    if (value != "auto" && value != "kernel" && value != "fuse") return invalid(value, "is not auto, kernel or fuse");
    config.storage.overlay = value;
    return {};
}

struct KeySpec {
    KeyInfo info;
    Status (*parse)(const std::string& value, Config& config);
};

// The defaults here are the text forms of Config's member initialisers (a unit test checks).
const std::vector<KeySpec>& key_specs() {
    static const std::vector<KeySpec> specs = {
        {{"vm.memory", "1G", "memory of the utility VM (512M, 2G; at least 128M)"},
         parse_vm_memory},
        {{"vm.cpus", "2", "virtual CPUs of the utility VM (1 to 256)"}, parse_vm_cpus},
        {{"vm.idle-timeout", "5m",
          "shut the utility VM down after this long unused (30s, 5m, 1h; 0 = never)"},
         parse_vm_idle_timeout},
        {{"vm.disk-size", "64G", "size of the utility VM's containers disk (at least 1G)"},
         parse_vm_disk_size},
        {{"storage.overlay", "auto",
          "a container's root: auto (overlayfs; fuse-overlayfs where the kernel refuses it rootless), kernel, fuse"},
         parse_storage_overlay},
    };
    return specs;
}

Error unknown_key(const std::string& key) {
    std::string known;
    for (const auto& spec : key_specs()) known += (known.empty() ? "" : ", ") + spec.info.key;
    return Error(ErrorKind::Invalid, "unknown key '" + printable(key) + "' (known: " + known + ")");
}

Result<const KeySpec*> find_key(const std::string& key) {
    for (const auto& spec : key_specs())
        if (spec.info.key == key) return &spec;
    return unknown_key(key);
}

// "vm.memory" → {"vm", "memory"}: the file groups keys by their section.
std::pair<std::string, std::string> split_key(const std::string& key) {
    const auto dot = key.find('.');
    return {key.substr(0, dot), key.substr(dot + 1)};
}

bool is_section(const std::string& name) {
    for (const auto& spec : key_specs())
        if (split_key(spec.info.key).first == name) return true;
    return false;
}

// The document, which must be an object; "" (a file emptied by hand) is an empty one.
Result<Json> parse_document(const std::string& json_text) {
    if (json_text.find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
    Json doc;
    try {
        doc = Json::parse(json_text);
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number too big
        // "[json.exception.parse_error.101] parse error at line 2, column 5: ..." without the id.
        std::string what = e.what();
        if (auto id_end = what.find("] "); what.rfind('[', 0) == 0 && id_end != std::string::npos)
            what.erase(0, id_end + 2);
        return Error(ErrorKind::Invalid, what);
    }
    if (!doc.is_object())
        return Error(ErrorKind::Invalid,
                     "expected an object such as {\"vm\": {\"memory\": \"2G\"}}");
    return doc;
}

// A section that set/unset may edit: absent (null) or an object.
Status check_section(const Json& doc, const std::string& section) {
    if (doc.contains(section) && !doc[section].is_object())
        return Error(ErrorKind::Invalid,
                     printable(section) + ": expected an object such as {\"memory\": \"2G\"}");
    return {};
}

// A value as the user wrote it: a string, or a whole number written without quotes.
Result<std::string> value_text(const Json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_integer()) return value.dump();
    return Error(ErrorKind::Invalid, "expected a string such as \"2G\", got " + value.dump());
}

// Every stored key → its text, checking that each key is known (values are not parsed yet).
Result<std::map<std::string, std::string>> stored_values(const std::string& json_text) {
    const Json doc = LXBOX_TRY(parse_document(json_text));
    std::map<std::string, std::string> values;
    for (const auto& [section, entries] : doc.items()) {
        if (!is_section(section)) return unknown_key(section);
        LXBOX_TRY(check_section(doc, section));
        for (const auto& [name, value] : entries.items()) {
            const std::string key = section + "." + name;
            LXBOX_TRY(find_key(key));
            values[key] = LXBOX_TRY_CTX(value_text(value), key);
        }
    }
    return values;
}

Result<Config> parse_values(const std::map<std::string, std::string>& values) {
    Config config;
    for (const auto& [key, text] : values) {
        const KeySpec* spec = LXBOX_TRY(find_key(key));
        LXBOX_TRY_CTX(spec->parse(text, config), key);
    }
    return config;
}

}  // namespace

const std::vector<KeyInfo>& known_keys() {
    static const std::vector<KeyInfo> keys = [] {
        std::vector<KeyInfo> out;
        for (const auto& spec : key_specs()) out.push_back(spec.info);
        return out;
    }();
    return keys;
}

Status check_key(const std::string& key) {
    LXBOX_TRY(find_key(key));
    return {};
}

Result<Config> parse_config(const std::string& json_text) {
    return parse_values(LXBOX_TRY(stored_values(json_text)));
}

Result<std::vector<Setting>> settings(const std::string& json_text) {
    const auto values = LXBOX_TRY(stored_values(json_text));
    LXBOX_TRY(parse_values(values));
    std::vector<Setting> out;
    for (const auto& key : known_keys()) {
        auto it = values.find(key.key);
        const bool is_default = it == values.end();
        out.push_back(
            {key.key, is_default ? key.default_value : it->second, is_default, key.description});
    }
    return out;
}

Result<std::string> set_key(const std::string& json_text, const std::string& key,
                            const std::string& value) {
    const KeySpec* spec = LXBOX_TRY(find_key(key));
    Config scratch;
    LXBOX_TRY(spec->parse(value, scratch));
    Json doc = LXBOX_TRY_CTX(parse_document(json_text), "config.json");
    const auto [section, name] = split_key(key);
    LXBOX_TRY_CTX(check_section(doc, section), "config.json");
    doc[section][name] = value;
    return doc.dump(2) + "\n";
}

Result<std::string> unset_key(const std::string& json_text, const std::string& key) {
    LXBOX_TRY(find_key(key));
    Json doc = LXBOX_TRY_CTX(parse_document(json_text), "config.json");
    const auto [section, name] = split_key(key);
    LXBOX_TRY_CTX(check_section(doc, section), "config.json");
    if (doc.contains(section)) {
        doc[section].erase(name);
        if (doc[section].empty()) doc.erase(section);
    }
    return doc.dump(2) + "\n";
}

std::string config_path(const std::string& root) {
    return root + "/config.json";
}

Result<std::string> read_text(const std::string& root) {
    auto text = read_file(config_path(root));
    if (!text && text.error().kind == ErrorKind::NotFound) return std::string();
    return text;
}

Result<Config> load(const std::string& root) {
    const std::string text = LXBOX_TRY(read_text(root));
    return parse_config(text).context(config_path(root));
}

Status update(const std::string& root,
              const std::function<Result<std::string>(const std::string& json_text)>& change) {
    // The root is 0700 as Store::open makes it: made here first, it must not end up wider.
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(root).parent_path(), ec);
    if (ec) return Error::sys(ec.value(), "create " + root);
    if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + root);
    // A lock file beside config.json, which rename replaces on every write.
    const std::string lock_path = root + "/config.lock";
    auto lock = LXBOX_TRY(open_fd(lock_path, O_RDWR | O_CREAT, 0644));
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR) return Error::last("lock " + lock_path);
    const std::string before = LXBOX_TRY(read_text(root));
    const std::string after = LXBOX_TRY(change(before));
    if (after == before) return {};
    spdlog::debug("write {}", config_path(root));
    return write_file_atomic(config_path(root), after);
}

}  // namespace lxbox::config
