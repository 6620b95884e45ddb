#include "registry-client/push.hpp"

#include <fcntl.h>

#include "host/registry/challenge.hpp"
#include "runtime/image/blobs.hpp"
#include "runtime/image/oci.hpp"

namespace lxbox::registry {

namespace {

// The upload URL a registry answers with is relative or absolute; the digest is added to it.
std::string upload_url(const RegistrySession& s, const std::string& location, const image::Digest& d) {
    std::string url = location;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        std::string root = s.url("");  // scheme://host/v2/
        url = root.substr(0, root.find('/', root.find("://") + 3)) + location;
    }
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "digest=" + d.str();
}

enum class Sent { Present, Mounted, Uploaded };

Result<Sent> upload_blob(RegistrySession& s, HttpClient& c, const image::BlobStore& store, const image::Digest& d,
                         const std::string& mount_from, Events& events) {
    HttpRequest head;
    head.method = "HEAD";
    head.url = s.url("blobs/" + d.str());
    auto exists = LXBOX_TRY(s.send(c, head));
    uint64_t size = LXBOX_TRY(store.size(d));
    if (exists.status == 200) {
        events.add_done(size);
        return Sent::Present;
    }
    HttpRequest start;
    start.method = "POST";
    start.url = s.url("blobs/uploads/");
    if (!mount_from.empty()) start.url += "?mount=" + d.str() + "&from=" + percent_encode(mount_from);
    auto opened = LXBOX_TRY(s.send(c, start));
    if (opened.status == 201 && !mount_from.empty()) {  // mounted; a 202 is an upload to make after all
        events.add_done(size);
        return Sent::Mounted;
    }
    if (opened.status != 202 || opened.header("location").empty())
        return Error(ErrorKind::Refused, s.describe_failure("upload of blob " + d.str(), opened));
    auto fd = LXBOX_TRY(store.open_blob(d));
    HttpRequest put;
    put.method = "PUT";
    put.url = upload_url(s, opened.header("location"), d);
    put.headers = {"Content-Type: application/octet-stream"};
    put.upload_fd = fd.get();
    put.upload_size = size;
    auto done = LXBOX_TRY(s.send(c, put));
    if (done.status != 201) return Error(ErrorKind::Refused, s.describe_failure("upload of blob " + d.str(), done));
    events.add_done(size);
    return Sent::Uploaded;
}

}  // namespace

Result<PushResult> push_image(const PushOptions& o, Events& events) {
    auto creds = LXBOX_TRY(find_credentials(o.ref.registry, AuthEnv::from_process()));
    RegistrySession session(o.ref, o.transport, creds, "pull,push",
                            o.mount_from.empty() ? std::vector<std::string>{} : std::vector<std::string>{o.mount_from});
    auto client = LXBOX_TRY(HttpClient::make(o.transport));
    auto store = LXBOX_TRY(image::BlobStore::open(o.store_root));
    const std::string body = LXBOX_TRY(store.read(o.manifest));
    auto kind = LXBOX_TRY(image::document_kind(body));
    if (kind != image::DocumentKind::Manifest)
        return Error(ErrorKind::Unsupported, "push: " + o.manifest.str() + " is an index, not an image manifest");
    auto manifest = LXBOX_TRY(image::parse_manifest(body));
    std::vector<image::Digest> blobs{manifest.config.digest};
    uint64_t total = manifest.config.size;
    for (const auto& l : manifest.layers) {
        blobs.push_back(l.digest);
        total += l.size;
    }
    events.set_total(total);
    PushResult result{o.manifest};
    for (const auto& d : blobs) {
        Sent sent = LXBOX_TRY_CTX(upload_blob(session, client, store, d, o.mount_from, events), "push " + o.ref.to_string());
        (sent == Sent::Uploaded ? result.uploaded : sent == Sent::Mounted ? result.mounted : result.present)++;
    }
    events.flush_progress();
    HttpRequest put;
    put.method = "PUT";
    put.url = session.url("manifests/" + o.ref.manifest_reference());
    put.headers = {"Content-Type: " + manifest.media_type};
    put.body = body;
    auto r = LXBOX_TRY(session.send(client, put));
    if (r.status != 201) return Error(ErrorKind::Refused, session.describe_failure("push of the manifest", r));
    return result;
}

Status check_login(const ImageReference& ref, const TransportOptions& transport, const Credentials& c) {
    RegistrySession session(ref, transport, c);
    auto client = LXBOX_TRY(HttpClient::make(transport));
    HttpRequest r;
    r.url = session.url("");
    auto response = LXBOX_TRY(session.send(client, r));
    if (response.status != 200)
        return Error(ErrorKind::Refused, "login to " + ref.registry + ": " + std::to_string(response.status) +
                                             (response.status == 401 ? " Unauthorized (wrong user name or password)" : ""));
    return {};
}

}  // namespace lxbox::registry
