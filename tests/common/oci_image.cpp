#include "tests/common/oci_image.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runtime/image/digest.hpp"
#include "runtime/image/oci.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

std::string write_blob(const std::string& layout_dir, const std::string& data) {
    ::mkdir(layout_dir.c_str(), 0755);
    ::mkdir((layout_dir + "/blobs").c_str(), 0755);
    ::mkdir((layout_dir + "/blobs/sha256").c_str(), 0755);
    auto d = image::sha256_of(data);
    std::ofstream(layout_dir + "/blobs/sha256/" + d.hex, std::ios::binary) << data;
    return d.str();
}

BuiltImage write_oci_blobs(const std::string& layout_dir, const OciImage& image) {
    BuiltImage out;
    nlohmann::json layers = nlohmann::json::array();
    const std::string scratch = layout_dir + ".layer.tar";
    for (const auto& layer : image.layers) {
        if (layer.tar_file.empty()) write_tarball(scratch, layer.entries, TarFilter::None);
        const std::string tar = slurp(layer.tar_file.empty() ? scratch : layer.tar_file);
        if (!layer.tar_file.empty()) std::ofstream(scratch, std::ios::binary) << tar;
        out.diff_ids.push_back(image::sha256_of(tar).str());
        std::string blob = tar;
        std::string media = image::media::kOciLayer;
        if (layer.filter != TarFilter::None) {
            const bool gz = layer.filter == TarFilter::Gzip;
            auto r = run({"sh", "-c", std::string(gz ? "gzip -n -c " : "zstd -q -c ") + scratch});
            if (r.exit_code != 0) throw std::runtime_error("compress a layer: " + r.err);
            blob = r.out;
            media = gz ? image::media::kOciLayerGzip : image::media::kOciLayerZstd;
        }
        out.layer_blobs.push_back(write_blob(layout_dir, blob));
        layers.push_back({{"mediaType", media}, {"digest", out.layer_blobs.back()}, {"size", blob.size()}});
    }
    ::unlink(scratch.c_str());
    nlohmann::json config = {{"architecture", image.architecture},
                             {"os", "linux"},
                             {"config", image.config},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", out.diff_ids}}}};
    const std::string config_text = config.dump();
    out.config = write_blob(layout_dir, config_text);
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", image::media::kOciManifest},
        {"config", {{"mediaType", image::media::kOciConfig}, {"digest", out.config}, {"size", config_text.size()}}},
        {"layers", layers}};
    out.manifest_text = manifest.dump();
    out.manifest = write_blob(layout_dir, out.manifest_text);
    return out;
}

namespace {

// The layout's oci-layout and index.json, whose one entry names (as ref) the blob of that digest.
void write_layout_index(const std::string& layout_dir, const char* media_type, const std::string& digest,
                        size_t size, const std::string& ref) {
    std::ofstream(layout_dir + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    nlohmann::json index = {{"schemaVersion", 2},
                            {"mediaType", image::media::kOciIndex},
                            {"manifests",
                             {{{"mediaType", media_type},
                               {"digest", digest},
                               {"size", size},
                               {"annotations", {{"org.opencontainers.image.ref.name", ref}}}}}}};
    std::ofstream(layout_dir + "/index.json") << index.dump();
}

}  // namespace

BuiltImage write_oci_layout(const std::string& layout_dir, const OciImage& image, const std::string& ref) {
    BuiltImage out = write_oci_blobs(layout_dir, image);
    write_layout_index(layout_dir, image::media::kOciManifest, out.manifest, out.manifest_text.size(), ref);
    return out;
}

std::vector<BuiltImage> write_multi_platform_layout(const std::string& layout_dir, const std::vector<OciImage>& images,
                                                    const std::string& ref) {
    std::vector<BuiltImage> out;
    nlohmann::json manifests = nlohmann::json::array();
    for (const auto& img : images) {
        out.push_back(write_oci_blobs(layout_dir, img));
        manifests.push_back({{"mediaType", image::media::kOciManifest},
                             {"digest", out.back().manifest},
                             {"size", out.back().manifest_text.size()},
                             {"platform", {{"os", "linux"}, {"architecture", img.architecture}}}});
    }
    const std::string index =
        nlohmann::json{{"schemaVersion", 2}, {"mediaType", image::media::kOciIndex}, {"manifests", manifests}}.dump();
    write_layout_index(layout_dir, image::media::kOciIndex, write_blob(layout_dir, index), index.size(), ref);
    return out;
}

}  // namespace lxbox::test
