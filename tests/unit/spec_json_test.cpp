// The spec travels over the VM channel as JSON: it must round-trip unchanged.
#include <gtest/gtest.h>

#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {
namespace {

TEST(SpecJson, RoundTripsEveryField) {
    ContainerSpec s;
    s.name = "c1";
    s.image_rootfs = "/i";
    s.container_dir = "/c";
    s.ephemeral = true;
    s.hostname = "h";
    s.network = "none";
    s.binds = {{"/a", "/b", true}};
    s.resolv_conf = "nameserver 9.9.9.9\n";
    s.init = false;
    s.limits.memory_bytes = 1 << 20;
    s.limits.cpus = 1.5;
    s.cgroup = "lxbox-c1";
    s.process.args = {"ls", "-l"};
    s.process.env = {"A=1"};
    s.process.user = "1000:50";
    s.process.cwd = "/tmp";
    s.process.tty = true;
    s.cgroup_optional = true;
    s.userns = {true, {{0, 1000, 1}, {1, 100000, 65536}}, {{0, 1000, 1}}, true};
    nlohmann::json j = s;
    auto back = j.get<ContainerSpec>();
    EXPECT_EQ(nlohmann::json(back), j);
    EXPECT_EQ(back.userns, s.userns);
    EXPECT_TRUE(back.cgroup_optional);
    EXPECT_EQ(back.binds[0].target, "/b");
    EXPECT_FALSE(back.limits.pids.has_value());
    EXPECT_EQ(*back.limits.cpus, 1.5);
}

TEST(SpecJson, MissingFieldsTakeDefaults) {
    auto s = nlohmann::json::parse(R"({"name":"x","image_rootfs":"/i","container_dir":"/c"})").get<ContainerSpec>();
    EXPECT_EQ(s.network, "host");
    EXPECT_TRUE(s.init);
    EXPECT_TRUE(s.process.args.empty());
}

}  // namespace
}  // namespace lxbox::runtime
