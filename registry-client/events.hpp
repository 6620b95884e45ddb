// What lxbox-registry tells lxbox, one JSON object a line on stdout (lxbox reads them in
// host/registry/helper.cpp): {"event":"progress","done":N,"total":N}, {"event":"manifest",
// "digest":...,"layers":N,"text":...} before the blobs, {"event":"blob","digest":...} when one
// is in the blob store (fetched, or there already), {"event":"resume",...},
// {"event":"done",...} last on success, {"event":"error","message":"..."} last on failure.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include <nlohmann/json.hpp>

namespace lxbox::registry {

class Events {
public:
    explicit Events(int fd) : fd_(fd) {}
    // Writes one line (whole: the writers are several threads).
    void emit(const nlohmann::json& event);
    // Progress of the whole transfer; a line at most every 100 ms, and always the last.
    void set_total(uint64_t total);
    void add_done(uint64_t bytes);
    void flush_progress();

private:
    void emit_progress(bool force);
    int fd_;
    std::mutex mutex_;
    std::atomic<uint64_t> done_{0}, total_{0};
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace lxbox::registry
