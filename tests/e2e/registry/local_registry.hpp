// A real OCI distribution registry on 127.0.0.1 for the registry tests (Debian's
// docker-registry, the CNCF distribution registry), started with a config the fixture writes:
// TLS with a CA the fixture makes (openssl), htpasswd (bcrypt) or bearer-token
// authentication (token_server.py), or none over plain HTTP; stopped and its files removed
// when the object goes. Images go in with skopeo from OCI layouts the tests build.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/common/tarball.hpp"

namespace lxbox::test {

// A child process killed (SIGTERM, then reaped) when the object goes.
class Server {
public:
    Server() = default;
    Server(const std::vector<std::string>& argv, const std::string& log_file);
    Server(Server&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
    Server& operator=(Server&& o) noexcept {
        std::swap(pid_, o.pid_);
        return *this;
    }
    ~Server();
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

// The test's certificates: a CA, and a server certificate for 127.0.0.1 it signed.
struct TestCerts {
    std::string dir, ca_crt, server_crt, server_key;
    static TestCerts make(const std::string& dir);
};

class LocalRegistry {
public:
    enum class Auth { None, Htpasswd, Token };
    static constexpr const char* kUser = "tester";
    static constexpr const char* kPassword = "s3cret-pw";

    // dir: the registry's own files; storage: its blob storage (shared between registries).
    LocalRegistry(const std::string& dir, const std::string& storage, Auth auth, bool tls, const TestCerts& certs);
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    std::string token_log() const { return dir_ + "/token.log"; }

private:
    std::string dir_;
    int port_ = 0;
    Server token_server_, registry_;
};

// A proxy in front of a plain-HTTP registry that misbehaves as mode says (cut_proxy.py): "cut"
// the first blob response over cut bytes, "corrupt" a byte of blobs over cut bytes, "notjson"
// every manifest.
class CutProxy {
public:
    CutProxy(const std::string& dir, int upstream_port, long cut, const std::string& mode = "cut");
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string log() const { return dir_ + "/proxy.log"; }

private:
    std::string dir_;
    int port_ = 0;
    Server server_;
};

// skopeo copy of that layout into the registry as repo:tag (with the test's credentials and CA);
// all_platforms: every image of a multi-platform index, not only the host's.
void skopeo_push(const std::string& layout, const std::string& tag, const std::string& dest_ref,
                 const TestCerts& certs, bool tls, bool with_credentials, bool all_platforms = false);

// A free TCP port on 127.0.0.1 (bound and released; the registry binds it next).
int free_port();
// Waits until something accepts on 127.0.0.1:port (10 s at most); false if nothing does.
bool wait_for_port(int port);

}  // namespace lxbox::test
