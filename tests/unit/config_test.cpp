// The user's config.json, purely: parsing, defaults, set/unset, and what a bad file says.
#include "host/config/config.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace lxbox::config {
namespace {

std::string error_of(const Result<Config>& r) {
    return r ? "(no error)" : r.error().message;
}
std::string error_of(const Result<std::string>& r) {
    return r ? "(no error)" : r.error().message;
}

Config parsed(const std::string& text) {
    auto r = parse_config(text);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : Config{};
}

std::string vm_json(const std::string& key, const std::string& value) {
    return nlohmann::json{{"vm", {{key, value}}}}.dump();
}

TEST(ConfigDefaults, KnownKeysDefaultsAreTheStructsDefaults) {
    std::string text;
    for (const auto& k : known_keys()) {
        EXPECT_FALSE(k.description.empty()) << k.key;
        auto next = set_key(text, k.key, k.default_value);
        ASSERT_TRUE(next) << k.key << ": " << next.error().message;
        text = *next;
    }
    const Config c = parsed(text), d;
    EXPECT_EQ(c.vm.memory_mib, d.vm.memory_mib);
    EXPECT_EQ(c.vm.cpus, d.vm.cpus);
    EXPECT_EQ(c.vm.idle_timeout, d.vm.idle_timeout);
    EXPECT_EQ(c.vm.disk_bytes, d.vm.disk_bytes);
    EXPECT_EQ(c.storage.overlay, d.storage.overlay);
}

TEST(ConfigDefaults, EmptyTextIsAllDefaults) {
    for (const char* text : {"", "  \n", "{}", "{\"vm\": {}}"}) {
        const Config c = parsed(text);
        EXPECT_EQ(c.vm.memory_mib, 1024u) << text;
        EXPECT_EQ(c.vm.cpus, 2u) << text;
        EXPECT_EQ(c.vm.idle_timeout.count(), 300) << text;
        EXPECT_EQ(c.vm.disk_bytes, 64ull << 30) << text;
    }
}

TEST(ConfigParse, ReadsEveryKey) {
    const Config c = parsed(
        R"({"vm": {"memory": "2G", "cpus": "4", "idle-timeout": "1h", "disk-size": "128G"}})");
    EXPECT_EQ(c.vm.memory_mib, 2048u);
    EXPECT_EQ(c.vm.cpus, 4u);
    EXPECT_EQ(c.vm.idle_timeout.count(), 3600);
    EXPECT_EQ(c.vm.disk_bytes, 128ull << 30);
    EXPECT_EQ(parsed(vm_json("memory", "512M")).vm.memory_mib, 512u);
    // The parser of --memory and the cgroup limits: "1.5g" was "not a size" here.
    EXPECT_EQ(parsed(vm_json("memory", "1.5g")).vm.memory_mib, 1536u);
    EXPECT_EQ(parsed(vm_json("memory", "512MiB")).vm.memory_mib, 512u);
}

TEST(ConfigParse, AcceptsWholeNumbersWithoutQuotes) {
    EXPECT_EQ(parsed(R"({"vm": {"cpus": 8, "idle-timeout": 0}})").vm.cpus, 8u);
    EXPECT_EQ(parsed(R"({"vm": {"idle-timeout": 0}})").vm.idle_timeout.count(), 0);
}

TEST(ConfigParse, IdleTimeoutTakesSecondsMinutesHours) {
    const std::pair<const char*, long> cases[] = {{"300", 300}, {"30s", 30}, {"5m", 300},
                                                  {"1h", 3600}, {"0", 0},    {"2H", 7200}};
    for (const auto& [text, seconds] : cases)
        EXPECT_EQ(parsed(vm_json("idle-timeout", text)).vm.idle_timeout.count(), seconds) << text;
}

TEST(ConfigParse, BadValueNamesKeyAndValue) {
    EXPECT_EQ(error_of(parse_config(vm_json("memory", "12Q"))),
              "vm.memory: '12Q' is not a size (512M, 2G)");
    EXPECT_EQ(error_of(parse_config(R"({"vm": {"cpus": true}})")),
              "vm.cpus: expected a string such as \"2G\", got true");
    EXPECT_EQ(parse_config(vm_json("memory", "12Q")).error().kind, ErrorKind::Invalid);
}

TEST(ConfigParse, RefusesValuesOutOfRange) {
    const std::pair<const char*, const char*> bad[] = {
        {"memory", "64M"},      {"memory", ""},        {"memory", "-1G"},
        {"memory", "2 G"},      {"cpus", "0"},         {"cpus", "257"},
        {"cpus", "2.5"},        {"cpus", "four"},      {"idle-timeout", "5d"},
        {"idle-timeout", "-1"}, {"idle-timeout", "m"}, {"idle-timeout", "9000h"},
        {"disk-size", "512M"},  {"disk-size", "lots"}};
    for (const auto& [key, value] : bad) {
        auto r = parse_config(vm_json(key, value));
        EXPECT_FALSE(r) << key << "=" << value;
        if (!r) {
            EXPECT_EQ(r.error().message.rfind(std::string("vm.") + key + ": '", 0), 0u)
                << r.error().message;
        }
    }
    EXPECT_EQ(error_of(parse_config(vm_json("memory", "64M"))),
              "vm.memory: '64M' is less than the minimum, 128M");
}

TEST(ConfigParse, UnknownKeysAreErrorsNamingTheKnownOnes) {
    EXPECT_EQ(error_of(parse_config(vm_json("memroy", "2G"))),
              "unknown key 'vm.memroy' (known: vm.memory, vm.cpus, vm.idle-timeout, vm.disk-size, storage.overlay)");
    EXPECT_EQ(error_of(parse_config(R"({"network": {"dns": "1.1.1.1"}})"))
                  .rfind("unknown key 'network' (", 0),
              0u);
    EXPECT_EQ(
        error_of(parse_config(R"({"vm.memory": "2G"})")).rfind("unknown key 'vm.memory' (", 0), 0u);
}

TEST(ConfigParse, StorageOverlayIsAutoKernelOrFuse) {
    EXPECT_EQ(parsed("").storage.overlay, "auto");
    EXPECT_EQ(parsed(R"({"storage": {"overlay": "fuse"}})").storage.overlay, "fuse");
    EXPECT_EQ(parsed(R"({"storage": {"overlay": "kernel"}})").storage.overlay, "kernel");
    EXPECT_EQ(error_of(set_key("", "storage.overlay", "zfs")), "'zfs' is not auto, kernel or fuse");
    EXPECT_NE(error_of(parse_config(R"({"storage": {"overlay": "FUSE"}})")).find("'FUSE'"), std::string::npos);
}

TEST(ConfigParse, SyntaxErrorNamesLineAndColumn) {
    const std::string msg = error_of(parse_config("{\n  \"vm\": {\"memory\": \"2G\",}\n}"));
    EXPECT_EQ(msg.rfind("parse error at line 2, column ", 0), 0u) << msg;
    EXPECT_EQ(error_of(parse_config("[]")),
              "expected an object such as {\"vm\": {\"memory\": \"2G\"}}");
    EXPECT_EQ(error_of(parse_config(R"({"vm": 3})")),
              "vm: expected an object such as {\"memory\": \"2G\"}");
}

TEST(ConfigSet, WritesTheValueAsTyped) {
    auto text = set_key("", "vm.memory", "2G");
    ASSERT_TRUE(text) << text.error().message;
    EXPECT_EQ(nlohmann::json::parse(*text), nlohmann::json::parse(R"({"vm": {"memory": "2G"}})"));
    EXPECT_EQ(parsed(*text).vm.memory_mib, 2048u);
}

TEST(ConfigSet, KeepsOtherKeysTheirOrderAndKeysOfNewerVersions) {
    auto text =
        set_key(R"({"later": {"x": 1}, "vm": {"cpus": "4", "memory": "1G"}})", "vm.memory", "3G");
    ASSERT_TRUE(text) << text.error().message;
    EXPECT_EQ(nlohmann::ordered_json::parse(*text).dump(),
              R"({"later":{"x":1},"vm":{"cpus":"4","memory":"3G"}})");
}

TEST(ConfigSet, RefusesBadValuesAndUnknownKeys) {
    EXPECT_EQ(error_of(set_key("", "vm.memory", "12Q")), "'12Q' is not a size (512M, 2G)");
    auto unknown = set_key("", "vm.ram", "2G");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, ErrorKind::Invalid);
    EXPECT_EQ(unknown.error().message,
              "unknown key 'vm.ram' (known: vm.memory, vm.cpus, vm.idle-timeout, vm.disk-size, storage.overlay)");
}

TEST(ConfigSet, RefusesAFileItCannotRead) {
    EXPECT_EQ(error_of(set_key("{", "vm.cpus", "4")).rfind("config.json: parse error at line 1", 0),
              0u);
    EXPECT_EQ(error_of(set_key(R"({"vm": "big"})", "vm.cpus", "4")),
              "config.json: vm: expected an object such as {\"memory\": \"2G\"}");
}

TEST(ConfigSet, RepairsABadValueWrittenByHand) {
    const std::string broken = vm_json("memory", "12Q");
    auto fixed = set_key(broken, "vm.memory", "2G");
    ASSERT_TRUE(fixed) << fixed.error().message;
    EXPECT_EQ(parsed(*fixed).vm.memory_mib, 2048u);
    auto reset = unset_key(broken, "vm.memory");
    ASSERT_TRUE(reset) << reset.error().message;
    EXPECT_EQ(parsed(*reset).vm.memory_mib, 1024u);
}

TEST(ConfigUnset, RemovesTheKeyAndAnEmptySection) {
    auto one = unset_key(R"({"vm": {"memory": "2G", "cpus": "4"}})", "vm.memory");
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(nlohmann::json::parse(*one), nlohmann::json::parse(R"({"vm": {"cpus": "4"}})"));
    auto none = unset_key(*one, "vm.cpus");
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_EQ(nlohmann::json::parse(*none), nlohmann::json::object());
    auto again = unset_key(*none, "vm.cpus");  // not set: nothing to do, not an error
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(nlohmann::json::parse(*again), nlohmann::json::object());
    EXPECT_EQ(error_of(unset_key("", "cpus")).rfind("unknown key 'cpus' (", 0), 0u);
}

TEST(ConfigSettings, ListsEveryKeyMarkingDefaults) {
    auto list = settings(R"({"vm": {"cpus": "4"}})");
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), known_keys().size());
    for (size_t i = 0; i < list->size(); ++i) {
        const Setting& s = (*list)[i];
        EXPECT_EQ(s.key, known_keys()[i].key);
        EXPECT_EQ(s.is_default, s.key != "vm.cpus") << s.key;
        EXPECT_EQ(s.value, s.key == "vm.cpus" ? "4" : known_keys()[i].default_value) << s.key;
    }
    EXPECT_FALSE(settings(vm_json("cpus", "0")));
    EXPECT_TRUE(check_key("vm.disk-size").ok());
    EXPECT_FALSE(check_key("vm").ok());
}

}  // namespace
}  // namespace lxbox::config
