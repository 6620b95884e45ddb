// OCI layouts and docker save trees → blobs in the store → register_image().
#include "runtime/image/import.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/archive/archive.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::image {

namespace {

constexpr size_t kMaxDocument = 4u << 20;  // an index, a manifest, a config, manifest.json

// A file of the tree, never through a symlink and never outside it: an archive's entries are
// the user's input, and "blobs/sha256/<hex>" could be a link to a host file.
Result<UniqueFd> open_in(const std::string& dir, const std::string& rel) {
    LXBOX_TRY(archive::check_entry_path(rel));
    auto root = LXBOX_TRY(open_fd(dir, O_PATH | O_DIRECTORY));
    int fd = sys::openat2(root.get(), rel.c_str(), O_RDONLY | O_CLOEXEC,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) {
        if (errno == ENOENT) return Error(ErrorKind::Invalid, "'" + rel + "' is missing");
        if (errno == ELOOP || errno == EXDEV) return Error(ErrorKind::Refused, "'" + rel + "' is a symlink: refused");
        return Error::last("open " + rel);
    }
    UniqueFd file(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return Error::last("stat " + rel);
    if (!S_ISREG(st.st_mode)) return Error(ErrorKind::Invalid, "'" + rel + "' is not a regular file");
    return file;
}

Result<std::string> read_in(const std::string& dir, const std::string& rel) {
    auto fd = LXBOX_TRY(open_in(dir, rel));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Error::last("stat " + rel);
    if (static_cast<uint64_t>(st.st_size) > kMaxDocument)
        return Error(ErrorKind::Invalid, "'" + rel + "' is larger than an image document may be");
    return read_all(fd.get());
}

// Brings the tree's file rel into the blob store (verified against expected/size when given).
Result<Digest> bring(const BlobStore& blobs, const std::string& dir, const std::string& rel,
                     const std::optional<Digest>& expected, std::optional<uint64_t> size, bool move) {
    if (expected && blobs.has(*expected)) return *expected;
    auto fd = LXBOX_TRY(open_in(dir, rel));
    if (move) return blobs.adopt(fd.get(), dir + "/" + rel, expected, size);
    return blobs.put_from_fd(fd.get(), expected, size);
}

Result<Digest> bring(const BlobStore& blobs, const std::string& dir, const Descriptor& d, bool move) {
    return LXBOX_TRY_CTX(bring(blobs, dir, "blobs/sha256/" + d.digest.hex, d.digest, d.size, move),
                         "blob " + d.digest.str());
}

// One image of an index: by platform when the entries name one, else the only entry.
Result<Descriptor> pick(const Index& index, const ImageImportOptions& opts) {
    if (index.manifests.empty()) return Error(ErrorKind::Invalid, "the index lists no image");
    bool any_platform = false;
    for (const auto& d : index.manifests) any_platform |= d.platform.has_value();
    if (any_platform || opts.platform) return choose_manifest(index, opts.platform.value_or(host_platform()));
    if (index.manifests.size() > 1)
        return Error(ErrorKind::Invalid, "the index lists " + std::to_string(index.manifests.size()) +
                                             " images and no platforms to choose by");
    return index.manifests[0];
}

RegisterOptions register_options(const ImageImportOptions& opts) {
    RegisterOptions r;
    r.replace = opts.replace;
    r.source = opts.source;
    r.on_layer = opts.on_layer;
    r.progress = opts.progress;
    return r;
}

bool exists_in(const std::string& dir, const char* name) {
    struct stat st;
    return ::lstat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The media type of a docker save layer file, from its first bytes (docker writes plain tars;
// other tools gzip them).
Result<std::string> sniff_layer_type(int fd) {
    unsigned char magic[4] = {};
    ssize_t n = ::pread(fd, magic, sizeof magic, 0);
    if (n < 0) return Error::last("read a layer");
    if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return std::string(media::kDockerLayerGzip);
    if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        return std::string(media::kOciLayerZstd);
    return std::string("application/vnd.docker.image.rootfs.diff.tar");
}

}  // namespace

TreeKind classify_tree(const std::string& dir) {
    if (exists_in(dir, "oci-layout") && exists_in(dir, "index.json")) return TreeKind::OciLayout;
    if (exists_in(dir, "manifest.json")) {
        auto text = read_in(dir, "manifest.json");
        try {
            auto j = text ? nlohmann::json::parse(*text) : nlohmann::json();
            if (j.is_array() && !j.empty() && j[0].is_object() && j[0].contains("Config") && j[0].contains("Layers"))
                return TreeKind::DockerSave;
        } catch (const nlohmann::json::exception&) {
        }
    }
    return TreeKind::Rootfs;
}

Result<store::ImageRecord> import_oci_layout(store::Store& store, const std::string& name, const std::string& dir,
                                             const ImageImportOptions& opts) {
    auto blobs = LXBOX_TRY(BlobStore::open(store.root()));
    auto hold = LXBOX_TRY(blobs.hold_against_prune());
    const std::string top = LXBOX_TRY_CTX(read_in(dir, "index.json"), "the OCI layout");
    Descriptor d = LXBOX_TRY(pick(LXBOX_TRY_CTX(parse_index(top), "index.json"), opts));
    // A multi-platform image copied whole is an index inside the index: follow it (twice at most).
    for (int depth = 0;; ++depth) {
        LXBOX_TRY(bring(blobs, dir, d, opts.move_blobs));
        const std::string text = LXBOX_TRY(blobs.read(d.digest));
        if (LXBOX_TRY_CTX(document_kind(text, d.media_type), "blob " + d.digest.str()) == DocumentKind::Manifest) break;
        if (depth == 2) return Error(ErrorKind::Invalid, "the layout nests indexes too deep");
        d = LXBOX_TRY(pick(LXBOX_TRY_CTX(parse_index(text), "blob " + d.digest.str()), opts));
    }
    Manifest m = LXBOX_TRY_CTX(parse_manifest(LXBOX_TRY(blobs.read(d.digest))), "blob " + d.digest.str());
    LXBOX_TRY(bring(blobs, dir, m.config, opts.move_blobs));
    for (const auto& layer : m.layers) LXBOX_TRY(bring(blobs, dir, layer, opts.move_blobs));
    return register_image(store, name, d.digest, register_options(opts));
}

Result<store::ImageRecord> import_docker_save(store::Store& store, const std::string& name, const std::string& dir,
                                              const ImageImportOptions& opts) {
    auto blobs = LXBOX_TRY(BlobStore::open(store.root()));
    auto hold = LXBOX_TRY(blobs.hold_against_prune());
    nlohmann::json list;
    try {
        list = nlohmann::json::parse(LXBOX_TRY(read_in(dir, "manifest.json")));
    } catch (const nlohmann::json::exception&) {
        return Error(ErrorKind::Invalid, "manifest.json is not JSON");
    }
    if (!list.is_array() || list.size() != 1)
        return Error(ErrorKind::Invalid, "manifest.json must list exactly one image (it lists " +
                                             std::to_string(list.is_array() ? list.size() : 0) + ")");
    const auto& entry = list[0];
    if (!entry.value("Config", nlohmann::json()).is_string() || !entry.value("Layers", nlohmann::json()).is_array())
        return Error(ErrorKind::Invalid, "manifest.json's image has no Config or Layers");
    const std::string config_path = entry["Config"].get<std::string>();
    const std::string config_text = LXBOX_TRY(read_in(dir, config_path));
    LXBOX_TRY_CTX(parse_config(config_text), config_path);
    const Digest config = LXBOX_TRY(blobs.put(config_text));
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : entry["Layers"]) {
        if (!l.is_string()) return Error(ErrorKind::Invalid, "manifest.json names a layer that is not a path");
        const std::string rel = l.get<std::string>();
        auto fd = LXBOX_TRY_CTX(open_in(dir, rel), "layer " + rel);
        const std::string type = LXBOX_TRY(sniff_layer_type(fd.get()));
        struct stat st;
        if (::fstat(fd.get(), &st) != 0) return Error::last("stat " + rel);
        const Digest digest = opts.move_blobs ? LXBOX_TRY(blobs.adopt(fd.get(), dir + "/" + rel))
                                              : LXBOX_TRY(blobs.put_from_fd(fd.get()));
        layers.push_back({{"mediaType", type}, {"digest", digest.str()}, {"size", st.st_size}});
    }
    // docker save has no manifest blob: write the registry's form of it (schema 2).
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", media::kDockerManifest},
        {"config", {{"mediaType", media::kDockerConfig}, {"digest", config.str()}, {"size", config_text.size()}}},
        {"layers", layers}};
    const Digest manifest_digest = LXBOX_TRY(blobs.put(manifest.dump()));
    return register_image(store, name, manifest_digest, register_options(opts));
}

Result<std::optional<store::ImageRecord>> import_image_tree(store::Store& store, const std::string& name,
                                                            const std::string& dir, const ImageImportOptions& opts) {
    switch (classify_tree(dir)) {
        case TreeKind::OciLayout: return std::optional(LXBOX_TRY(import_oci_layout(store, name, dir, opts)));
        case TreeKind::DockerSave: return std::optional(LXBOX_TRY(import_docker_save(store, name, dir, opts)));
        case TreeKind::Rootfs: break;
    }
    return std::optional<store::ImageRecord>{};
}

}  // namespace lxbox::image
