// The OCI/docker documents, parsed: index, manifest, config, platforms, media types.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/image/oci.hpp"

namespace lxbox::image {
namespace {

std::string digest_of(const std::string& s) { return sha256_of(s).str(); }

std::string manifest_text(const std::string& layer_type = media::kOciLayerGzip) {
    nlohmann::json m = {
        {"schemaVersion", 2},
        {"mediaType", media::kOciManifest},
        {"config", {{"mediaType", media::kOciConfig}, {"digest", digest_of("c")}, {"size", 1}}},
        {"layers", {{{"mediaType", layer_type}, {"digest", digest_of("l")}, {"size", 7}}}}};
    return m.dump();
}

TEST(ImageOci, ParsesAManifest) {
    auto m = parse_manifest(manifest_text()).value();
    EXPECT_EQ(m.config.digest.str(), digest_of("c"));
    ASSERT_EQ(m.layers.size(), 1u);
    EXPECT_EQ(m.layers[0].size, 7u);
    EXPECT_EQ(layer_compression(m.layers[0].media_type).value(), "gzip");
}

TEST(ImageOci, RefusesNonJsonAndUnsupportedTypes) {
    EXPECT_EQ(parse_manifest("not json {").error().message, "the manifest is not JSON");
    EXPECT_EQ(document_kind("<html>").error().kind, ErrorKind::Invalid);
    auto foreign = parse_manifest(manifest_text("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"));
    EXPECT_EQ(foreign.error().kind, ErrorKind::Unsupported);
    EXPECT_EQ(document_kind(R"({"mediaType":"application/vnd.example+json"})").error().kind, ErrorKind::Unsupported);
    EXPECT_EQ(document_kind(R"({"schemaVersion":1,"fsLayers":[]})").error().kind, ErrorKind::Unsupported);
    EXPECT_EQ(layer_compression("application/x-bogus").error().kind, ErrorKind::Unsupported);
}

TEST(ImageOci, TellsIndexFromManifestWithoutMediaType) {
    EXPECT_EQ(document_kind(R"({"schemaVersion":2,"manifests":[]})").value(), DocumentKind::Index);
    EXPECT_EQ(document_kind(manifest_text()).value(), DocumentKind::Manifest);
}

TEST(ImageOci, ParsesConfigDefaultsAndDiffIds) {
    nlohmann::json c = {{"architecture", "amd64"},
                        {"os", "linux"},
                        {"config",
                         {{"Env", {"PATH=/usr/bin", "A=b"}},
                          {"Entrypoint", {"/bin/sh", "-c"}},
                          {"Cmd", {"echo hi"}},
                          {"WorkingDir", "/srv"},
                          {"User", "1000:1000"}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", {digest_of("a"), digest_of("b")}}}}};
    auto cfg = parse_config(c.dump()).value();
    EXPECT_EQ(cfg.env, (std::vector<std::string>{"PATH=/usr/bin", "A=b"}));
    EXPECT_EQ(cfg.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
    EXPECT_EQ(cfg.cmd, (std::vector<std::string>{"echo hi"}));
    EXPECT_EQ(cfg.working_dir, "/srv");
    EXPECT_EQ(cfg.user, "1000:1000");
    ASSERT_EQ(cfg.diff_ids.size(), 2u);
    EXPECT_EQ(cfg.diff_ids[1].str(), digest_of("b"));
    EXPECT_FALSE(parse_config(R"({"architecture":"amd64"})").ok());
}

TEST(ImageOci, ChoosesThePlatform) {
    nlohmann::json idx = {{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", media::kOciManifest}, {"digest", digest_of("amd")}, {"size", 1},
                             {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
                            {{"mediaType", media::kOciManifest}, {"digest", digest_of("arm7")}, {"size", 1},
                             {"platform", {{"os", "linux"}, {"architecture", "arm"}, {"variant", "v7"}}}},
                            {{"mediaType", media::kOciManifest}, {"digest", digest_of("arm64")}, {"size", 1},
                             {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}}}}};
    auto index = parse_index(idx.dump()).value();
    EXPECT_EQ(choose_manifest(index, parse_platform("linux/amd64").value()).value().digest.str(), digest_of("amd"));
    EXPECT_EQ(choose_manifest(index, parse_platform("linux/arm/v7").value()).value().digest.str(), digest_of("arm7"));
    EXPECT_EQ(choose_manifest(index, parse_platform("linux/arm64/v8").value()).value().digest.str(),
              digest_of("arm64"));
    auto none = choose_manifest(index, parse_platform("linux/s390x").value());
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("linux/amd64, linux/arm/v7, linux/arm64"), std::string::npos)
        << none.error().message;
}

TEST(ImageOci, ParsesPlatformsAndMapsArchNames) {
    auto p = parse_platform("linux/arm/v7").value();
    EXPECT_EQ(p.architecture, "arm");
    EXPECT_EQ(p.variant, "v7");
    for (const char* bad : {"", "linux", "/amd64", "linux//", "linux/arm/v7/x", "linux/arm/"})
        EXPECT_FALSE(parse_platform(bad).ok()) << bad;
    EXPECT_EQ(arch_from_oci("amd64"), "x86_64");
    EXPECT_EQ(oci_from_arch("aarch64"), "arm64");
    EXPECT_EQ(oci_from_arch(arch_from_oci("riscv64")), "riscv64");
}

}  // namespace
}  // namespace lxbox::image
