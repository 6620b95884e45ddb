// Our config.json parser against the runtime-spec's own JSON schema (Debian's
// golang-github-opencontainers-specs-dev installs it): every bundle config the parser accepts
// must validate there, and every schema-invalid one must be refused with the field the schema
// names. tests/common/oci_schema_check.py does the validating with python3-jsonschema.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/oci/config.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::runtime::oci {
namespace {

using nlohmann::json;

const std::string kSchemaDir = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema";
const std::string kChecker = std::string(LXBOX_SOURCE_DIR) + "/tests/common/oci_schema_check.py";

// `runc spec` (runc 1.1), unchanged: the config every variant below edits.
const char* const kRuncSpec = R"({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
})";

enum class Expect {
    Valid,           // schema-valid, and the parser accepts it
    Unsupported,     // schema-valid; the parser refuses it as ErrorKind::Unsupported (a feature lxbox lacks)
    ParserStricter,  // schema-valid; the parser refuses it (Invalid) for a rule the spec's prose states
                     // and the schema does not encode
    SchemaInvalid,   // the schema refuses it, and so must the parser, naming the same field
};

struct Variant {
    std::string name;
    Expect expect;
    std::string field;  // the field both refusals name ("" for Valid)
    std::function<void(json&)> edit;
};

void add_user_namespace(json& c) {
    c["linux"]["namespaces"].push_back({{"type", "user"}});
    c["linux"]["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
    c["linux"]["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
}

std::vector<Variant> variants() {
    using E = Expect;
    return {
        // Accepted by both.
        {"RuncDefault", E::Valid, "", [](json&) {}},
        {"Hooks", E::Valid, "",
         [](json& c) {
             c["hooks"] = {{"prestart", {{{"path", "/usr/bin/true"}, {"args", {"true"}}, {"timeout", 5}}}},
                           {"createRuntime", {{{"path", "/usr/local/bin/net-setup"}, {"env", {"A=1"}}}}},
                           {"poststop", {{{"path", "/usr/bin/logger"}}}}};
         }},
        {"Resources", E::Valid, "",
         [](json& c) {
             c["linux"]["resources"]["memory"] = {{"limit", 268435456}};
             c["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}};
             c["linux"]["resources"]["pids"] = {{"limit", 64}};
             c["linux"]["cgroupsPath"] = "/lxbox/c1";
         }},
        {"SeccompObject", E::Valid, "",
         [](json& c) {
             c["linux"]["seccomp"] = {
                 {"defaultAction", "SCMP_ACT_ERRNO"},
                 {"architectures", {"SCMP_ARCH_X86_64"}},
                 {"syscalls", {{{"names", {"read", "write", "exit_group"}}, {"action", "SCMP_ACT_ALLOW"}}}}};
         }},
        {"UserNamespaceWithMappings", E::Valid, "", add_user_namespace},
        {"Annotations", E::Valid, "",
         [](json& c) { c["annotations"] = {{"org.opencontainers.image.title", "demo"}, {"com.example.k", "v"}}; }},
        {"RootReadonlyAbsolute", E::Valid, "",
         [](json& c) { c["root"] = {{"path", "/var/lib/rootfs"}, {"readonly", true}}; }},
        {"ExtraBindMounts", E::Valid, "",
         [](json& c) {
             c["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", "data"},
                                    {"options", {"rbind", "ro"}}});
             c["mounts"].push_back({{"destination", "/etc/resolv.conf"}, {"source", "/etc/resolv.conf"},
                                    {"options", {"bind"}}});
         }},
        {"Rlimits", E::Valid, "",
         [](json& c) {
             c["process"]["rlimits"].push_back({{"type", "RLIMIT_NPROC"}, {"soft", 256}, {"hard", 512}});
             c["process"]["rlimits"].push_back({{"type", "RLIMIT_CORE"}, {"soft", 0}, {"hard", 0}});
         }},
        {"TerminalTrue", E::Valid, "", [](json& c) { c["process"]["terminal"] = true; }},
        {"TerminalFalse", E::Valid, "", [](json& c) { c["process"]["terminal"] = false; }},
        {"NoProcess", E::Valid, "", [](json& c) { c.erase("process"); }},
        {"Sysctl", E::Valid, "", [](json& c) { c["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}}; }},

        // Schema-valid, refused as features lxbox does not have (ErrorKind::Unsupported).
        {"ApparmorProfile", E::Unsupported, "process.apparmorProfile",
         [](json& c) { c["process"]["apparmorProfile"] = "docker-default"; }},
        {"SelinuxLabel", E::Unsupported, "process.selinuxLabel",
         [](json& c) { c["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"; }},
        {"LinuxDevices", E::Valid, "",
         [](json& c) {
             c["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229},
                                       {"fileMode", 438}, {"uid", 0}, {"gid", 0}}};
         }},
        {"LinuxDeviceWithoutType", E::SchemaInvalid, "linux.devices[0].type",
         [](json& c) { c["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"major", 10}, {"minor", 229}}}; }},
        {"DeviceRuleWithoutAllow", E::SchemaInvalid, "linux.resources.devices[0].allow",
         [](json& c) { c["linux"]["resources"]["devices"] = {{{"access", "rwm"}}}; }},
        {"EveryResource", E::Valid, "",
         [](json& c) {
             c["linux"]["resources"] = {
                 {"devices", {{{"allow", false}, {"access", "rwm"}}, {{"allow", true}, {"type", "c"}, {"major", 10},
                                                                       {"minor", 229}, {"access", "rw"}}}},
                 {"memory", {{"limit", 50593792}, {"reservation", 50593792}, {"swap", 50593792},
                             {"kernel", 50593792}, {"kernelTCP", 50593792}, {"swappiness", 10},
                             {"disableOOMKiller", true}}},
                 {"cpu", {{"shares", 1024}, {"quota", 50000}, {"period", 100000}, {"realtimeRuntime", 950000},
                          {"realtimePeriod", 1000000}, {"cpus", "0-1"}, {"mems", "0"}}},
                 {"pids", {{"limit", 64}}},
                 {"blockIO", {{"weight", 500}, {"leafWeight", 300},
                              {"weightDevice", {{{"major", 8}, {"minor", 0}, {"weight", 600}}}},
                              {"throttleReadBpsDevice", {{{"major", 8}, {"minor", 0}, {"rate", 1048576}}}}}},
                 {"hugepageLimits", {{{"pageSize", "2MB"}, {"limit", 4194304}}}},
                 {"network", {{"classID", 1048577}, {"priorities", {{{"name", "lo"}, {"priority", 2}}}}}}};
         }},
        {"SeccompListenerPath", E::Unsupported, "linux.seccomp.listenerPath",
         [](json& c) {
             c["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", "/run/notify.sock"}};
         }},

        // Schema-valid, refused for what the spec's prose requires on Linux.
        {"RootMissing", E::ParserStricter, "root", [](json& c) { c.erase("root"); }},
        {"ArgsMissing", E::ParserStricter, "process.args", [](json& c) { c["process"].erase("args"); }},
        {"CwdRelative", E::ParserStricter, "process.cwd", [](json& c) { c["process"]["cwd"] = "home"; }},
        {"EnvNotKeyValue", E::ParserStricter, "process.env[1]",
         [](json& c) { c["process"]["env"][1] = "TERM"; }},
        {"OciVersionTwo", E::ParserStricter, "ociVersion", [](json& c) { c["ociVersion"] = "2.0.0"; }},

        // Schema-invalid: the parser must refuse them, naming the field the schema names.
        {"OciVersionMissing", E::SchemaInvalid, "ociVersion", [](json& c) { c.erase("ociVersion"); }},
        {"OciVersionNumber", E::SchemaInvalid, "ociVersion", [](json& c) { c["ociVersion"] = 1.0; }},
        {"RootPathMissing", E::SchemaInvalid, "root.path", [](json& c) { c["root"].erase("path"); }},
        {"ArgsNotArray", E::SchemaInvalid, "process.args", [](json& c) { c["process"]["args"] = "sh"; }},
        {"ArgsItemNumber", E::SchemaInvalid, "process.args[1]",
         [](json& c) { c["process"]["args"] = {"sleep", 5}; }},
        {"CwdMissing", E::SchemaInvalid, "process.cwd", [](json& c) { c["process"].erase("cwd"); }},
        {"UidString", E::SchemaInvalid, "process.user.uid", [](json& c) { c["process"]["user"]["uid"] = "0"; }},
        {"UidNegative", E::SchemaInvalid, "process.user.uid", [](json& c) { c["process"]["user"]["uid"] = -1; }},
        {"UidPastUint32", E::SchemaInvalid, "process.user.uid",
         [](json& c) { c["process"]["user"]["uid"] = 4294967296; }},
        {"EnvItemNumber", E::SchemaInvalid, "process.env[1]", [](json& c) { c["process"]["env"][1] = 42; }},
        {"RlimitMissingHard", E::SchemaInvalid, "process.rlimits[0].hard",
         [](json& c) { c["process"]["rlimits"][0].erase("hard"); }},
        {"RlimitTypeLowercase", E::SchemaInvalid, "process.rlimits[0].type",
         [](json& c) { c["process"]["rlimits"][0]["type"] = "nofile"; }},
        {"MountsObject", E::SchemaInvalid, "mounts",
         [](json& c) { c["mounts"] = {{"/proc", {{"type", "proc"}, {"source", "proc"}}}}; }},
        {"MountMissingDestination", E::SchemaInvalid, "mounts[0].destination",
         [](json& c) { c["mounts"][0].erase("destination"); }},
        {"NamespaceUnknownType", E::SchemaInvalid, "linux.namespaces[1].type",
         [](json& c) { c["linux"]["namespaces"][1]["type"] = "net"; }},
        {"HookWithoutPath", E::SchemaInvalid, "hooks.prestart[0].path",
         [](json& c) { c["hooks"] = {{"prestart", {{{"args", {"true"}}}}}}; }},
        {"HookTimeoutZero", E::SchemaInvalid, "hooks.poststop[0].timeout",
         [](json& c) { c["hooks"] = {{"poststop", {{{"path", "/usr/bin/true"}, {"timeout", 0}}}}}; }},
        {"AnnotationNumber", E::SchemaInvalid, "annotations.com.example.replicas",
         [](json& c) { c["annotations"] = {{"com.example.replicas", 3}}; }},
        {"MappingSizeString", E::SchemaInvalid, "linux.uidMappings[0].size",
         [](json& c) {
             add_user_namespace(c);
             c["linux"]["uidMappings"][0]["size"] = "65536";
         }},
        {"PidsWithoutLimit", E::SchemaInvalid, "linux.resources.pids.limit",
         [](json& c) { c["linux"]["resources"]["pids"] = json::object(); }},
        {"SeccompUnknownDefaultAction", E::SchemaInvalid, "linux.seccomp.defaultAction",
         [](json& c) { c["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_DENY"}}; }},
        {"RootfsPropagationUnknown", E::SchemaInvalid, "linux.rootfsPropagation",
         [](json& c) { c["linux"]["rootfsPropagation"] = "rprivate-ish"; }},
    };
}

// The interpreter that has jsonschema: Debian's own first (python3-jsonschema installs there, and
// a pyenv shim earlier in PATH both lacks it on some machines and costs ~0.6 s per start), then
// whatever python3 PATH gives. "" when neither has it; `why` then says what is missing.
std::string find_python(std::string& why) {
    for (const std::string python : {"/usr/bin/python3", "python3"}) {
        try {
            if (test::run({python, "-c", "import jsonschema"}).exit_code == 0) return python;
            why = python + " has no jsonschema module (install python3-jsonschema)";
        } catch (const std::runtime_error& e) {
            if (why.empty()) why = std::string("no python3: ") + e.what();
        }
    }
    return "";
}

// gtest names the failing parameter with this instead of dumping the struct's bytes.
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class OciSchema : public testing::TestWithParam<Variant> {};

TEST_P(OciSchema, ParserAgreesWithSpecSchema) {
    static std::string why_not;
    static const std::string python = find_python(why_not);
    if (!std::filesystem::exists(kSchemaDir + "/config-schema.json"))
        LXBOX_SKIP("no runtime-spec schema at " + kSchemaDir + " (install golang-github-opencontainers-specs-dev)");
    if (python.empty()) LXBOX_SKIP(why_not);

    const Variant& v = GetParam();
    json config = json::parse(kRuncSpec);
    v.edit(config);
    const std::string text = config.dump(2);
    test::ScratchDir bundle;
    std::ofstream(bundle / "config.json") << text;

    const auto schema = test::run({python, kChecker, kSchemaDir, bundle / "config.json"});
    ASSERT_TRUE(schema.exit_code == 0 || schema.exit_code == 1) << schema.out << schema.err;
    const bool schema_valid = schema.exit_code == 0;
    const auto parsed = parse_config(text, bundle.path());
    const std::string parser_said = parsed.ok() ? "accepted" : parsed.error().message;

    // The property under test, whatever the table says: what we accept, the spec accepts.
    EXPECT_TRUE(!parsed.ok() || schema_valid)
        << "parser accepts a config the spec's schema refuses: " << schema.out;

    switch (v.expect) {
    case Expect::Valid:
        EXPECT_TRUE(schema_valid) << schema.out;
        EXPECT_TRUE(parsed.ok()) << parser_said;
        break;
    case Expect::Unsupported:
    case Expect::ParserStricter:
        EXPECT_TRUE(schema_valid) << schema.out;
        ASSERT_FALSE(parsed.ok()) << "expected a refusal naming " << v.field;
        EXPECT_EQ(parsed.error().kind, v.expect == Expect::Unsupported ? ErrorKind::Unsupported : ErrorKind::Invalid)
            << parser_said;
        EXPECT_TRUE(parser_said.starts_with(v.field + ": ")) << parser_said;
        break;
    case Expect::SchemaInvalid:
        EXPECT_FALSE(schema_valid) << "the schema accepts this variant: the table is wrong";
        EXPECT_TRUE(schema.out.starts_with("invalid: " + v.field + ": ")) << "schema said: " << schema.out;
        ASSERT_FALSE(parsed.ok()) << "parser accepts what the schema refuses: " << schema.out;
        EXPECT_EQ(parsed.error().kind, ErrorKind::Invalid) << parser_said;
        EXPECT_TRUE(parser_said.starts_with(v.field + ": ")) << "parser said: " << parser_said
                                                             << "\nschema said: " << schema.out;
        break;
    }
}

// No instantiation prefix, so the tests read OciSchema.ParserAgreesWithSpecSchema/<Variant>.
INSTANTIATE_TEST_SUITE_P(, OciSchema, testing::ValuesIn(variants()),
                         [](const testing::TestParamInfo<Variant>& info) { return info.param.name; });

}  // namespace
}  // namespace lxbox::runtime::oci
