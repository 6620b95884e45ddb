// The registry client's pure parts: references, WWW-Authenticate challenges, credentials
// files (manifests and platforms: runtime/image/oci.hpp, tests/unit of the image store).
#include <gtest/gtest.h>

#include "host/registry/challenge.hpp"
#include "host/registry/credentials.hpp"
#include "host/registry/helper.hpp"
#include "host/registry/reference.hpp"

namespace lxbox::registry {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

std::string normalised(const char* text) {
    auto r = parse_reference(text);
    return r ? r->to_string() : "error: " + r.error().message;
}

TEST(RegistryReference, NormalisesAsDocker) {
    EXPECT_EQ(normalised("debian"), "docker.io/library/debian:latest");
    EXPECT_EQ(normalised("debian:bookworm"), "docker.io/library/debian:bookworm");
    EXPECT_EQ(normalised("library/debian:12"), "docker.io/library/debian:12");
    EXPECT_EQ(normalised("user/app"), "docker.io/user/app:latest");
    EXPECT_EQ(normalised("index.docker.io/debian"), "docker.io/library/debian:latest");
    EXPECT_EQ(normalised("localhost:5000/x"), "localhost:5000/x:latest");
    EXPECT_EQ(normalised("localhost/x:1"), "localhost/x:1");
    EXPECT_EQ(normalised("ghcr.io/a/b/c:v1.2-rc_3"), "ghcr.io/a/b/c:v1.2-rc_3");
    EXPECT_EQ(normalised("127.0.0.1:5000/a__b.c-d:t"), "127.0.0.1:5000/a__b.c-d:t");
    EXPECT_EQ(normalised(("debian@" + kDigest).c_str()), "docker.io/library/debian@" + kDigest);
    EXPECT_EQ(normalised(("quay.io/x:t@" + kDigest).c_str()), "quay.io/x:t@" + kDigest);
    EXPECT_EQ(normalised("[::1]:5000/x"), "[::1]:5000/x:latest");
}

TEST(RegistryReference, ManifestReferenceIsDigestWhenPinned) {
    auto r = parse_reference("quay.io/x:t@" + kDigest);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->manifest_reference(), kDigest);
    EXPECT_EQ(parse_reference("x:t")->manifest_reference(), "t");
    EXPECT_EQ(parse_reference("x")->api_host(), "registry-1.docker.io");
    EXPECT_EQ(parse_reference("localhost:5000/x")->api_host(), "localhost:5000");
}

TEST(RegistryReference, RefusesBadNamesTagsAndDigestsInOneLine) {
    for (const char* bad : {"", "Debian", "debian:", "debian:-x", "debian:a/b", "a//b", "/a", "a/", "-a", "a-",
                            "a..b", "a___b", "debian@sha256:abc", "debian@md5:0123", "x:y:z", "localhost:5000/",
                            "bad_host:5000x/a", "a b", "ex\xc3\xa4mple"}) {
        auto r = parse_reference(bad);
        ASSERT_FALSE(r.ok()) << bad << " -> " << r->to_string();
        EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << bad;
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    }
    EXPECT_NE(parse_reference("Debian").error().message.find("lowercase"), std::string::npos);
    EXPECT_FALSE(parse_reference("x:" + std::string(129, 't')).ok());
    EXPECT_FALSE(parse_reference("a/" + std::string(260, 'b')).ok());
}

TEST(RegistryReference, DefaultImageNames) {
    EXPECT_EQ(default_image_name(*parse_reference("debian:bookworm")), "debian-bookworm");
    EXPECT_EQ(default_image_name(*parse_reference("debian")), "debian");
    EXPECT_EQ(default_image_name(*parse_reference("localhost:5000/a/b/img:v1.2")), "img-v1.2");
    EXPECT_EQ(default_image_name(*parse_reference("x@" + kDigest)), "x-aaaaaaaaaaaa");
    EXPECT_EQ(default_image_name(*parse_reference("x:t@" + kDigest)), "x-t");
    EXPECT_EQ(default_image_name(*parse_reference(std::string(70, 'a') + ":" + std::string(70, 'b'))).size(), 64u);
}

TEST(RegistryChallenge, ParsesBearerAndBasic) {
    auto c = parse_www_authenticate(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull")");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].scheme, "bearer");
    EXPECT_EQ(c[0].param("realm"), "https://auth.docker.io/token");
    EXPECT_EQ(c[0].param("service"), "registry.docker.io");
    EXPECT_EQ(c[0].param("scope"), "repository:library/debian:pull");
    EXPECT_EQ(token_url(c[0]),
              "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fdebian%3Apull");
    EXPECT_EQ(token_url(c[0], "repository:x:pull,push"),
              "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Ax%3Apull%2Cpush");

    auto b = parse_www_authenticate(R"(Basic realm="Registry Realm")");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].scheme, "basic");
    EXPECT_EQ(b[0].param("realm"), "Registry Realm");
}

TEST(RegistryChallenge, SeveralChallengesEscapesAndTokens) {
    auto c = parse_www_authenticate(R"(Basic realm="a \"quoted\" b", BEARER Realm=http://t/x?a=1 , error=invalid_token)");
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].param("realm"), "a \"quoted\" b");
    EXPECT_EQ(c[1].scheme, "bearer");
    EXPECT_EQ(c[1].param("realm"), "http://t/x?a=1");
    EXPECT_EQ(c[1].param("error"), "invalid_token");
    EXPECT_EQ(token_url(c[1]), "http://t/x?a=1");
    EXPECT_TRUE(parse_www_authenticate("").empty());
    EXPECT_EQ(parse_www_authenticate(R"(Bearer realm="unterminated)").at(0).params.size(), 0u);
}

TEST(RegistryChallenge, TokenFromResponse) {
    EXPECT_EQ(token_from_response(R"({"token":"abc","expires_in":60})"), "abc");
    EXPECT_EQ(token_from_response(R"({"access_token":"xyz"})"), "xyz");
    EXPECT_EQ(token_from_response("not json"), "");
    EXPECT_EQ(token_from_response(R"({"token":""})"), "");
}

TEST(RegistryCredentials, Base64RoundTrip) {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "user:pa:ss", std::string("\0\xff\x10", 3)})
        EXPECT_EQ(base64_decode(base64_encode(s)).value_or("?"), s);
    EXPECT_EQ(base64_encode("user:secret"), "dXNlcjpzZWNyZXQ=");
    EXPECT_FALSE(base64_decode("a!bc").has_value());
    EXPECT_FALSE(base64_decode("abcde").has_value());
}

TEST(RegistryCredentials, FindsDockerAndPodmanEntries) {
    const std::string docker = R"({"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpzZWNyZXQ="},
        "localhost:5000":{"auth":")" + base64_encode("me:p:w") + R"("},
        "ghcr.io":{}},"credsStore":"desktop"})";
    auto hub = credentials_in(docker, "docker.io", "config.json");
    ASSERT_TRUE(hub && hub->has_value());
    EXPECT_EQ((*hub)->username, "user");
    EXPECT_EQ((*hub)->password, "secret");
    auto local = credentials_in(docker, "localhost:5000", "config.json");
    ASSERT_TRUE(local && local->has_value());
    EXPECT_EQ((*local)->password, "p:w");
    EXPECT_FALSE(credentials_in(docker, "ghcr.io", "c")->has_value());  // a helper's placeholder
    EXPECT_FALSE(credentials_in(docker, "quay.io", "c")->has_value());
    EXPECT_FALSE(credentials_in("{}", "quay.io", "c")->has_value());
    EXPECT_FALSE(credentials_in("nope", "quay.io", "c").ok());
    EXPECT_FALSE(credentials_in(R"({"auths":{"q.io":{"auth":"bm9jb2xvbg=="}}})", "q.io", "c").ok());  // "nocolon"
}

TEST(RegistryCredentials, CredHelpersThenCredsStoreThenAuthsAsDockerOrdersThem) {
    const std::string both = R"({"auths":{"a.io":{"auth":"eDp5"}},"credsStore":"desktop",
        "credHelpers":{"gcr.io":"gcloud","https://index.docker.io/v1/":"hub"}})";
    EXPECT_EQ(credential_source_in(both, "gcr.io", "f")->helper, "gcloud");
    EXPECT_EQ(credential_source_in(both, "docker.io", "f")->helper, "hub");
    EXPECT_EQ(credential_source_in(both, "a.io", "f")->helper, "desktop");  // credsStore holds them all
    auto plain = credential_source_in(R"({"auths":{"a.io":{"auth":"eDp5"}},"credHelpers":{"b.io":""}})", "a.io", "f");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->helper, "");
    EXPECT_EQ(plain->credentials.value().username, "x");
    EXPECT_EQ(credential_source_in(R"({"credHelpers":{"b.io":""}})", "b.io", "f")->helper, "");
    EXPECT_FALSE(credential_source_in("[]", "a.io", "f").ok());
    EXPECT_EQ(helper_server_url("docker.io"), "https://index.docker.io/v1/");
    EXPECT_EQ(helper_server_url("127.0.0.1:5000"), "127.0.0.1:5000");
}

TEST(RegistryCredentials, AHelpersAnswerIsCredentialsNoneOrOneLine) {
    auto got = credentials_from_helper(0, R"({"ServerURL":"r.io","Username":"u","Secret":"s"})", "pass", "r.io");
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->username, "u");
    EXPECT_EQ((*got)->password, "s");
    auto token = credentials_from_helper(0, R"({"Username":"<token>","Secret":"refresh"})", "gcloud", "r.io");
    ASSERT_TRUE(token && token->has_value());
    EXPECT_EQ((*token)->identity_token, "refresh");
    EXPECT_EQ((*token)->username, "");
    // docker-credential-helpers' "not found": no credentials, not an error.
    EXPECT_FALSE(credentials_from_helper(1, "credentials not found in native keychain\n", "pass", "r.io")->has_value());
    auto failed = credentials_from_helper(2, "gpg: decryption failed\nno secret key\n", "pass", "r.io");
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message,
              "the credential helper docker-credential-pass for r.io failed (exit status 2): gpg: decryption failed "
              "no secret key");
    auto garbage = credentials_from_helper(0, "hello", "pass", "r.io");
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.error().message.find('\n'), std::string::npos);
    EXPECT_FALSE(credentials_from_helper(0, R"({"Username":"u"})", "pass", "r.io"));
}

TEST(RegistryCredentials, LoginKeepsOtherEntriesAndLogoutRemoves) {
    auto text = with_credentials(R"({"auths":{"a.io":{"auth":"eDp5"}},"other":1})", "b.io:5000", {"u", "p", ""});
    ASSERT_TRUE(text);
    EXPECT_EQ(credentials_in(*text, "a.io", "f")->value().username, "x");
    EXPECT_EQ(credentials_in(*text, "b.io:5000", "f")->value().password, "p");
    EXPECT_NE(text->find("\"other\""), std::string::npos);
    auto again = with_credentials(*text, "https://b.io:5000/v1/", {"u2", "p2", ""});
    ASSERT_TRUE(again);
    EXPECT_EQ(credentials_in(*again, "b.io:5000", "f")->value().username, "u2");
    auto [gone, had] = without_credentials(*again, "b.io:5000").value();
    EXPECT_TRUE(had);
    EXPECT_FALSE(credentials_in(gone, "b.io:5000", "f")->has_value());
    EXPECT_FALSE(without_credentials(gone, "b.io:5000")->second);
}

TEST(RegistryCredentials, LookupOrder) {
    AuthEnv env{"/h", "", "/run/user/1", "", ""};
    EXPECT_EQ(auth_file_paths(env), (std::vector<std::string>{"/h/.config/lxbox/auth.json", "/run/user/1/containers/auth.json",
                                                               "/h/.config/containers/auth.json", "/h/.docker/config.json"}));
    env = AuthEnv{"/h", "/c", "", "/d", "/r.json"};
    EXPECT_EQ(auth_file_paths(env), (std::vector<std::string>{"/c/lxbox/auth.json", "/r.json", "/c/containers/auth.json",
                                                               "/d/config.json"}));
}

TEST(RegistryHelper, ErrorEventsCarryTheErrorWhole) {
    nlohmann::json event{{"event", "error"}, {"error", Error(ErrorKind::NotFound, "manifest v9 of x: 404 Not Found")}};
    Error e = error_from_event(nlohmann::json::parse(event.dump()));
    EXPECT_EQ(e.kind, ErrorKind::NotFound);
    EXPECT_EQ(e.message, "manifest v9 of x: 404 Not Found");
    EXPECT_EQ(error_from_event({{"event", "error"}}).kind, ErrorKind::Internal);
    EXPECT_EQ(error_from_event({{"event", "error"}, {"error", "text"}}).kind, ErrorKind::Internal);
}

}  // namespace
}  // namespace lxbox::registry
