// An OCI bundle's config.json -> lxbox's ContainerSpec: what is read, and each refusal naming
// the field it is about.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/oci/config.hpp"

namespace lxbox::runtime::oci {
namespace {

using nlohmann::json;

const std::string kBundle = "/var/lib/bundles/c1";

// The output of `runc spec` (runc 1.1), unchanged.
const char* const kRuncSpec = R"({
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
})";

json runc_spec() {
    return json::parse(kRuncSpec);
}

Config parse_ok(const std::string& text) {
    auto r = parse_config(text, kBundle);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : Config{};
}
Config parse_ok(const json& j) {
    return parse_ok(j.dump());
}

// The refusal of a config; "(accepted)" when there is none, so a mismatch shows in the message.
Error parse_error(const std::string& text) {
    auto r = parse_config(text, kBundle);
    return r.ok() ? Error(ErrorKind::Internal, "(accepted)") : r.error();
}
Error parse_error(const json& j) {
    return parse_error(j.dump());
}

// The message begins with the field's path, then ": ".
void expect_refusal(const Error& e, ErrorKind kind, const std::string& field) {
    EXPECT_EQ(e.kind, kind) << e.message;
    EXPECT_TRUE(e.message.starts_with(field + ": "))
        << "expected '" << field << ": ...', got '" << e.message << "'";
}

// ---- What a config gives ----

TEST(OciConfig, RuncDefaultSpecParses) {
    const Config c = parse_ok(std::string(kRuncSpec));
    EXPECT_EQ(c.oci_version, "1.0.2-dev");
    EXPECT_TRUE(c.has_process);
    ASSERT_TRUE(c.spec.bundle.has_value());
    const BundleSpec& b = *c.spec.bundle;
    EXPECT_EQ(b.rootfs, kBundle + "/rootfs");
    EXPECT_TRUE(b.rootfs_readonly);
    EXPECT_EQ(b.rootfs_propagation, "");
    EXPECT_EQ(c.spec.hostname, "runc");
    EXPECT_TRUE(c.hooks.prestart.empty());
    EXPECT_TRUE(c.annotations.empty());
    EXPECT_FALSE(c.spec.userns.enabled);
    EXPECT_FALSE(c.resources.memory.limit.has_value());
    EXPECT_FALSE(c.resources.cpu.quota.has_value());
    EXPECT_FALSE(c.resources.pids_limit.has_value());
}

TEST(OciConfig, RuncDefaultMountsKeepTheirOrderTypesSourcesAndOptions) {
    const Config c = parse_ok(std::string(kRuncSpec));
    const auto& m = c.spec.bundle->mounts;
    ASSERT_EQ(m.size(), 7u);
    const std::vector<std::string> destinations = {
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"};
    for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i].destination, destinations[i]) << i;
    EXPECT_EQ(m[0].type, "proc");
    EXPECT_EQ(m[0].source, "proc");  // not a bind: the source is not a path, left as given
    EXPECT_TRUE(m[0].options.empty());
    EXPECT_EQ(m[1].type, "tmpfs");
    EXPECT_EQ(m[1].options,
              (std::vector<std::string>{"nosuid", "strictatime", "mode=755", "size=65536k"}));
    EXPECT_EQ(m[3].source, "shm");
    EXPECT_EQ(m[6].type, "cgroup");
    EXPECT_EQ(m[6].options.back(), "ro");
}

TEST(OciConfig, RuncDefaultNamespacesAndMasks) {
    const Config c = parse_ok(std::string(kRuncSpec));
    const BundleSpec& b = *c.spec.bundle;
    ASSERT_EQ(b.namespaces.size(), 5u);
    const std::vector<std::string> types = {"pid", "network", "ipc", "uts", "mount"};
    for (size_t i = 0; i < types.size(); ++i) {
        EXPECT_EQ(b.namespaces[i].type, types[i]);
        EXPECT_EQ(b.namespaces[i].path, "");
    }
    ASSERT_EQ(b.masked_paths.size(), 10u);
    EXPECT_EQ(b.masked_paths.front(), "/proc/acpi");
    EXPECT_EQ(b.masked_paths[8], "/sys/firmware");
    EXPECT_EQ(b.masked_paths.back(), "/proc/scsi");
    EXPECT_EQ(b.readonly_paths, (std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq",
                                                          "/proc/sys", "/proc/sysrq-trigger"}));
}

TEST(OciConfig, RuncDefaultProcess) {
    const Config c = parse_ok(std::string(kRuncSpec));
    const ProcessSpec& p = c.spec.process;
    EXPECT_EQ(p.args, std::vector<std::string>{"sh"});
    EXPECT_EQ(p.env, (std::vector<std::string>{
                         "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "TERM=xterm"}));
    EXPECT_EQ(p.cwd, "/");
    EXPECT_TRUE(p.tty);
    ASSERT_TRUE(p.explicit_user.has_value());
    EXPECT_EQ(p.explicit_user->uid, 0u);
    EXPECT_EQ(p.explicit_user->gid, 0u);
    EXPECT_TRUE(p.explicit_user->additional_gids.empty());
    EXPECT_FALSE(p.explicit_user->umask.has_value());
    ASSERT_EQ(p.rlimits.size(), 1u);
    EXPECT_EQ(p.rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_EQ(p.rlimits[0].soft, 1024u);
    EXPECT_EQ(p.rlimits[0].hard, 1024u);
    EXPECT_FALSE(p.oom_score_adj.has_value());
}

TEST(OciConfig, RuncDefaultSecurity) {
    const Config c = parse_ok(std::string(kRuncSpec));
    const SecuritySpec& s = c.spec.process.security;
    EXPECT_EQ(s.no_new_privs, std::optional<bool>(true));
    ASSERT_TRUE(s.capabilities.has_value());
    const std::vector<std::string> three = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    EXPECT_EQ(s.capabilities->bounding, three);
    EXPECT_EQ(s.capabilities->effective, three);
    EXPECT_EQ(s.capabilities->permitted, three);
    EXPECT_EQ(s.capabilities->ambient, three);
    EXPECT_TRUE(s.capabilities->inheritable.empty());
    // runc's default has no linux.seccomp: no filter at all.
    EXPECT_EQ(s.seccomp, "unconfined");
    EXPECT_EQ(s.seccomp_profile, "");
}

TEST(OciConfig, ProcessFieldsBeyondTheDefault) {
    json j = runc_spec();
    j["process"]["terminal"] = false;
    j["process"]["user"] =
        json::parse(R"({"uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 27]})");
    j["process"]["cwd"] = "/home/u";
    j["process"]["noNewPrivileges"] = false;
    j["process"]["oomScoreAdj"] = -500;
    j["process"]["capabilities"]["inheritable"] = json::array({"CAP_CHOWN"});
    j["process"]["apparmorProfile"] = "";  // empty: no profile, accepted
    const Config c = parse_ok(j);
    const ProcessSpec& p = c.spec.process;
    EXPECT_FALSE(p.tty);
    EXPECT_EQ(p.explicit_user->uid, 1000u);
    EXPECT_EQ(p.explicit_user->gid, 100u);
    EXPECT_EQ(p.explicit_user->umask, std::optional<uint32_t>(18));
    EXPECT_EQ(p.explicit_user->additional_gids, (std::vector<uint32_t>{5, 27}));
    EXPECT_EQ(p.cwd, "/home/u");
    EXPECT_EQ(p.security.no_new_privs, std::optional<bool>(false));
    EXPECT_EQ(p.oom_score_adj, std::optional<int>(-500));
    EXPECT_EQ(p.security.capabilities->inheritable, std::vector<std::string>{"CAP_CHOWN"});
}

TEST(OciConfig, RootPathAbsoluteIsKeptAsGiven) {
    json j = runc_spec();
    j["root"] = json::parse(R"({"path": "/srv/rootfs"})");
    const Config c = parse_ok(j);
    EXPECT_EQ(c.spec.bundle->rootfs, "/srv/rootfs");
    EXPECT_FALSE(c.spec.bundle->rootfs_readonly);
}

TEST(OciConfig, RelativeBindSourcesResolveAgainstTheBundle) {
    json j = runc_spec();
    j["mounts"] = json::parse(R"([
        {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"]},
        {"destination": "/opt", "type": "none", "source": "opt/x", "options": ["bind"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["bind"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}])");
    const Config c = parse_ok(j);
    const auto& m = c.spec.bundle->mounts;
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0].source, kBundle + "/data");
    EXPECT_EQ(m[1].source, kBundle + "/opt/x");  // bind by option, whatever the type
    EXPECT_EQ(m[2].source, "/etc/hosts");
    EXPECT_EQ(m[3].source, "tmpfs");  // a filesystem's source is not a path
}

TEST(OciConfig, SeccompObjectBecomesAProfileWithItsJsonText) {
    json j = runc_spec();
    const json seccomp = json::parse(R"({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]})");
    j["linux"]["seccomp"] = seccomp;
    const Config c = parse_ok(j);
    EXPECT_EQ(c.spec.process.security.seccomp, "profile");
    EXPECT_EQ(json::parse(c.spec.process.security.seccomp_profile), seccomp);
}

TEST(OciConfig, SeccompWithoutProcessStillBecomesAProfile) {
    json j = runc_spec();
    j.erase("process");
    j["linux"]["seccomp"] = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW"})");
    const Config c = parse_ok(j);
    EXPECT_FALSE(c.has_process);
    EXPECT_EQ(c.spec.process.security.seccomp, "profile");
    j["linux"].erase("seccomp");
    EXPECT_EQ(parse_ok(j).spec.process.security.seccomp, "unconfined");
}

TEST(OciConfig, HooksOfAllSixKinds) {
    json j = runc_spec();
    j["hooks"] = json::parse(R"({
        "prestart": [{"path": "/bin/prestart"}],
        "createRuntime": [{"path": "/bin/create-runtime"}],
        "createContainer": [{"path": "/bin/create-container"}],
        "startContainer": [{"path": "/bin/start-container"}],
        "poststart": [{"path": "/bin/poststart"}],
        "poststop": [{"path": "/bin/poststop", "args": ["poststop", "--flag"], "env": ["A=1"], "timeout": 5}]})");
    const Hooks h = parse_ok(j).hooks;
    ASSERT_EQ(h.prestart.size(), 1u);
    EXPECT_EQ(h.prestart[0].path, "/bin/prestart");
    EXPECT_FALSE(h.prestart[0].timeout.has_value());
    ASSERT_EQ(h.create_runtime.size(), 1u);
    EXPECT_EQ(h.create_runtime[0].path, "/bin/create-runtime");
    ASSERT_EQ(h.create_container.size(), 1u);
    EXPECT_EQ(h.create_container[0].path, "/bin/create-container");
    ASSERT_EQ(h.start_container.size(), 1u);
    EXPECT_EQ(h.start_container[0].path, "/bin/start-container");
    ASSERT_EQ(h.poststart.size(), 1u);
    EXPECT_EQ(h.poststart[0].path, "/bin/poststart");
    ASSERT_EQ(h.poststop.size(), 1u);
    EXPECT_EQ(h.poststop[0].path, "/bin/poststop");
    EXPECT_EQ(h.poststop[0].args, (std::vector<std::string>{"poststop", "--flag"}));
    EXPECT_EQ(h.poststop[0].env, std::vector<std::string>{"A=1"});
    EXPECT_EQ(h.poststop[0].timeout, std::optional<int>(5));
}

TEST(OciConfig, Annotations) {
    json j = runc_spec();
    j["annotations"] =
        json::parse(R"({"org.opencontainers.image.ref.name": "alpine", "com.example.empty": ""})");
    const Config c = parse_ok(j);
    ASSERT_EQ(c.annotations.size(), 2u);
    EXPECT_EQ(c.annotations.at("org.opencontainers.image.ref.name"), "alpine");
    EXPECT_EQ(c.annotations.at("com.example.empty"), "");
}

TEST(OciConfig, ResourcesCgroupsPathSysctlAndPropagation) {
    json j = runc_spec();
    j["linux"]["resources"]["memory"] = {{"limit", 536870912}};
    j["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}};
    j["linux"]["resources"]["pids"] = {{"limit", 64}};
    j["linux"]["cgroupsPath"] = "/lxbox/c1";
    j["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    j["linux"]["rootfsPropagation"] = "rslave";
    const Config c = parse_ok(j);
    EXPECT_EQ(c.resources.memory.limit, std::optional<int64_t>(536870912));
    EXPECT_EQ(c.resources.cpu.quota, std::optional<int64_t>(50000));
    EXPECT_EQ(c.resources.cpu.period, std::optional<uint64_t>(100000));
    EXPECT_EQ(c.resources.pids_limit, std::optional<int64_t>(64));
    EXPECT_EQ(c.spec.bundle->cgroups_path, "/lxbox/c1");
    EXPECT_EQ(c.spec.bundle->sysctl.at("net.ipv4.ip_forward"), "1");
    EXPECT_EQ(c.spec.bundle->rootfs_propagation, "rslave");
}

TEST(OciConfig, UnlimitedResourcesParseAsMinusOne) {
    json j = runc_spec();
    j["linux"]["resources"]["memory"] = {{"limit", -1}};
    j["linux"]["resources"]["cpu"] = {{"quota", -1}};
    j["linux"]["resources"]["pids"] = {{"limit", -1}};
    const Config c = parse_ok(j);
    EXPECT_EQ(c.resources.memory.limit, std::optional<int64_t>(-1));
    EXPECT_EQ(c.resources.cpu.quota, std::optional<int64_t>(-1));
    EXPECT_FALSE(c.resources.cpu.period.has_value());
    EXPECT_EQ(c.resources.pids_limit, std::optional<int64_t>(-1));
}

TEST(OciConfig, MemoryLimitBeyondInt64IsRefusedNotWrapped) {
    // 2^63 does not fit the int64 the spec gives memory.limit; read as int64 it would wrap to a
    // negative number and silently mean "unlimited".
    json j = runc_spec();
    j["linux"]["resources"]["memory"] = {{"limit", 9223372036854775808ull}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.memory.limit");
}

TEST(OciConfig, MappingsWithAUserNamespaceEnableIt) {
    json j = runc_spec();
    j["linux"]["namespaces"].push_back(json::parse(R"({"type": "user"})"));
    j["linux"]["uidMappings"] =
        json::parse(R"([{"containerID": 0, "hostID": 100000, "size": 65536}])");
    j["linux"]["gidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 200000, "size": 1000},
                                                {"containerID": 1000, "hostID": 1000, "size": 1}])");
    const Config c = parse_ok(j);
    EXPECT_TRUE(c.spec.userns.enabled);
    EXPECT_EQ(c.spec.userns.uids, (std::vector<IdMapping>{{0, 100000, 65536}}));
    EXPECT_EQ(c.spec.userns.gids, (std::vector<IdMapping>{{0, 200000, 1000}, {1000, 1000, 1}}));
}

TEST(OciConfig, ParseProcessAloneNamesItsPath) {
    const json proc = json::parse(
        R"({"user": {"uid": 1, "gid": 2}, "args": ["ls", "-l"], "cwd": "/tmp", "env": ["X=1"]})");
    auto p = parse_process(proc, "process.json");
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->args, (std::vector<std::string>{"ls", "-l"}));
    EXPECT_EQ(p->explicit_user->uid, 1u);
    EXPECT_EQ(p->explicit_user->gid, 2u);
    EXPECT_EQ(p->security.seccomp, "unconfined");

    json bad = proc;
    bad["cwd"] = "tmp";
    auto r = parse_process(bad, "process.json");
    ASSERT_FALSE(r.ok());
    expect_refusal(r.error(), ErrorKind::Invalid, "process.json.cwd");
    auto not_object = parse_process(json::array(), "process.json");
    ASSERT_FALSE(not_object.ok());
    expect_refusal(not_object.error(), ErrorKind::Invalid, "process.json");
}

// ---- linux.resources ----

TEST(OciConfigResources, EveryGroupIsReadAndPlannedForBothVersions) {
    json j = runc_spec();
    j["linux"]["resources"] = {
        {"memory", {{"limit", 50593792}, {"reservation", 50593792}, {"swap", 50593792}, {"swappiness", 10},
                    {"disableOOMKiller", true}}},
        {"cpu", {{"shares", 1024}, {"quota", 50000}, {"period", 100000}, {"cpus", "0"}, {"mems", "0"}}},
        {"pids", {{"limit", 64}}},
        {"blockIO", {{"weight", 500}, {"throttleReadBpsDevice", {{{"major", 8}, {"minor", 0}, {"rate", 1024}}}}}},
        {"hugepageLimits", {{{"pageSize", "2MB"}, {"limit", 4194304}}}},
        {"network", {{"classID", 1048577}, {"priorities", {{{"name", "lo"}, {"priority", 2}}}}}}};
    const Config c = parse_ok(j);
    EXPECT_EQ(c.resources.memory.limit, std::optional<int64_t>(50593792));
    EXPECT_EQ(c.resources.memory.swappiness, std::optional<uint64_t>(10));
    EXPECT_EQ(c.resources.cpu.shares, std::optional<uint64_t>(1024));
    EXPECT_EQ(c.resources.cpu.cpus, "0");
    EXPECT_EQ(c.resources.block_io.read_bps.size(), 1u);
    EXPECT_EQ(c.resources.hugepage_limits.at("2MB"), 4194304u);
    EXPECT_EQ(c.resources.network.priorities.at("lo"), 2u);
    const auto& b = *c.spec.bundle;
    auto has = [](const std::vector<cgroups::Write>& w, const std::string& file) {
        return std::any_of(w.begin(), w.end(), [&](const cgroups::Write& x) { return x.file == file; });
    };
    EXPECT_TRUE(has(b.cgroup_v1, "memory.swappiness"));
    EXPECT_TRUE(has(b.cgroup_v1, "blkio.throttle.read_bps_device"));
    EXPECT_TRUE(has(b.cgroup_v2, "io.max"));
    EXPECT_TRUE(has(b.cgroup_v2, "cpu.weight"));
}

TEST(OciConfigResources, WhatNoCgroupVersionCanDoIsRefusedAtParse) {
    json j = runc_spec();
    // Both versions refuse nothing here alone (v1 has swappiness); so it parses.
    j["linux"]["resources"]["memory"] = {{"swappiness", 10}};
    (void)parse_ok(j);
    j["linux"]["resources"]["memory"] = {{"swappiness", 101}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.memory.swappiness");
    j = runc_spec();
    j["linux"]["resources"]["memory"] = {{"limit", 100}, {"swap", 50}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.memory.swap");
    j = runc_spec();
    j["linux"]["resources"]["cpu"] = {{"cpus", "zero"}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.cpu.cpus");
    j = runc_spec();
    j["linux"]["resources"]["blockIO"] = {{"weight", 5}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.blockIO.weight");
    j = runc_spec();
    j["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "2M"}, {"limit", 1}}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.hugepageLimits[0].pageSize");
    j = runc_spec();
    j["linux"]["resources"]["unified"] = {{"../etc", "1"}};
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.unified");
    j = runc_spec();
    j["linux"]["cgroupsPath"] = "/a/../b";
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.cgroupsPath");
}

// ---- Refusals, each naming its field ----

TEST(OciConfigRefuses, NotJson) {
    const Error e = parse_error(std::string("{\"ociVersion\": \"1.0.2\","));
    EXPECT_EQ(e.kind, ErrorKind::Invalid) << e.message;
    EXPECT_NE(e.message.find("JSON"), std::string::npos) << e.message;
    expect_refusal(parse_error(std::string("[1, 2]")), ErrorKind::Invalid, "(root)");
}

TEST(OciConfigRefuses, OciVersionMissingOrNotOne) {
    json j = runc_spec();
    j.erase("ociVersion");
    const Error missing = parse_error(j);
    expect_refusal(missing, ErrorKind::Invalid, "ociVersion");
    EXPECT_NE(missing.message.find("required"), std::string::npos) << missing.message;
    j["ociVersion"] = "2.0";
    const Error two = parse_error(j);
    expect_refusal(two, ErrorKind::Invalid, "ociVersion");
    EXPECT_NE(two.message.find("2.0"), std::string::npos) << two.message;
    j["ociVersion"] = 1;
    expect_refusal(parse_error(j), ErrorKind::Invalid, "ociVersion");
}

TEST(OciConfigRefuses, RootMissingOrPathNotAString) {
    json j = runc_spec();
    j.erase("root");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "root");
    j["root"] = json::parse(R"({"path": 7})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "root.path");
    j["root"] = json::parse(R"({"readonly": true})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "root.path");
    j["root"] = "rootfs";
    expect_refusal(parse_error(j), ErrorKind::Invalid, "root");
}

TEST(OciConfigRefuses, ProcessArgsMissingEmptyOrNotStrings) {
    json j = runc_spec();
    j["process"].erase("args");
    const Error missing = parse_error(j);
    expect_refusal(missing, ErrorKind::Invalid, "process.args");
    EXPECT_NE(missing.message.find("required"), std::string::npos) << missing.message;
    j["process"]["args"] = json::array();
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.args");
    j["process"]["args"] = json::parse(R"(["sh", 1])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.args[1]");
    j["process"]["args"] = "sh";
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.args");
}

TEST(OciConfigRefuses, ProcessCwdRelativeOrMissing) {
    json j = runc_spec();
    j["process"]["cwd"] = "home/u";
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.cwd");
    j["process"]["cwd"] = "";
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.cwd");
    j["process"].erase("cwd");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.cwd");
}

TEST(OciConfigRefuses, EnvEntryWithoutEquals) {
    json j = runc_spec();
    j["process"]["env"] = {"A=1", "JUSTANAME"};
    const Error e = parse_error(j);
    expect_refusal(e, ErrorKind::Invalid, "process.env[1]");
    EXPECT_NE(e.message.find("JUSTANAME"), std::string::npos) << e.message;
}

TEST(OciConfigRefuses, UserIdsNegativeMissingOrNotIds) {
    json j = runc_spec();
    j["process"]["user"]["uid"] = -1;
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user.uid");
    j = runc_spec();
    j["process"]["user"]["gid"] = 4294967296ull;  // one past uint32
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user.gid");
    j = runc_spec();
    j["process"]["user"].erase("uid");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user.uid");
    j = runc_spec();
    j["process"].erase("user");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user");
}

TEST(OciConfigRefuses, AdditionalGidsNotIds) {
    json j = runc_spec();
    j["process"]["user"]["additionalGids"] = json::parse(R"([10, "wheel"])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user.additionalGids[1]");
    j["process"]["user"]["additionalGids"] = json::parse("[-3]");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user.additionalGids[0]");
    j["process"]["user"]["additionalGids"] = 10;
    expect_refusal(parse_error(j), ErrorKind::Invalid, "process.user.additionalGids");
}

TEST(OciConfigRefuses, MountsNotAnArray) {
    json j = runc_spec();
    j["mounts"] = json::parse(R"({"destination": "/proc"})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "mounts");
}

TEST(OciConfigRefuses, MountDestinationMissing) {
    json j = runc_spec();
    j["mounts"][2].erase("destination");
    const Error e = parse_error(j);
    expect_refusal(e, ErrorKind::Invalid, "mounts[2].destination");
    j = runc_spec();
    j["mounts"][1]["options"] = json::parse(R"(["nosuid", false])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "mounts[1].options[1]");
}

TEST(OciConfigRefuses, HookPathRelativeOrTimeoutNotPositive) {
    json j = runc_spec();
    j["hooks"] = json::parse(R"({"poststart": [{"path": "/bin/ok"}, {"path": "bin/hook"}]})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "hooks.poststart[1].path");
    j["hooks"] = json::parse(R"({"createRuntime": [{"path": "/bin/hook", "timeout": 0}]})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "hooks.createRuntime[0].timeout");
    j["hooks"] = json::parse(R"({"poststop": [{"path": "/bin/hook", "timeout": -5}]})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "hooks.poststop[0].timeout");
    j["hooks"] = json::parse(R"({"prestart": [{"args": ["x"]}]})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "hooks.prestart[0].path");
}

TEST(OciConfigRefuses, AnnotationValueNotAString) {
    json j = runc_spec();
    j["annotations"] = json::parse(R"({"a": "ok", "com.example.count": 3})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "annotations.com.example.count");
}

TEST(OciConfigRefuses, ApparmorProfileIsUnsupported) {
    json j = runc_spec();
    j["process"]["apparmorProfile"] = "docker-default";
    expect_refusal(parse_error(j), ErrorKind::Unsupported, "process.apparmorProfile");
    j = runc_spec();
    j["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0";
    expect_refusal(parse_error(j), ErrorKind::Unsupported, "process.selinuxLabel");
}

TEST(OciConfig, LinuxDevicesAreMadeAndAllowedInTheDeviceCgroup) {
    json j = runc_spec();
    j["linux"]["devices"] = json::array();
    EXPECT_TRUE(parse_config(j.dump(), kBundle).ok());
    j["linux"]["devices"] = json::parse(
        R"([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 5, "gid": 6},
            {"path": "/dev/myfifo", "type": "p"}])");
    const Config c = parse_ok(j);
    ASSERT_EQ(c.spec.bundle->devices.size(), 2u);
    const DeviceNode& fuse = c.spec.bundle->devices[0];
    EXPECT_EQ(fuse.path, "/dev/fuse");
    EXPECT_EQ(fuse.type, 'c');
    EXPECT_EQ(fuse.mode, 0600u);
    EXPECT_EQ(fuse.uid, 5u);
    EXPECT_EQ(c.spec.bundle->devices[1].type, 'p');
    // runc's list: the bundle's rules (runc spec's deny-all), the node, then the defaults.
    const auto& v1 = c.spec.bundle->cgroup_v1;
    ASSERT_GE(v1.size(), 3u);
    EXPECT_EQ(v1[0].file, "devices.deny");
    EXPECT_EQ(v1[0].value, "a");
    EXPECT_EQ(v1[1].file, "devices.allow");
    EXPECT_EQ(v1[1].value, "c 10:229 rwm");
    EXPECT_EQ(v1.back().value, "c 10:200 rwm");
    ASSERT_EQ(c.spec.bundle->cgroup_v2.size(), 1u);
    EXPECT_EQ(c.spec.bundle->cgroup_v2[0].file, cgroups::kDeviceProgram);

    j["linux"]["devices"] = json::parse(R"([{"path": "dev/fuse", "type": "c", "major": 10, "minor": 229}])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.devices[0].path");
    j["linux"]["devices"] = json::parse(R"([{"path": "/dev/x", "type": "q", "major": 1, "minor": 1}])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.devices[0].type");
    j["linux"]["devices"] = json::parse(R"([{"path": "/dev/x", "type": "c"}])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.devices[0].major");
    j = runc_spec();
    j["linux"]["resources"]["devices"] = json::parse(R"([{"allow": true, "access": "rwx"}])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.resources.devices[0].access");
}

TEST(OciConfigRefuses, SeccompListenerPathIsUnsupported) {
    json j = runc_spec();
    j["linux"]["seccomp"] =
        json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/seccomp.sock"})");
    expect_refusal(parse_error(j), ErrorKind::Unsupported, "linux.seccomp.listenerPath");
    j["linux"]["seccomp"] = json::parse(R"({"architectures": ["SCMP_ARCH_X86_64"]})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.seccomp.defaultAction");
}

TEST(OciConfigRefuses, NamespaceWithoutType) {
    json j = runc_spec();
    j["linux"]["namespaces"][0] = json::parse(R"({"path": "/proc/1/ns/pid"})");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.namespaces[0].type");
}

TEST(OciConfigRefuses, MappingsWithoutAUserNamespace) {
    json j = runc_spec();
    j["linux"]["uidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000, "size": 1}])");
    j["linux"]["gidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000, "size": 1}])");
    const Error e = parse_error(j);
    expect_refusal(e, ErrorKind::Invalid, "linux.uidMappings");
    EXPECT_NE(e.message.find("user namespace"), std::string::npos) << e.message;
}

TEST(OciConfigRefuses, MappingsForAJoinedUserNamespace) {
    json j = runc_spec();
    j["linux"]["namespaces"].push_back(json::parse(R"({"type": "user", "path": "/proc/7/ns/user"})"));
    j["linux"]["uidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000, "size": 1}])");
    j["linux"]["gidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000, "size": 1}])");
    const Error e = parse_error(j);
    expect_refusal(e, ErrorKind::Invalid, "linux.uidMappings");
    EXPECT_NE(e.message.find("joined user namespace"), std::string::npos) << e.message;
    // Without mappings it is a plain join.
    j["linux"].erase("uidMappings");
    j["linux"].erase("gidMappings");
    auto joined = parse_config(j.dump(), kBundle);
    ASSERT_TRUE(joined.ok()) << joined.error().message;
    EXPECT_FALSE(joined->spec.userns.enabled);
}

TEST(OciConfigRefuses, UserNamespaceWithoutMappings) {
    json j = runc_spec();
    j["linux"]["namespaces"].push_back(json::parse(R"({"type": "user"})"));
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.uidMappings");
}

TEST(OciConfigRefuses, MissingGidMappingsNamesGidMappings) {
    // The refusal is about the gid mappings, so it names them, not the uid mappings.
    json j = runc_spec();
    j["linux"]["namespaces"].push_back(json::parse(R"({"type": "user"})"));
    j["linux"]["uidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000, "size": 1}])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.gidMappings");
}

TEST(OciConfigRefuses, MappingFieldsNamed) {
    json j = runc_spec();
    j["linux"]["namespaces"].push_back(json::parse(R"({"type": "user"})"));
    j["linux"]["uidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000}])");
    j["linux"]["gidMappings"] = json::parse(R"([{"containerID": 0, "hostID": 1000, "size": 1}])");
    expect_refusal(parse_error(j), ErrorKind::Invalid, "linux.uidMappings[0].size");
}

}  // namespace
}  // namespace lxbox::runtime::oci
