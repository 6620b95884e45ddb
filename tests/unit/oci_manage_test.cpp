// The pure parts of `lxbox oci` update/events/list and of an OCI process's create-time checks:
// runc's stats JSON from cgroup files, its update flags, its list table, HOME and the PATH
// lookup runc's init does before `start`.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "host/oci/manage.hpp"
#include "runtime/plan/oci_process.hpp"

namespace lxbox::oci {
namespace {

TEST(OciStats, V1FilesAsRuncReportsThem) {
    CgroupFiles f;
    f.v1 = {{"cpuacct.usage", "5000\n"},        {"cpuacct.usage_percpu", "3000 2000 \n"},
            {"cpuacct.stat", "user 2\nsystem 1\n"}, {"memory.usage_in_bytes", "4096\n"},
            {"memory.limit_in_bytes", "67108864\n"}, {"memory.max_usage_in_bytes", "8192\n"},
            {"memory.failcnt", "0\n"},            {"memory.stat", "cache 10\nrss 20\n"},
            {"pids.current", "3\n"},              {"pids.max", "max\n"},
            {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"}};
    // The unified hierarchy of a hybrid host has a cpu.stat too, which v1's numbers win over.
    f.v2 = {{"cpu.stat", "usage_usec 99\n"}};
    const auto s = stats_json(f);
    EXPECT_EQ(s["cpu"]["usage"]["total_usage"], 5000);
    EXPECT_EQ(s["cpu"]["usage"]["percpu_usage"], nlohmann::json::array({3000, 2000}));
    EXPECT_EQ(s["cpu"]["usage"]["usage_in_usermode"], 20000000);
    EXPECT_EQ(s["cpu"]["usage"]["usage_in_kernelmode"], 10000000);
    EXPECT_EQ(s["memory"]["usage"]["usage"], 4096);
    EXPECT_EQ(s["memory"]["usage"]["limit"], 67108864);
    EXPECT_EQ(s["memory"]["usage"]["max"], 8192);
    EXPECT_EQ(s["memory"]["raw"]["rss"], 20);
    EXPECT_EQ(s["pids"]["current"], 3);
    EXPECT_EQ(s["pids"]["limit"], 0);  // runc's 0 for "max"
    EXPECT_EQ(oom_kills(f), 2u);
}

TEST(OciStats, V2FilesInRuncsUnits) {
    CgroupFiles f;
    f.v2 = {{"cpu.stat", "usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 4\nnr_throttled 1\nthrottled_usec 3\n"},
            {"memory.current", "1024\n"},
            {"memory.max", "max\n"},
            {"memory.events", "low 0\nhigh 0\nmax 6\noom 1\noom_kill 1\n"},
            {"pids.current", "2\n"},
            {"pids.max", "50\n"}};
    const auto s = stats_json(f);
    EXPECT_EQ(s["cpu"]["usage"]["total_usage"], 7000);
    EXPECT_EQ(s["cpu"]["usage"]["usage_in_usermode"], 5000);
    EXPECT_EQ(s["cpu"]["throttling"]["throttled_periods"], 1);
    EXPECT_EQ(s["cpu"]["throttling"]["throttled_time"], 3000);
    EXPECT_EQ(s["memory"]["usage"]["usage"], 1024);
    EXPECT_EQ(s["memory"]["usage"]["limit"], UINT64_MAX);
    EXPECT_EQ(s["memory"]["usage"]["failcnt"], 6);
    EXPECT_EQ(s["pids"]["limit"], 50);
    EXPECT_EQ(oom_kills(f), 1u);
    EXPECT_EQ(oom_kills(CgroupFiles{}), 0u);
}

TEST(OciUpdate, RuncsFlagsBecomeLinuxResources) {
    UpdateFlags f;
    f.memory = "128m";
    f.memory_swap = "-1";
    f.cpu_quota = 50000;
    f.cpu_period = 100000;
    f.cpuset_cpus = "0";
    f.pids_limit = 20;
    auto r = update_resources(f);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, nlohmann::json::parse(R"({"memory":{"limit":134217728,"swap":-1},
        "cpu":{"quota":50000,"period":100000,"cpus":"0"},"pids":{"limit":20}})"));
    EXPECT_EQ(*update_resources(UpdateFlags{}), nlohmann::json::object());  // nothing to change
    f.memory = "1.5g";
    EXPECT_EQ((*update_resources(f))["memory"]["limit"], 1610612736);
    for (const char* bad : {"lots", "12q", "-5", ""}) {
        f.memory = bad;
        auto e = update_resources(f);
        ASSERT_FALSE(e) << bad;
        EXPECT_EQ(e.error().message.rfind(std::string("--memory: invalid memory size '") + bad + "'", 0), 0u)
            << e.error().message;
    }
}

TEST(OciEvents, IntervalAsGoDurations) {
    EXPECT_EQ(*parse_interval_ms("5s"), 5000);
    EXPECT_EQ(*parse_interval_ms("100ms"), 100);
    EXPECT_EQ(*parse_interval_ms("1.5m"), 90000);
    EXPECT_EQ(*parse_interval_ms("10us"), 1);  // poll's granularity
    for (const char* bad : {"5", "fast", "-1s", "0s", ""})
        EXPECT_FALSE(parse_interval_ms(bad)) << bad;
}

TEST(OciList, RuncsTabwriterColumns) {
    std::vector<ListRow> rows = {{"web", "running", "/b/web", "2026-01-01T00:00:00.000000000Z", "root", 42},
                                 {"a-much-longer-id", "stopped", "/b", "2026", "root", 0}};
    EXPECT_EQ(list_table(rows),
              "ID                 PID         STATUS      BUNDLE      CREATED                          OWNER\n"
              "web                42          running     /b/web      2026-01-01T00:00:00.000000000Z   root\n"
              "a-much-longer-id   0           stopped     /b          2026                             root\n");
}

}  // namespace
}  // namespace lxbox::oci

namespace lxbox::runtime {
namespace {

TEST(OciProcess, HomeFromPasswdUnlessSet) {
    const std::vector<PasswdEntry> passwd = {{"root", 0, 0, "/root", "/bin/sh"}, {"app", 1000, 1000, "/srv/app", ""}};
    EXPECT_EQ(env_with_home({"PATH=/bin"}, passwd, 1000), (std::vector<std::string>{"PATH=/bin", "HOME=/srv/app"}));
    EXPECT_EQ(env_with_home({"HOME=/x"}, passwd, 0), (std::vector<std::string>{"HOME=/x"}));
    EXPECT_EQ(env_with_home({}, passwd, 4242), (std::vector<std::string>{"HOME=/"}));  // runc's for an unknown uid
}

TEST(OciProcess, LookPathAsRuncsInit) {
    const std::set<std::string> files = {"/bin/sh", "/usr/bin/env", "./tool"};
    auto check = [&](const std::string& p) { return files.count(p) ? 0 : p == "/etc" ? EACCES : ENOENT; };
    EXPECT_EQ(*look_path("sh", {"PATH=/usr/bin:/bin"}, check), "/bin/sh");
    EXPECT_EQ(*look_path("env", {"PATH=/usr/bin:/bin"}, check), "/usr/bin/env");
    EXPECT_EQ(*look_path("tool", {"PATH=/nope:"}, check), "./tool");  // an empty element is "."
    EXPECT_EQ(*look_path("/bin/sh", {}, check), "/bin/sh");
    EXPECT_EQ(look_path("sh", {"TERM=xterm"}, check).error().message,
              "exec: \"sh\": executable file not found in $PATH");  // no PATH: no default
    EXPECT_EQ(look_path("/no/tool", {}, check).error().message,
              "exec: \"/no/tool\": stat /no/tool: no such file or directory");
    EXPECT_EQ(look_path("/etc", {}, check).error().message, "exec: \"/etc\": permission denied");
}

}  // namespace
}  // namespace lxbox::runtime
