// One HTTP connection's worth of libcurl (an easy handle, reused across requests so the TLS
// session and the connection are kept): a request in, the status, headers and body out, or
// the body streamed to a sink as it arrives (blobs). Only this file includes curl.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::registry {

struct TransportOptions {
    bool insecure = false;    // --insecure: plain HTTP when the registry does not speak TLS
    bool tls_verify = true;   // --tls-verify=false: skip the certificate check (asked only)
    std::string ca_file;      // --ca-file: trust this CA besides the system's
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;                  // sent when upload_fd < 0 and method is PUT/POST/PATCH
    int upload_fd = -1;                // a file's bytes from upload_offset, upload_size of them
    uint64_t upload_offset = 0, upload_size = 0;
};

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers;  // lowercase names; the last of a repeated one
    std::string body;                            // non-2xx bodies, and 2xx ones with no sink
    uint64_t streamed = 0;                       // bytes given to the sink
    std::string header(const std::string& lower_name) const;
};

// Receives a 2xx body as it arrives (with the status: 200 or 206); an error aborts the
// transfer and is returned.
using BodySink = std::function<Status(long status, const char* data, size_t size)>;

class HttpClient {
public:
    static Result<HttpClient> make(const TransportOptions& options);
    HttpClient(HttpClient&&) noexcept;
    HttpClient& operator=(HttpClient&&) noexcept;
    ~HttpClient();

    // A transport failure is ErrorKind::System naming the URL and curl's reason; a short body
    // (the connection closed before Content-Length) is Invalid: "truncated download".
    Result<HttpResponse> perform(const HttpRequest& request, const BodySink& sink = nullptr);
    // Whether the last failure was TLS failing to start (a plain-HTTP registry).
    bool last_failure_was_tls() const { return last_tls_failure_; }

private:
    struct Impl;
    explicit HttpClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    bool last_tls_failure_ = false;
};

// curl_global_init, once per process, before any thread starts.
Status http_global_init();

}  // namespace lxbox::registry
