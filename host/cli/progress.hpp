// A one-line progress bar on stderr for long work (import, export, image builds): shown only
// when stderr is a terminal and --quiet is off, redrawn at most 10 times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lxbox::cli {

class Progress {
public:
    // label: "importing debian"; enabled=false makes every call a no-op.
    Progress(std::string label, bool enabled);
    ~Progress();  // clears the line
    void update(uint64_t done, uint64_t total);
    // Whether a progress bar should be drawn: stderr is a TTY and not quiet.
    static bool wanted(bool quiet);

private:
    std::string label_;
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

// A callback (done, total) that draws on bar, which it keeps alive.
std::function<void(uint64_t done, uint64_t total)> progress_callback(std::shared_ptr<Progress> bar);

// Pure: the text of one progress line, e.g. "importing debian  45.0 MiB / 93.0 MiB  48%  120.0 MiB/s".
std::string format_progress(const std::string& label, uint64_t done, uint64_t total, double seconds);
// Pure: "93.0 MiB".
std::string format_bytes(uint64_t bytes);

}  // namespace lxbox::cli
