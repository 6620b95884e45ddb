#include "registry-client/http.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <curl/curl.h>

namespace lxbox::registry {

namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
    size_t start = s.find_first_not_of(' ');
    return start == std::string::npos ? "" : s.substr(start);
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
}

struct HttpClient::Impl {
    CURL* easy = nullptr;
    TransportOptions options;
    // Per-transfer state the callbacks see.
    HttpResponse* response = nullptr;
    const BodySink* sink = nullptr;
    const HttpRequest* request = nullptr;
    uint64_t uploaded = 0;
    Error sink_error;
    bool sink_failed = false;

    ~Impl() {
        if (easy) curl_easy_cleanup(easy);
    }

    static size_t on_header(char* data, size_t size, size_t n, void* self_ptr) {
        auto* self = static_cast<Impl*>(self_ptr);
        std::string line(data, size * n);
        if (line.rfind("HTTP/", 0) == 0) {
            self->response->headers.clear();  // a redirect's or a 100 Continue's headers
        } else if (size_t colon = line.find(':'); colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            self->response->headers[name] = trim(line.substr(colon + 1));
        }
        return size * n;
    }

    static size_t on_body(char* data, size_t size, size_t n, void* self_ptr) {
        auto* self = static_cast<Impl*>(self_ptr);
        long status = 0;
        curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &status);
        if (self->sink && *self->sink && status >= 200 && status < 300) {
            if (auto st = (*self->sink)(status, data, size * n); !st) {
                self->sink_error = std::move(st).error();
                self->sink_failed = true;
                return 0;  // aborts the transfer
            }
            self->response->streamed += size * n;
        } else if (self->response->body.size() < kMaxErrorBody || (status >= 200 && status < 300)) {
            self->response->body.append(data, size * n);
        }
        return size * n;
    }

    static size_t on_read(char* buffer, size_t size, size_t n, void* self_ptr) {
        auto* self = static_cast<Impl*>(self_ptr);
        const HttpRequest& r = *self->request;
        uint64_t left = r.upload_size - self->uploaded;
        size_t want = static_cast<size_t>(std::min<uint64_t>(left, size * n));
        if (want == 0) return 0;
        ssize_t got = ::pread(r.upload_fd, buffer, want, static_cast<off_t>(r.upload_offset + self->uploaded));
        if (got <= 0) return CURL_READFUNC_ABORT;
        self->uploaded += static_cast<uint64_t>(got);
        return static_cast<size_t>(got);
    }

    // curl rewinds a body it must send again (a redirect, an auth retry).
    static int on_seek(void* self_ptr, curl_off_t offset, int origin) {
        auto* self = static_cast<Impl*>(self_ptr);
        if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
        self->uploaded = static_cast<uint64_t>(offset);
        return CURL_SEEKFUNC_OK;
    }
};

Status http_global_init() {
    if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
        return Error(ErrorKind::System, std::string("libcurl: ") + curl_easy_strerror(rc));
    return {};
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Result<HttpClient> HttpClient::make(const TransportOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->easy = curl_easy_init();
    if (!impl->easy) return Error(ErrorKind::System, "libcurl: cannot make a handle");
    return HttpClient(std::move(impl));
}

Result<HttpResponse> HttpClient::perform(const HttpRequest& req, const BodySink& sink) {
    CURL* c = impl_->easy;
    curl_easy_reset(c);
    HttpResponse response;
    impl_->response = &response;
    impl_->sink = &sink;
    impl_->request = &req;
    impl_->uploaded = 0;
    impl_->sink_failed = false;
    last_tls_failure_ = false;

    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, impl_->options.insecure ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);  // blobs are often served from a CDN
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer (under 1 KiB/s for a minute) fails instead of hanging a pull.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lxbox/" LXBOX_VERSION);
    // Larger reads than curl's 16 KiB: a layer goes to the blob store in fewer write(2)s.
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, impl_.get());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, impl_.get());
    if (!impl_->options.tls_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!impl_->options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, impl_->options.ca_file.c_str());

    curl_slist* headers = nullptr;
    for (const std::string& h : req.headers) headers = curl_slist_append(headers, h.c_str());
    if (req.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
        if (req.upload_fd >= 0) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, &Impl::on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, impl_.get());
            curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &Impl::on_seek);
            curl_easy_setopt(c, CURLOPT_SEEKDATA, impl_.get());
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
            headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);

    if (impl_->sink_failed) return std::move(impl_->sink_error);
    if (rc == CURLE_PARTIAL_FILE)
        return Error(ErrorKind::Invalid, "truncated download from " + req.url + " (the connection closed after " +
                                             std::to_string(response.streamed + response.body.size()) + " bytes)");
    if (rc != CURLE_OK) {
        last_tls_failure_ = rc == CURLE_SSL_CONNECT_ERROR;
        const char* hint = rc == CURLE_SSL_CONNECT_ERROR        ? " (a plain-HTTP registry? --insecure allows it)"
                           : rc == CURLE_PEER_FAILED_VERIFICATION ? " (the registry's certificate is not trusted: --ca-file FILE)"
                                                                  : "";
        return Error(ErrorKind::System, req.method + " " + req.url + ": " + curl_easy_strerror(rc) + hint);
    }
    return response;
}

}  // namespace lxbox::registry
