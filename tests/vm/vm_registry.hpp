// The registry tests' local registry (tests/e2e/registry/local_registry.hpp) for the VM suites:
// Debian's docker-registry on 127.0.0.1 with TLS from a CA the test makes and htpasswd, started
// for one test, with images put in by skopeo, and lxbox logged in to it through an auth file of
// the test's own (not root's). Stopped, and its files removed, when the object goes.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/common/test_support.hpp"
#include "tests/e2e/registry/local_registry.hpp"

namespace lxbox::test {

class VmRegistry {
public:
    // Starts the registry; `lxbox login` to it for the store at root.
    explicit VmRegistry(std::string root)
        : root_(std::move(root)),
          certs_(TestCerts::make(dir_ / "certs")),
          registry_(dir_ / "reg", dir_ / "storage", LocalRegistry::Auth::Htpasswd, true, certs_) {
        auto login = lxbox({"login", registry_.host(), "-u", LocalRegistry::kUser, "--password-stdin", "--ca-file",
                            certs_.ca_crt},
                           std::string(LocalRegistry::kPassword) + "\n");
        if (login.exit_code != 0) throw std::runtime_error("lxbox login: " + login.err);
    }
    // Why these tests cannot run here ("" when they can).
    static std::string unavailable_reason() {
        for (const char* tool : {"docker-registry", "skopeo", "htpasswd", "openssl"})
            if (run({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0)
                return std::string(tool) + " is not installed (tools/setup --test)";
        return "";
    }
    // The layout's tag pushed as repo:tag (every platform of an index); its reference.
    std::string push(const std::string& layout, const std::string& tag, const std::string& repo) {
        const std::string ref = registry_.host() + "/" + repo + ":" + tag;
        skopeo_push(layout, tag, ref, certs_, true, true, true);
        return ref;
    }
    // lxbox on the store with this login (transport flags are the caller's: ca_file()).
    CommandResult lxbox(const std::vector<std::string>& args, const std::string& input = {}) const {
        std::vector<std::string> argv{LXBOX_BINARY, "--root", root_};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, input, {"XDG_CONFIG_HOME=" + dir_ / "config", "HOME=" + dir_.path(), "XDG_RUNTIME_DIR="});
    }
    const std::string& ca_file() const { return certs_.ca_crt; }

private:
    std::string root_;
    ScratchDir dir_;
    TestCerts certs_;
    LocalRegistry registry_;
};

}  // namespace lxbox::test
