// lxbox pull, login and push against a real distribution registry on 127.0.0.1 (see
// local_registry.hpp): TLS with the test's CA, htpasswd and bearer-token authentication,
// resume after a cut download, concurrent pulls sharing blobs, and the one-line errors.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "runtime/base/unique_fd.hpp"
#include "runtime/image/oci.hpp"
#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"
#include "tests/e2e/registry/local_registry.hpp"

namespace lxbox::test {
namespace {

std::vector<nlohmann::json> json_lines(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);)
        if (auto j = nlohmann::json::parse(line, nullptr, false); j.is_object()) out.push_back(j);
    return out;
}

bool one_line(const std::string& err) {
    return !err.empty() && err.find('\n') == err.size() - 1;
}

class Registry : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string store = dir / "store";
    std::string config_home = dir / "config";  // lxbox's auth file goes here
    TestCerts certs = TestCerts::make(dir / "certs");
    std::string layout = dir / "layout";
    std::string manifest_digest;

    void SetUp() override {
        for (const char* tool : {"docker-registry", "skopeo", "htpasswd", "openssl", "python3"})
            if (run({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0)
                LXBOX_SKIP(std::string(tool) + " is not installed (tools/setup --test)");
        // Three layers, one of them 3 MiB of incompressible bytes (what the cut and resume need).
        std::string big;
        uint32_t x = 12345;
        for (int i = 0; i < 3 << 20; ++i) big += static_cast<char>((x = x * 1103515245 + 12345) >> 24);
        OciImage img;
        img.layers = {OciLayer{{dir_entry("etc"), file_entry("etc/os-release", "ID=regtest\n")}},
                      OciLayer{{dir_entry("data"), file_entry("data/big.bin", big)}},
                      OciLayer{{file_entry("etc/motd", "hello from the registry\n")}}};
        img.config = {{"Cmd", {"/bin/sh"}}};
        manifest_digest = write_oci_layout(layout, img, "v1").manifest;
    }

    CommandResult lxbox(const std::vector<std::string>& args, const std::string& input = {},
                        const std::vector<std::string>& more_env = {}) {
        std::vector<std::string> argv{LXBOX_BINARY, "--root", store};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<std::string> env{"XDG_CONFIG_HOME=" + config_home, "HOME=" + dir.path(), "XDG_RUNTIME_DIR="};
        env.insert(env.end(), more_env.begin(), more_env.end());
        return run(argv, input, env);
    }

    // The manifest digest the store registered for an image ("" when there is none).
    std::string image_manifest(const std::string& name) {
        std::ifstream f(store + "/registry.json");
        auto j = nlohmann::json::parse(f, nullptr, false);
        if (!j.is_object() || !j.contains("images") || !j["images"].contains(name)) return "";
        return j["images"][name].value("manifest", "");
    }

    bool blob_in_store(const std::string& digest) {
        return ::access((store + "/blobs/sha256/" + digest.substr(7)).c_str(), F_OK) == 0;
    }
};

TEST_F(Registry, LoginThenPullOverTlsWithTheTestCa) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::Htpasswd, true, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, true, true);
    const std::string ref = reg.host() + "/test/img:v1";

    auto anonymous = lxbox({"pull", "--ca-file", certs.ca_crt, ref});
    EXPECT_EQ(anonymous.exit_code, 125);
    EXPECT_TRUE(one_line(anonymous.err)) << anonymous.err;
    EXPECT_NE(anonymous.err.find("401"), std::string::npos) << anonymous.err;
    EXPECT_NE(anonymous.err.find(ref), std::string::npos) << anonymous.err;
    EXPECT_FALSE(blob_in_store(manifest_digest));

    auto wrong = lxbox({"login", reg.host(), "-u", LocalRegistry::kUser, "--password-stdin", "--ca-file", certs.ca_crt},
                       "wrong\n");
    EXPECT_EQ(wrong.exit_code, 125);
    EXPECT_NE(wrong.err.find("401"), std::string::npos) << wrong.err;
    auto login = lxbox({"login", reg.host(), "-u", LocalRegistry::kUser, "--password-stdin", "--ca-file", certs.ca_crt},
                       std::string(LocalRegistry::kPassword) + "\n");
    ASSERT_EQ(login.exit_code, 0) << login.err;
    struct stat st {};
    ASSERT_EQ(::stat((config_home + "/lxbox/auth.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto untrusted = lxbox({"pull", ref});
    EXPECT_EQ(untrusted.exit_code, 125);
    EXPECT_TRUE(one_line(untrusted.err)) << untrusted.err;
    EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;

    auto pulled = lxbox({"pull", "--ca-file", certs.ca_crt, ref});
    ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
    EXPECT_NE(pulled.out.find(manifest_digest), std::string::npos) << pulled.out;
    EXPECT_TRUE(blob_in_store(manifest_digest));
    EXPECT_EQ(image_manifest("img-v1"), manifest_digest);

    auto again = lxbox({"pull", "--json", "--tls-verify", "false", ref});  // all present: nothing fetched
    ASSERT_EQ(again.exit_code, 0) << again.err;
    auto done = nlohmann::json::parse(again.out.substr(again.out.rfind("{\"event\":\"done\"")));
    EXPECT_EQ(done["fetched"], 0);
    EXPECT_EQ(done["present"], 4);

    ASSERT_EQ(lxbox({"logout", reg.host()}).exit_code, 0);
    EXPECT_EQ(lxbox({"pull", "--ca-file", certs.ca_crt, ref}).exit_code, 125);
}

TEST_F(Registry, AnonymousBearerTokenAndCredentialsFromPodmansAuthFile) {
    // One storage, two registries: htpasswd for skopeo's push, the token flow for the pulls.
    LocalRegistry basic(dir / "basic", dir / "storage", LocalRegistry::Auth::Htpasswd, true, certs);
    skopeo_push(layout, "v1", basic.host() + "/pub/img:v1", certs, true, true);
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::Token, true, certs);

    auto pulled = lxbox({"pull", "--ca-file", certs.ca_crt, reg.host() + "/pub/img:v1"});
    ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
    auto log = json_lines(reg.token_log());
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log[0]["user"], "");  // anonymous
    EXPECT_EQ(log[0]["scope"][0], "repository:pub/img:pull");

    // podman's auth.json (XDG_CONFIG_HOME/containers/auth.json): the token request carries it.
    ::mkdir((config_home).c_str(), 0700);
    ::mkdir((config_home + "/containers").c_str(), 0700);
    std::ofstream(config_home + "/containers/auth.json")
        << nlohmann::json{{"auths", {{reg.host(), {{"auth", "dGVzdGVyOnMzY3JldC1wdw=="}}}}}}.dump();  // tester:s3cret-pw
    ::unlink(reg.token_log().c_str());
    auto digest_ref = reg.host() + "/pub/img@" + manifest_digest;
    auto by_digest = lxbox({"pull", "--ca-file", certs.ca_crt, digest_ref});
    ASSERT_EQ(by_digest.exit_code, 0) << by_digest.err;
    log = json_lines(reg.token_log());
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log[0]["user"], LocalRegistry::kUser);
}

TEST_F(Registry, ResumesAnInterruptedPullWithARangeRequest) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, false, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, false, false);
    CutProxy proxy(dir / "proxy", reg.port(), 1 << 20);
    const std::string ref = proxy.host() + "/test/img:v1";

    auto plain = lxbox({"pull", ref});  // plain HTTP needs --insecure
    EXPECT_EQ(plain.exit_code, 125);
    auto cut = lxbox({"pull", "--insecure", ref});
    EXPECT_EQ(cut.exit_code, 125);
    EXPECT_TRUE(one_line(cut.err)) << cut.err;
    EXPECT_NE(cut.err.find("truncated"), std::string::npos) << cut.err;
    EXPECT_FALSE(blob_in_store(manifest_digest));
    EXPECT_EQ(image_manifest("img-v1"), "");  // nothing registered

    auto resumed = lxbox({"pull", "--insecure", "--json", ref});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_NE(resumed.out.find("\"event\":\"resume\""), std::string::npos) << resumed.out;
    bool ranged = false;
    for (const auto& entry : json_lines(proxy.log()))
        if (entry["range"] == "bytes=1048576-" && entry["status"] == 206) ranged = true;
    EXPECT_TRUE(ranged) << "no Range request for the rest of the cut blob";
    EXPECT_TRUE(blob_in_store(manifest_digest));
    EXPECT_EQ(image_manifest("img-v1"), manifest_digest);
}

TEST_F(Registry, APullKilledMidwayIsFinishedByTheNext) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, false, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, false, false);
    CutProxy proxy(dir / "proxy", reg.port(), 1 << 20, "slow");
    const std::string ref = proxy.host() + "/test/img:v1";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::setenv("XDG_CONFIG_HOME", config_home.c_str(), 1);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execl(LXBOX_BINARY, LXBOX_BINARY, "--root", store.c_str(), "pull", "--insecure", ref.c_str(), nullptr);
        ::_exit(127);
    }
    // Killed once the big layer's first MiB is in its partial file (the proxy stalls after it).
    bool midway = false;
    for (int i = 0; i < 400 && !midway; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        midway = run({"sh", "-c", "find " + store + "/tmp -name 'partial-*' -size +1023k | grep -q ."}).exit_code == 0;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(midway) << "the pull never got its first MiB";
    // The helper dies with lxbox (its parent-death signal).
    for (int i = 0; i < 100 && run({"pgrep", "-f", "lxbox-registry pull --store " + store}).exit_code == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_NE(run({"pgrep", "-f", "lxbox-registry pull --store " + store}).exit_code, 0);
    EXPECT_FALSE(blob_in_store(manifest_digest));

    auto next = lxbox({"pull", "--insecure", "--json", ref});
    ASSERT_EQ(next.exit_code, 0) << next.err;
    EXPECT_NE(next.out.find("\"event\":\"resume\""), std::string::npos) << next.out;
    // Each blob's arrival is told (lxbox unpacks a layer while the rest downloads).
    EXPECT_NE(next.out.find("\"event\":\"blob\""), std::string::npos) << next.out;
    EXPECT_TRUE(blob_in_store(manifest_digest));
    EXPECT_EQ(run({"sh", "-c", "ls " + store + "/tmp | grep -c partial"}).out, "0\n");
}

TEST_F(Registry, ConcurrentPullsFetchEachBlobOnce) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, false, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, false, false);
    CutProxy proxy(dir / "proxy", reg.port(), 1L << 40);  // counts, never cuts
    const std::string ref = proxy.host() + "/test/img:v1";
    CommandResult a, b;
    std::thread ta([&] { a = lxbox({"pull", "--insecure", ref}); });
    std::thread tb([&] { b = lxbox({"pull", "--insecure", ref}); });
    ta.join();
    tb.join();
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    std::map<std::string, int> gets;
    for (const auto& entry : json_lines(proxy.log())) gets[entry["path"]]++;
    EXPECT_EQ(gets.size(), 4u);  // the config and three layers
    for (const auto& [path, n] : gets) EXPECT_EQ(n, 1) << path;
}

TEST_F(Registry, ACorruptBlobOrAManifestThatIsNotJsonIsRefused) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, false, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, false, false);
    {
        CutProxy corrupt(dir / "corrupt", reg.port(), 1 << 20, "corrupt");
        auto r = lxbox({"pull", "--insecure", corrupt.host() + "/test/img:v1"});
        EXPECT_EQ(r.exit_code, 125);
        EXPECT_TRUE(one_line(r.err)) << r.err;
        EXPECT_NE(r.err.find("digest"), std::string::npos) << r.err;
        EXPECT_FALSE(blob_in_store(manifest_digest));
        // The big layer's bad copy is not kept, whole or partial.
        EXPECT_EQ(run({"sh", "-c", "ls " + store + "/tmp | grep -c partial"}).out, "0\n");
    }
    CutProxy html(dir / "html", reg.port(), 1 << 20, "notjson");
    auto r = lxbox({"pull", "--insecure", html.host() + "/test/img:v1"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("not JSON"), std::string::npos) << r.err;
}

// ~/.docker/config.json's credsStore and credHelpers: docker-credential-NAME get, asked with the
// registry's host on stdin, answers with the htpasswd login; a failing helper is one line.
TEST_F(Registry, CredentialHelpersNamedInDockersConfigAreAsked) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::Htpasswd, true, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, true, true);
    const std::string ref = reg.host() + "/test/img:v1", bin = dir / "bin", asked = dir / "asked.log";
    ASSERT_EQ(::mkdir(bin.c_str(), 0755), 0);
    auto helper = [&](const std::string& name, const std::string& body) {
        const std::string path = bin + "/docker-credential-" + name;
        std::ofstream(path) << "#!/bin/sh\n[ \"$1\" = get ] || exit 3\n" << body;
        ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
    };
    // docker's client writes the host with no newline: read's status is 1, its variable set.
    helper("lxtest", "read -r host; echo \"$host\" >> " + asked + "\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"" +
                         LocalRegistry::kUser + "\",\"Secret\":\"" + LocalRegistry::kPassword + "\"}' \"$host\"\n");
    helper("locked", "echo 'error: the keychain is locked'; echo 'unlock it first' >&2; exit 1\n");
    helper("empty", "echo 'credentials not found in native keychain'; exit 1\n");
    auto asked_hosts = [&] {
        auto text = read_file(asked);
        return text ? *text : std::string();
    };
    auto pull = [&](const nlohmann::json& docker_config) {
        ::mkdir((dir / ".docker").c_str(), 0700);
        std::ofstream(dir / ".docker/config.json") << docker_config.dump();
        return lxbox({"pull", "--ca-file", certs.ca_crt, ref}, {}, {"PATH=" + bin + ":" + std::getenv("PATH")});
    };
    auto r = pull({{"credsStore", "lxtest"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(image_manifest("img-v1"), manifest_digest);
    EXPECT_EQ(asked_hosts(), reg.host() + "\n");
    // credHelpers' entry for the host comes before credsStore (which would fail here).
    r = pull({{"credsStore", "locked"}, {"credHelpers", {{reg.host(), "lxtest"}}}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // A failing helper: one line naming it, the registry and what it said; nothing registered.
    store = dir / "store2";
    r = pull({{"credHelpers", {{"other.io", "lxtest"}, {reg.host(), "locked"}}}});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("docker-credential-locked for " + reg.host() + " failed (exit status 1): error: the keychain "
                         "is locked unlock it first"),
              std::string::npos)
        << r.err;
    r = pull({{"credsStore", "nosuch"}});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("docker-credential-nosuch for " + reg.host() + " is not in PATH"), std::string::npos) << r.err;
    // A helper with nothing for the registry: the pull goes anonymous, and the registry says 401.
    r = pull({{"credsStore", "empty"}});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
    EXPECT_EQ(image_manifest("img-v1"), "");
    EXPECT_EQ(asked_hosts(), reg.host() + "\n" + reg.host() + "\n");
}

TEST_F(Registry, AnIndexResolvesToTheHostsPlatformOrTheOneAskedFor) {
    // A second image (arm64) beside the first; an index of both is the layout's "multi".
    OciImage arm_image;
    arm_image.layers = {OciLayer{{file_entry("etc/arch", "arm64\n")}}};
    arm_image.architecture = "arm64";
    const std::string arm = write_oci_layout(layout, arm_image, "arm").manifest;
    auto entry = [&](const std::string& digest, const char* arch) {
        struct stat st {};
        ::stat((layout + "/blobs/sha256/" + digest.substr(7)).c_str(), &st);
        return nlohmann::json{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                              {"digest", digest},
                              {"size", st.st_size},
                              {"platform", {{"os", "linux"}, {"architecture", arch}}}};
    };
    const std::string index = nlohmann::json{{"schemaVersion", 2},
                                             {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                             {"manifests", {entry(manifest_digest, "amd64"), entry(arm, "arm64")}}}
                                  .dump();
    const std::string index_digest = write_blob(layout, index);
    std::ofstream(layout + "/index.json")
        << nlohmann::json{{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                             {"digest", index_digest},
                             {"size", index.size()},
                             {"annotations", {{"org.opencontainers.image.ref.name", "multi"}}}}}}}
               .dump();
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, false, certs);
    ASSERT_EQ(run({"skopeo", "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false",
                   "oci:" + layout + ":multi", "docker://" + reg.host() + "/multi/img:v1"})
                  .exit_code,
              0);
    const std::string ref = reg.host() + "/multi/img:v1";
    auto host = lxbox({"pull", "--insecure", "--json", ref});
    ASSERT_EQ(host.exit_code, 0) << host.err;
    const std::string native = image::host_platform().architecture == "arm64" ? arm : manifest_digest;
    EXPECT_NE(host.out.find("\"manifest\":\"" + native + "\""), std::string::npos) << host.out;
    auto other = lxbox({"pull", "--insecure", "--json", "--platform", "linux/arm64", ref});
    ASSERT_EQ(other.exit_code, 0) << other.err;
    EXPECT_NE(other.out.find("\"manifest\":\"" + arm + "\""), std::string::npos) << other.out;
    auto none = lxbox({"pull", "--insecure", "--platform", "linux/s390x", ref});
    EXPECT_EQ(none.exit_code, 125);
    EXPECT_TRUE(one_line(none.err)) << none.err;
    EXPECT_NE(none.err.find("linux/amd64"), std::string::npos) << none.err;
}

TEST_F(Registry, TheHelperPushesAndMountsAcrossRepositories) {
    // lxbox-registry push on its own (lxbox push NAME REF resolves NAME to the manifest it pushes).
    LocalRegistry basic(dir / "basic", dir / "storage", LocalRegistry::Auth::Htpasswd, true, certs);
    skopeo_push(layout, "v1", basic.host() + "/src/img:v1", certs, true, true);
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::Token, true, certs);
    ::mkdir(config_home.c_str(), 0700);
    ASSERT_EQ(lxbox({"login", reg.host(), "-u", LocalRegistry::kUser, "--password-stdin", "--ca-file", certs.ca_crt},
                    std::string(LocalRegistry::kPassword) + "\n")
                  .exit_code,
              0);
    ASSERT_EQ(lxbox({"pull", "--ca-file", certs.ca_crt, reg.host() + "/src/img:v1"}).exit_code, 0);
    auto push = [&](const std::string& dest, const std::vector<std::string>& extra) {
        std::vector<std::string> argv{std::string(LXBOX_BUILD_DIR) + "/registry-client/lxbox-registry", "push",
                                      "--store", store, "--manifest", manifest_digest, "--ca-file", certs.ca_crt};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back(dest);
        auto r = run(argv, {}, {"XDG_CONFIG_HOME=" + config_home, "HOME=" + dir.path(), "XDG_RUNTIME_DIR="});
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        return nlohmann::json::parse(r.out.substr(r.out.rfind("{\"event\":\"done\"")));
    };
    auto uploaded = push(reg.host() + "/dst/one:v1", {});
    EXPECT_EQ(uploaded["uploaded"], 4);
    auto mounted = push(reg.host() + "/dst/two:v1", {"--mount-from", "src/img"});
    EXPECT_EQ(mounted["mounted"], 4);
    EXPECT_EQ(mounted["uploaded"], 0);
    // The copies pull back by digest into a fresh store.
    store = dir / "store2";
    EXPECT_EQ(lxbox({"pull", "--ca-file", certs.ca_crt, reg.host() + "/dst/two@" + manifest_digest}).exit_code, 0);
    EXPECT_TRUE(blob_in_store(manifest_digest));
}

TEST_F(Registry, PushThenPullRoundTrip) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::Htpasswd, true, certs);
    skopeo_push(layout, "v1", reg.host() + "/test/img:v1", certs, true, true);
    ASSERT_EQ(lxbox({"login", reg.host(), "-u", LocalRegistry::kUser, "--password-stdin", "--ca-file", certs.ca_crt},
                    std::string(LocalRegistry::kPassword) + "\n")
                  .exit_code,
              0);
    ASSERT_EQ(lxbox({"pull", "--ca-file", certs.ca_crt, "--name", "mine", reg.host() + "/test/img:v1"}).exit_code, 0);

    const std::string copy = reg.host() + "/copies/mine:v2";
    auto pushed = lxbox({"push", "--json", "--ca-file", certs.ca_crt, "mine", copy});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
    auto done = nlohmann::json::parse(pushed.out.substr(pushed.out.rfind("{\"event\":\"done\"")));
    EXPECT_EQ(done["mounted"], 4);  // pulled from this registry: mounted from where it came
    auto again = lxbox({"push", "--json", "--ca-file", certs.ca_crt, "mine", copy});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(nlohmann::json::parse(again.out.substr(again.out.rfind("{\"event\":\"done\"")))["present"], 4);

    // A fresh store pulls the copy by digest: the same manifest, byte for byte.
    store = dir / "store2";
    auto back = lxbox({"pull", "--ca-file", certs.ca_crt, reg.host() + "/copies/mine@" + manifest_digest});
    ASSERT_EQ(back.exit_code, 0) << back.err;
    EXPECT_EQ(image_manifest("mine-" + manifest_digest.substr(7, 12)), manifest_digest);

    auto missing = lxbox({"push", "--ca-file", certs.ca_crt, "nosuch", copy});
    EXPECT_EQ(missing.exit_code, 125);
    EXPECT_TRUE(one_line(missing.err)) << missing.err;
}

TEST_F(Registry, LaunchOfAReferencePullsOnFirstUseOnly) {
    if (!is_root()) LXBOX_SKIP("launching containers of images needs root here");
    OciImage img;
    img.layers = {OciLayer{{}, TarFilter::None, busybox_tarball()},
                  OciLayer{{dir_entry("etc"), file_entry("etc/motd", "launched from the registry\n")}}};
    img.config = {{"Cmd", {"cat", "/etc/motd"}}};
    const std::string bb = dir / "bb-layout";
    write_oci_layout(bb, img, "v1");
    const std::string ref = "test/bb:v1";
    std::string full;
    {
        LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, true, certs);
        skopeo_push(bb, "v1", reg.host() + "/" + ref, certs, true, false);
        // A distro name has no ':', '/' or '@': `launch NAME` stays local, REF is pulled.
        auto local = lxbox({"launch", "--rm", "bb"});
        EXPECT_EQ(local.exit_code, 125);
        EXPECT_NE(local.err.find("no distro or container named 'bb'"), std::string::npos) << local.err;
        full = reg.host() + "/" + ref;
        auto first = lxbox({"launch", "--rm", "--ca-file", certs.ca_crt, full});
        ASSERT_EQ(first.exit_code, 0) << first.err;
        EXPECT_EQ(first.out, "launched from the registry\n");  // the image's Cmd
        EXPECT_FALSE(image_manifest("bb-v1").empty());
        // Not trusted without the CA: a pull of a reference not yet in the store fails in one line.
        auto untrusted = lxbox({"launch", "--rm", reg.host() + "/test/other:v1"});
        EXPECT_EQ(untrusted.exit_code, 125);
        EXPECT_TRUE(one_line(untrusted.err)) << untrusted.err;
    }
    // The registry is gone: the image pulled on first use serves the next launches (no pull),
    // a kept container of it included, and -- CMD overrides the image's Cmd.
    auto again = lxbox({"launch", "--rm", full});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, "launched from the registry\n");
    auto kept = lxbox({"launch", "--name", "web", full, "--", "sh", "-c", "echo kept > /k; cat /k"});
    EXPECT_EQ(kept.exit_code, 0) << kept.err;
    EXPECT_EQ(kept.out, "kept\n");
    EXPECT_EQ(lxbox({"rm", "web"}).exit_code, 0);
}

TEST_F(Registry, BadReferencesAndMissingImagesAreOneLine) {
    LocalRegistry reg(dir / "reg", dir / "storage", LocalRegistry::Auth::None, false, certs);
    for (const std::string& bad : std::vector<std::string>{reg.host() + "/Upper/case", reg.host() + "/x:bad/tag", "x@sha256:123"}) {
        auto r = lxbox({"pull", "--insecure", bad});
        EXPECT_EQ(r.exit_code, 125) << bad;
        EXPECT_TRUE(one_line(r.err)) << r.err;
        EXPECT_NE(r.err.find("image reference"), std::string::npos) << r.err;
    }
    const std::string missing = reg.host() + "/no/such:v9";
    auto r = lxbox({"pull", "--insecure", missing});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("404 Not Found"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
    for (const std::string status : {"429", "500"}) {
        CutProxy proxy(dir / ("proxy" + status), reg.port(), 0, status);
        const std::string ref = proxy.host() + "/test/img:v1";
        auto s = lxbox({"pull", "--insecure", ref});
        EXPECT_EQ(s.exit_code, 125);
        EXPECT_TRUE(one_line(s.err)) << s.err;
        EXPECT_NE(s.err.find(": " + status + " "), std::string::npos) << s.err;
        EXPECT_NE(s.err.find(ref), std::string::npos) << s.err;
    }
    EXPECT_EQ(run({"sh", "-c", "ls " + store + "/blobs/sha256 2>/dev/null | wc -l"}).out, "0\n");
}

}  // namespace
}  // namespace lxbox::test
