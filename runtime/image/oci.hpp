// The OCI image format's documents, parsed (pure): index (multi-platform), manifest, config.
// Docker's schema 2 manifest list and manifest are read as their OCI twins, which they match
// field for field; schema 1 and foreign (non-distributable) layers are refused as unsupported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/image/digest.hpp"

namespace lxbox::image {

namespace media {
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace media

struct Platform {
    std::string os = "linux";
    std::string architecture;  // OCI/Go names: amd64, arm64, arm, 386, riscv64, ppc64le, s390x
    std::string variant;       // v7, v8, ... ("" = any)
    std::string str() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }
};

struct Descriptor {
    std::string media_type;
    Digest digest;
    uint64_t size = 0;
    std::optional<Platform> platform;  // index entries
};

struct Index {
    std::vector<Descriptor> manifests;
};

struct Manifest {
    std::string media_type;  // kOciManifest or kDockerManifest
    Descriptor config;
    std::vector<Descriptor> layers;  // bottom first
};

// The part of an image's config that lxbox uses (docker's names in the comments).
struct ImageConfig {
    std::string architecture;  // OCI name (amd64, ...)
    std::string os;
    std::string variant;
    std::vector<std::string> env;         // config.Env: "KEY=value"
    std::vector<std::string> entrypoint;  // config.Entrypoint
    std::vector<std::string> cmd;         // config.Cmd
    std::string working_dir;              // config.WorkingDir
    std::string user;                     // config.User: "name", "uid", "uid:gid", "name:group"
    std::vector<Digest> diff_ids;         // rootfs.diff_ids: each layer's uncompressed digest
};

enum class DocumentKind { Index, Manifest };

// Pure: which document text is, from its mediaType (or its shape when mediaType is absent, as
// older OCI layouts write it). Invalid when it is not JSON; Unsupported for schema 1 and others.
Result<DocumentKind> document_kind(const std::string& text, const std::string& media_type_hint = "");
Result<Index> parse_index(const std::string& text);
Result<Manifest> parse_manifest(const std::string& text);
Result<ImageConfig> parse_config(const std::string& text);

// Pure: "os/arch[/variant]" → Platform (arch names as given: amd64, arm64, ...).
Result<Platform> parse_platform(const std::string& text);
// The platform this lxbox runs on (linux/amd64, linux/arm64/v8, ...).
Platform host_platform();
// Pure: OCI architecture name ↔ the ELF-derived name the store records (amd64 ↔ x86_64).
std::string arch_from_oci(const std::string& oci_arch);
std::string oci_from_arch(const std::string& arch);

// Pure: the index entry for `want` (variant matched when `want` names one; an arm64 entry
// without a variant matches v8). NotFound lists the platforms the index has.
Result<Descriptor> choose_manifest(const Index& index, const Platform& want);

// Pure: how a layer of that media type is compressed: "" (plain tar), "gzip", "zstd";
// Unsupported for foreign/non-distributable layers and anything else.
Result<std::string> layer_compression(const std::string& media_type);

}  // namespace lxbox::image
