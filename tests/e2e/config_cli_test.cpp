// `lxbox config` as a user types it, and config::load over the file it writes.
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "host/config/config.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class ConfigCli : public ::testing::Test {
  protected:
    ScratchDir dir;
    std::string root = dir / "store";  // made by the first `config set`

    std::string file_text() {
        auto text = read_file(config::config_path(root));
        return text ? *text : "(missing)";
    }
    std::string get(const std::string& key) {
        auto r = run_lxbox(root, {"config", "get", key});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.out;
    }
};

TEST_F(ConfigCli, MissingFileLoadsAsDefaults) {
    auto config = config::load(root);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->vm.memory_mib, 1024u);
    EXPECT_EQ(get("vm.memory"), "1G\n");
    auto list = run_lxbox(root, {"config", "list", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    for (const auto& s : nlohmann::json::parse(list.out))
        EXPECT_TRUE(s["default"].get<bool>()) << s;
}

TEST_F(ConfigCli, SetGetListUnsetRoundTrip) {
    auto set = run_lxbox(root, {"config", "set", "vm.memory", "2G"});
    ASSERT_EQ(set.exit_code, 0) << set.err;
    EXPECT_EQ(get("vm.memory"), "2G\n");
    struct stat st;
    ASSERT_EQ(::stat(root.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);  // as Store::open makes the root

    auto config = config::load(root);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->vm.memory_mib, 2048u);

    auto list = run_lxbox(root, {"config", "list"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("vm.memory        2G         config.json"), std::string::npos)
        << list.out;
    EXPECT_NE(list.out.find("vm.cpus          2          default"), std::string::npos) << list.out;

    ASSERT_EQ(run_lxbox(root, {"config", "unset", "vm.memory"}).exit_code, 0);
    EXPECT_EQ(get("vm.memory"), "1G\n");
    EXPECT_EQ(nlohmann::json::parse(file_text()), nlohmann::json::object());
}

TEST_F(ConfigCli, BadValueFailsInOneLineAndLeavesTheFileUntouched) {
    ASSERT_EQ(run_lxbox(root, {"config", "set", "vm.cpus", "4"}).exit_code, 0);
    const std::string before = file_text();
    auto bad = run_lxbox(root, {"config", "set", "vm.memory", "12Q"});
    EXPECT_EQ(bad.exit_code, 125);
    EXPECT_EQ(bad.err, "lxbox: config set vm.memory: '12Q' is not a size (512M, 2G)\n");
    EXPECT_EQ(file_text(), before);

    auto unknown = run_lxbox(root, {"config", "get", "vm.ram"});
    EXPECT_EQ(unknown.exit_code, 125);
    EXPECT_EQ(
        unknown.err.rfind("lxbox: config get vm.ram: unknown key 'vm.ram' (known: vm.memory", 0),
        0u)
        << unknown.err;
}

TEST_F(ConfigCli, FileBrokenByHandIsNamedWithItsPath) {
    ASSERT_EQ(run_lxbox(root, {"config", "set", "vm.cpus", "4"}).exit_code, 0);
    ASSERT_TRUE(write_file_atomic(config::config_path(root), R"({"vm": {"cpus": "lots"}})").ok());
    auto config = config::load(root);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error().message,
              root + "/config.json: vm.cpus: 'lots' is not a number of CPUs from 1 to 256");
    auto list = run_lxbox(root, {"config", "list"});
    EXPECT_EQ(list.exit_code, 125);
    EXPECT_EQ(list.err, "lxbox: config list: " + config.error().message + "\n");
    // The way out: set (or unset) the key the error names.
    ASSERT_EQ(run_lxbox(root, {"config", "set", "vm.cpus", "8"}).exit_code, 0);
    EXPECT_EQ(get("vm.cpus"), "8\n");
}

}  // namespace
}  // namespace lxbox::test
