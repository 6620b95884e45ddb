// Builds OCI images inside a test: layers written with libarchive (tarball.hpp), compressed by
// gzip or zstd as a registry would serve them, laid out as an OCI image layout directory.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/common/tarball.hpp"

namespace lxbox::test {

struct OciLayer {
    std::vector<TarEntry> entries;
    TarFilter filter = TarFilter::Gzip;  // None, Gzip or Zstd
    std::string tar_file;  // instead of entries: this uncompressed tar (the busybox rootfs)
};

struct OciImage {
    std::vector<OciLayer> layers;
    nlohmann::json config = nlohmann::json::object();  // the config's "config" object (Env, Cmd, ...)
    std::string architecture = "amd64";
};

struct BuiltImage {
    std::string manifest;  // "sha256:..." of the manifest blob
    std::string config;
    std::vector<std::string> layer_blobs;
    std::vector<std::string> diff_ids;
    std::string manifest_text;
};

// Writes the image's blobs into layout_dir/blobs/sha256 (creating the layout's folders) and
// returns their digests; no index.json (write_oci_layout adds it).
BuiltImage write_oci_blobs(const std::string& layout_dir, const OciImage& image);

// A complete OCI image layout (oci-layout, index.json naming the manifest with a ref name).
BuiltImage write_oci_layout(const std::string& layout_dir, const OciImage& image, const std::string& ref = "latest");

// A layout whose ref names an index of the images, each for linux/<its architecture>, as a
// multi-platform image is pushed; returns what each image is made of, in order.
std::vector<BuiltImage> write_multi_platform_layout(const std::string& layout_dir, const std::vector<OciImage>& images,
                                                    const std::string& ref = "latest");

// Writes a blob file into layout_dir/blobs/sha256; returns "sha256:<hex>".
std::string write_blob(const std::string& layout_dir, const std::string& data);

}  // namespace lxbox::test
