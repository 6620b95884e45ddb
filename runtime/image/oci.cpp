// Parsing of OCI/docker image documents; every function here is pure.
#include "runtime/image/oci.hpp"

#include <nlohmann/json.hpp>

namespace lxbox::image {

namespace {

using nlohmann::json;

Result<json> parse_json(const std::string& text, const std::string& what) {
    try {
        json j = json::parse(text);
        if (!j.is_object()) return Error(ErrorKind::Invalid, what + " is not a JSON object");
        return j;
    } catch (const json::exception&) {
        return Error(ErrorKind::Invalid, what + " is not JSON");
    }
}

std::vector<std::string> string_list(const json& j, const char* key) {
    std::vector<std::string> out;
    if (auto it = j.find(key); it != j.end() && it->is_array())
        for (const auto& v : *it)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

std::string string_of(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Descriptor> descriptor_of(const json& j, const std::string& where) {
    if (!j.is_object()) return Error(ErrorKind::Invalid, where + " is not an object");
    Descriptor d;
    d.media_type = string_of(j, "mediaType");
    d.digest = LXBOX_TRY_CTX(parse_digest(string_of(j, "digest")), where);
    auto size = j.find("size");
    if (size == j.end() || !size->is_number_unsigned())
        return Error(ErrorKind::Invalid, where + " has no size");
    d.size = size->get<uint64_t>();
    if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
        Platform plat;
        plat.os = string_of(*p, "os");
        plat.architecture = string_of(*p, "architecture");
        plat.variant = string_of(*p, "variant");
        d.platform = plat;
    }
    return d;
}

bool is_one_of(const std::string& s, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (s == n) return true;
    return false;
}

}  // namespace

Result<DocumentKind> document_kind(const std::string& text, const std::string& media_type_hint) {
    json j = LXBOX_TRY(parse_json(text, "the manifest"));
    std::string mt = string_of(j, "mediaType");
    if (mt.empty()) mt = media_type_hint;
    if (is_one_of(mt, {media::kOciIndex, media::kDockerList})) return DocumentKind::Index;
    if (is_one_of(mt, {media::kOciManifest, media::kDockerManifest})) return DocumentKind::Manifest;
    if (!mt.empty()) return Error(ErrorKind::Unsupported, "manifest media type '" + mt + "' is not supported");
    if (j.contains("manifests")) return DocumentKind::Index;
    if (j.contains("config") && j.contains("layers")) return DocumentKind::Manifest;
    if (j.value("schemaVersion", 0) == 1)
        return Error(ErrorKind::Unsupported, "docker schema 1 manifests are not supported");
    return Error(ErrorKind::Invalid, "the document is neither an image index nor a manifest");
}

Result<Index> parse_index(const std::string& text) {
    json j = LXBOX_TRY(parse_json(text, "the image index"));
    auto it = j.find("manifests");
    if (it == j.end() || !it->is_array()) return Error(ErrorKind::Invalid, "the image index has no manifests");
    Index index;
    for (size_t i = 0; i < it->size(); ++i)
        index.manifests.push_back(LXBOX_TRY(descriptor_of((*it)[i], "index entry " + std::to_string(i))));
    return index;
}

Result<Manifest> parse_manifest(const std::string& text) {
    json j = LXBOX_TRY(parse_json(text, "the manifest"));
    Manifest m;
    m.media_type = string_of(j, "mediaType");
    if (m.media_type.empty()) m.media_type = media::kOciManifest;
    if (!is_one_of(m.media_type, {media::kOciManifest, media::kDockerManifest}))
        return Error(ErrorKind::Unsupported, "manifest media type '" + m.media_type + "' is not supported");
    if (j.value("schemaVersion", 0) != 2)
        return Error(ErrorKind::Unsupported, "manifest schemaVersion " + j.value("schemaVersion", json(0)).dump() +
                                                 " is not supported (only 2)");
    auto config = j.find("config");
    if (config == j.end()) return Error(ErrorKind::Invalid, "the manifest has no config");
    m.config = LXBOX_TRY(descriptor_of(*config, "the manifest's config"));
    if (!m.config.media_type.empty() && !is_one_of(m.config.media_type, {media::kOciConfig, media::kDockerConfig}))
        return Error(ErrorKind::Unsupported, "config media type '" + m.config.media_type + "' is not an image config");
    auto layers = j.find("layers");
    if (layers == j.end() || !layers->is_array()) return Error(ErrorKind::Invalid, "the manifest has no layers");
    for (size_t i = 0; i < layers->size(); ++i) {
        Descriptor d = LXBOX_TRY(descriptor_of((*layers)[i], "layer " + std::to_string(i)));
        LXBOX_TRY_CTX(layer_compression(d.media_type), "layer " + std::to_string(i));
        m.layers.push_back(std::move(d));
    }
    return m;
}

Result<ImageConfig> parse_config(const std::string& text) {
    json j = LXBOX_TRY(parse_json(text, "the image config"));
    ImageConfig c;
    c.architecture = string_of(j, "architecture");
    c.os = string_of(j, "os");
    c.variant = string_of(j, "variant");
    if (auto cfg = j.find("config"); cfg != j.end() && cfg->is_object()) {
        c.env = string_list(*cfg, "Env");
        c.entrypoint = string_list(*cfg, "Entrypoint");
        c.cmd = string_list(*cfg, "Cmd");
        c.working_dir = string_of(*cfg, "WorkingDir");
        c.user = string_of(*cfg, "User");
    }
    auto rootfs = j.find("rootfs");
    if (rootfs == j.end() || !rootfs->is_object()) return Error(ErrorKind::Invalid, "the image config has no rootfs");
    for (const auto& id : string_list(*rootfs, "diff_ids"))
        c.diff_ids.push_back(LXBOX_TRY_CTX(parse_digest(id), "the image config's diff_ids"));
    return c;
}

Result<Platform> parse_platform(const std::string& text) {
    Platform p;
    auto first = text.find('/');
    if (first == std::string::npos || first == 0)
        return Error(ErrorKind::Invalid, "platform '" + text + "' is not os/arch[/variant]");
    p.os = text.substr(0, first);
    std::string rest = text.substr(first + 1);
    auto second = rest.find('/');
    p.architecture = rest.substr(0, second);
    if (second != std::string::npos) p.variant = rest.substr(second + 1);
    if (p.architecture.empty() || p.variant.find('/') != std::string::npos ||
        (second != std::string::npos && p.variant.empty()))
        return Error(ErrorKind::Invalid, "platform '" + text + "' is not os/arch[/variant]");
    return p;
}

std::string arch_from_oci(const std::string& a) {
    if (a == "amd64") return "x86_64";
    if (a == "arm64") return "aarch64";
    if (a == "386") return "i386";
    return a;  // arm, riscv64, ppc64le, s390x are spelled alike
}

std::string oci_from_arch(const std::string& a) {
    if (a == "x86_64") return "amd64";
    if (a == "aarch64") return "arm64";
    if (a == "i386") return "386";
    return a;
}

Platform host_platform() {
#if defined(__x86_64__)
    return Platform{"linux", "amd64", ""};
#elif defined(__aarch64__)
    return Platform{"linux", "arm64", "v8"};
#else
    return Platform{"linux", "unknown", ""};
#endif
}

Result<Descriptor> choose_manifest(const Index& index, const Platform& want) {
    auto variant_of = [](const Platform& p) {
        return p.variant.empty() && p.architecture == "arm64" ? std::string("v8") : p.variant;
    };
    std::string have;
    for (const auto& d : index.manifests) {
        if (!d.platform) continue;
        const Platform& p = *d.platform;
        if (p.architecture == "unknown") continue;  // buildkit's attestation manifests
        have += (have.empty() ? "" : ", ") + p.str();
        if (p.os != want.os || p.architecture != want.architecture) continue;
        if (!want.variant.empty() && variant_of(p) != variant_of(want)) continue;
        return d;
    }
    // An index of one manifest without a platform (a plain `oci:` layout) is that image.
    if (index.manifests.size() == 1 && !index.manifests[0].platform) return index.manifests[0];
    return Error(ErrorKind::NotFound, "no image for " + want.str() + " in the index (it has: " +
                                          (have.empty() ? "none" : have) + ")");
}

Result<std::string> layer_compression(const std::string& mt) {
    if (is_one_of(mt, {media::kOciLayer, "application/vnd.docker.image.rootfs.diff.tar"})) return std::string();
    if (is_one_of(mt, {media::kOciLayerGzip, media::kDockerLayerGzip})) return std::string("gzip");
    if (mt == media::kOciLayerZstd) return std::string("zstd");
    if (mt.find("foreign") != std::string::npos || mt.find("nondistributable") != std::string::npos)
        return Error(ErrorKind::Unsupported, "foreign layer media type '" + mt + "' is not supported");
    return Error(ErrorKind::Unsupported, "layer media type '" + mt + "' is not supported");
}

}  // namespace lxbox::image
