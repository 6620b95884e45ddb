#include "tests/e2e/registry/local_registry.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {

namespace {

const std::string kScripts = std::string(LXBOX_SOURCE_DIR) + "/tests/e2e/registry/";

void must(const std::vector<std::string>& argv, const std::string& input = {}) {
    auto r = run(argv, input);
    if (r.exit_code != 0) throw std::runtime_error(argv[0] + " failed: " + r.err + r.out);
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

int read_port_file(const std::string& path) {
    for (int i = 0; i < 200; ++i) {
        std::ifstream f(path);
        int port = 0;
        if (f >> port && port > 0) return port;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("no port in " + path);
}

}  // namespace

Server::Server(const std::vector<std::string>& argv, const std::string& log_file) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, 0);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
}

Server::~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
}

TestCerts TestCerts::make(const std::string& dir) {
    ::mkdir(dir.c_str(), 0755);
    TestCerts c{dir, dir + "/ca.crt", dir + "/server.crt", dir + "/server.key"};
    must({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=lxbox test CA",
          "-keyout", dir + "/ca.key", "-out", c.ca_crt});
    must({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", c.server_key,
          "-out", dir + "/server.csr"});
    write_text(dir + "/ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    must({"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", c.ca_crt, "-CAkey", dir + "/ca.key",
          "-CAcreateserial", "-days", "2", "-extfile", dir + "/ext.cnf", "-out", c.server_crt});
    return c;
}

int free_port() {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("no free port");
    return ntohs(a.sin_port);
}

bool wait_for_port(int port) {
    for (int i = 0; i < 200; ++i) {
        UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port));
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

LocalRegistry::LocalRegistry(const std::string& dir, const std::string& storage, Auth auth, bool tls,
                             const TestCerts& certs)
    : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    ::mkdir(storage.c_str(), 0755);
    port_ = free_port();
    std::string config = "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                         "    rootdirectory: " + storage + "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" +
                         std::to_string(port_) + "\n";
    if (tls) config += "  tls:\n    certificate: " + certs.server_crt + "\n    key: " + certs.server_key + "\n";
    if (auth == Auth::Htpasswd) {
        must({"htpasswd", "-B", "-b", "-c", dir + "/htpasswd", kUser, kPassword});
        config += "auth:\n  htpasswd:\n    realm: lxbox-test\n    path: " + dir + "/htpasswd\n";
    } else if (auth == Auth::Token) {
        // The token server signs with the server key; its certificate is the bundle the registry trusts.
        token_server_ = Server({"python3", kScripts + "token_server.py", certs.server_key, certs.server_crt,
                                "lxbox-test-issuer", "lxbox-test", std::string(kUser) + ":" + kPassword,
                                dir + "/token.port", token_log()},
                               dir + "/token-server.out");
        int token_port = read_port_file(dir + "/token.port");
        config += "auth:\n  token:\n    realm: http://127.0.0.1:" + std::to_string(token_port) +
                  "/token\n    service: lxbox-test\n    issuer: lxbox-test-issuer\n    rootcertbundle: " +
                  certs.server_crt + "\n";
    }
    write_text(dir + "/config.yml", config);
    registry_ = Server({"docker-registry", "serve", dir + "/config.yml"}, dir + "/registry.out");
    if (!wait_for_port(port_)) throw std::runtime_error("docker-registry did not start: see " + dir + "/registry.out");
}

CutProxy::CutProxy(const std::string& dir, int upstream_port, long cut, const std::string& mode) : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    server_ = Server({"python3", kScripts + "cut_proxy.py", std::to_string(upstream_port), std::to_string(cut),
                      dir + "/proxy.port", log(), mode},
                     dir + "/proxy.out");
    port_ = read_port_file(dir + "/proxy.port");
}

void skopeo_push(const std::string& layout, const std::string& tag, const std::string& dest_ref,
                 const TestCerts& certs, bool tls, bool with_credentials, bool all_platforms) {
    std::vector<std::string> argv{"skopeo", "copy", "--quiet", "--preserve-digests"};
    if (all_platforms) argv.push_back("--all");
    if (tls) {
        // skopeo reads a directory of CA certificates (*.crt).
        must({"sh", "-c", "mkdir -p '" + certs.dir + "/skopeo' && cp '" + certs.ca_crt + "' '" + certs.dir + "/skopeo/ca.crt'"});
        argv.insert(argv.end(), {"--dest-cert-dir", certs.dir + "/skopeo"});
    } else {
        argv.push_back("--dest-tls-verify=false");
    }
    if (with_credentials)
        argv.insert(argv.end(), {"--dest-creds", std::string(LocalRegistry::kUser) + ":" + LocalRegistry::kPassword});
    argv.insert(argv.end(), {"oci:" + layout + ":" + tag, "docker://" + dest_ref});
    must(argv);
}

}  // namespace lxbox::test
