#include "registry-client/pull.hpp"

#include <atomic>
#include <set>
#include <thread>

#include "runtime/image/blobs.hpp"

namespace lxbox::registry {

namespace {

constexpr size_t kMaxManifest = 4u << 20;

struct RawManifest {
    std::string body, media_type;
    image::Digest digest;
};

// GET /v2/<name>/manifests/<reference>, the body's digest checked against `expected`.
Result<RawManifest> get_manifest(RegistrySession& s, HttpClient& c, const std::string& reference,
                                 const std::string& expected) {
    HttpRequest r;
    r.url = s.url("manifests/" + reference);
    r.headers.push_back("Accept: " + std::string(image::media::kOciIndex) + ", " + image::media::kDockerList + ", " +
                        image::media::kOciManifest + ", " + image::media::kDockerManifest);
    auto response = LXBOX_TRY(s.send(c, r));
    if (response.status != 200)
        return Error(response.status == 404 ? ErrorKind::NotFound : ErrorKind::Refused,
                     s.describe_failure("manifest " + reference, response));
    if (response.body.size() > kMaxManifest)
        return Error(ErrorKind::Invalid, "the manifest of " + s.reference().to_string() + " is larger than 4 MiB");
    RawManifest m{std::move(response.body), response.header("content-type"), {}};
    m.digest = image::sha256_of(m.body);
    if (!expected.empty() && m.digest.str() != expected)
        return Error(ErrorKind::Invalid, "the manifest of " + s.reference().to_string() + " has digest " +
                                             m.digest.str() + ", not " + expected);
    return m;
}

class BlobFetcher {
public:
    BlobFetcher(RegistrySession& s, const image::BlobStore& store, Events& events, const std::atomic<bool>& cancel)
        : session_(s), store_(store), events_(events), cancel_(cancel) {}

    Result<bool> fetch(HttpClient& client, const image::Descriptor& d);  // true: fetched, false: was there

private:
    Status transfer(HttpClient& client, const image::Descriptor& d, image::BlobWriter& w);
    RegistrySession& session_;
    const image::BlobStore& store_;
    Events& events_;
    const std::atomic<bool>& cancel_;
};

Result<bool> BlobFetcher::fetch(HttpClient& client, const image::Descriptor& d) {
    const std::string what = "blob " + d.digest.str();
    auto lock = LXBOX_TRY_CTX(store_.lock(d.digest), what);  // a concurrent pull of it: wait, then find it
    if (store_.has(d.digest)) {
        events_.add_done(d.size);
        return false;
    }
    auto writer = LXBOX_TRY_CTX(store_.resume(d.digest, d.size), what);
    const uint64_t resumed = writer.offset();
    events_.add_done(resumed);
    if (resumed > 0) events_.emit({{"event", "resume"}, {"digest", d.digest.str()}, {"offset", resumed}});
    if (resumed < d.size) LXBOX_TRY(transfer(client, d, writer));
    if (writer.offset() != d.size)
        return Error(ErrorKind::Invalid, "truncated download of " + what + " of " + session_.reference().to_string() +
                                             ": " + std::to_string(writer.offset()) + " of " + std::to_string(d.size) +
                                             " bytes");
    LXBOX_TRY_CTX(writer.commit(), what + " of " + session_.reference().to_string());
    return true;
}

Status BlobFetcher::transfer(HttpClient& client, const image::Descriptor& d, image::BlobWriter& w) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        HttpRequest r;
        r.url = session_.url("blobs/" + d.digest.str());
        const uint64_t from = w.offset();
        if (from > 0) r.headers.push_back("Range: bytes=" + std::to_string(from) + "-");
        bool first = true;
        auto sink = [&](long status, const char* data, size_t n) -> Status {
            if (cancel_) return Error(ErrorKind::Internal, "cancelled");
            if (first && from > 0 && status == 200) {  // the server ignored the Range: from the start
                LXBOX_TRY(w.restart());
                events_.add_done(0);
            }
            first = false;
            if (w.offset() + n > d.size)
                return Error(ErrorKind::Invalid, "blob " + d.digest.str() + " is longer than its " +
                                                     std::to_string(d.size) + " bytes");
            LXBOX_TRY(w.write(data, n));
            events_.add_done(n);
            return {};
        };
        auto response = session_.send(client, r, sink);
        if (!response) {
            return std::move(response).error().context("blob " + d.digest.str() + " of " +
                                                       session_.reference().to_string());
        }
        if (response->status == 416 && from > 0) {  // the partial file is longer than the blob: start over
            LXBOX_TRY(w.restart());
            continue;
        }
        if (response->status != 200 && response->status != 206)
            return Error(response->status == 404 ? ErrorKind::NotFound : ErrorKind::Refused,
                         session_.describe_failure("blob " + d.digest.str(), *response));
        return {};
    }
    return Error(ErrorKind::Refused, "blob " + d.digest.str() + ": the registry refused every range");
}

}  // namespace

Result<FetchedManifest> fetch_manifest(RegistrySession& s, HttpClient& c, const image::Platform& platform) {
    const ImageReference& ref = s.reference();
    auto raw = LXBOX_TRY(get_manifest(s, c, ref.manifest_reference(), ref.digest));
    auto kind = LXBOX_TRY_CTX(image::document_kind(raw.body, raw.media_type), "the manifest of " + ref.to_string());
    if (kind == image::DocumentKind::Index) {
        auto index = LXBOX_TRY_CTX(image::parse_index(raw.body), "the index of " + ref.to_string());
        auto chosen = LXBOX_TRY_CTX(image::choose_manifest(index, platform), ref.to_string());
        raw = LXBOX_TRY(get_manifest(s, c, chosen.digest.str(), chosen.digest.str()));
        kind = LXBOX_TRY_CTX(image::document_kind(raw.body, raw.media_type), "the manifest of " + ref.to_string());
        if (kind != image::DocumentKind::Manifest)
            return Error(ErrorKind::Unsupported, "the index of " + ref.to_string() + " names another index");
    }
    auto manifest = LXBOX_TRY_CTX(image::parse_manifest(raw.body), "the manifest of " + ref.to_string());
    for (const auto& layer : manifest.layers)
        LXBOX_TRY_CTX(image::layer_compression(layer.media_type), "layer " + layer.digest.str() + " of " + ref.to_string());
    return FetchedManifest{std::move(raw.body), std::move(raw.media_type), raw.digest, std::move(manifest)};
}

Result<PullResult> pull_image(const PullOptions& o, Events& events) {
    auto creds = LXBOX_TRY(find_credentials(o.ref.registry, AuthEnv::from_process()));
    RegistrySession session(o.ref, o.transport, creds);
    auto client = LXBOX_TRY(HttpClient::make(o.transport));
    auto fetched = LXBOX_TRY(fetch_manifest(session, client, o.platform));
    // The manifest's text too: lxbox unpacks each layer as soon as its blob (and those beneath
    // it) is in, while the rest still downloads. The manifest blob itself is stored last: in
    // the store it means the pull is complete.
    events.emit({{"event", "manifest"},
                 {"digest", fetched.digest.str()},
                 {"layers", fetched.manifest.layers.size()},
                 {"text", fetched.body}});

    auto store = LXBOX_TRY(image::BlobStore::open(o.store_root));
    auto hold = LXBOX_TRY(store.hold_against_prune());  // from the first blob until lxbox registers
    std::vector<image::Descriptor> blobs{fetched.manifest.config};
    std::set<image::Digest> seen{fetched.manifest.config.digest};
    uint64_t total = fetched.manifest.config.size;
    for (const auto& l : fetched.manifest.layers)
        if (seen.insert(l.digest).second) {
            blobs.push_back(l);
            total += l.size;
        }
    events.set_total(total);

    std::atomic<size_t> next{0};
    std::atomic<bool> cancel{false};
    std::atomic<int> fetched_count{0};
    std::atomic<uint64_t> fetched_bytes{0};
    std::mutex error_mutex;
    std::optional<Error> first_error;
    BlobFetcher fetcher(session, store, events, cancel);
    auto worker = [&] {
        auto c = HttpClient::make(o.transport);
        for (size_t i; !cancel && (i = next++) < blobs.size();) {
            auto r = c ? fetcher.fetch(*c, blobs[i]) : Result<bool>(c.error());
            if (r) events.emit({{"event", "blob"}, {"digest", blobs[i].digest.str()}});
            if (r && *r) {
                ++fetched_count;
                fetched_bytes += blobs[i].size;
            }
            if (!r && !cancel.exchange(true)) {
                std::lock_guard lock(error_mutex);
                first_error = std::move(r).error();
            }
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < std::max(1, std::min<int>(o.jobs, static_cast<int>(blobs.size()))); ++t)
        threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    events.flush_progress();
    if (first_error) return std::move(*first_error);

    LXBOX_TRY_CTX(store.put(fetched.body, fetched.digest), "store the manifest of " + o.ref.to_string());
    return PullResult{fetched.digest, fetched_bytes, fetched_count, static_cast<int>(blobs.size()) - fetched_count};
}

}  // namespace lxbox::registry
