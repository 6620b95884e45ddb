#include "tests/common/systemd_fixture.hpp"

namespace lxbox::test {

Status import_systemd_distro(const std::string& root, const std::string& name) {
    const std::string fixture = std::string(LXBOX_BUILD_DIR) + "/fixtures/debian-systemd-rootfs.tar";
    auto built = run({std::string(LXBOX_SOURCE_DIR) + "/tools/fixtures/debian-systemd.sh", fixture});
    if (built.exit_code != 0) return Error(ErrorKind::System, "tools/fixtures/debian-systemd.sh: " + built.err);
    auto imp = run_lxbox(root, {"import", name, fixture});
    if (imp.exit_code != 0) return Error(ErrorKind::System, "import: " + imp.err);
    auto set = run_lxbox(root, {"config", "set", "--distro", name, "boot.systemd", "true"});
    if (set.exit_code != 0) return Error(ErrorKind::System, "config set: " + set.err);
    return {};
}

CommandResult run_lxbox_marked(const std::string& root, const std::string& env_marker,
                               const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env", env_marker, LXBOX_BINARY, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

std::string systemd_state(const std::string& root, const std::string& env_marker, const std::string& container) {
    auto r = run_lxbox_marked(root, env_marker,
                              {"exec", container, "--", "sh", "-c",
                               "systemctl is-system-running; systemctl --failed --no-pager --no-legend --plain"});
    return r.out + r.err;
}

}  // namespace lxbox::test
