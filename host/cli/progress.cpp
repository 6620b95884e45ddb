#include "host/cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace lxbox::cli {

std::string format_bytes(uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

std::string format_progress(const std::string& label, uint64_t done, uint64_t total, double seconds) {
    std::string line = label + "  " + format_bytes(done);
    if (total > 0) {
        line += " / " + format_bytes(total);
        char pct[16];
        std::snprintf(pct, sizeof pct, "  %3d%%", static_cast<int>(done * 100 / total));
        line += pct;
    }
    if (seconds > 0.05) line += "  " + format_bytes(static_cast<uint64_t>(done / seconds)) + "/s";
    return line;
}

bool Progress::wanted(bool quiet) { return !quiet && ::isatty(STDERR_FILENO); }

Progress::Progress(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled), start_(std::chrono::steady_clock::now()), last_() {}

Progress::~Progress() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
}

void Progress::update(uint64_t done, uint64_t total) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r\033[K%s", format_progress(label_, done, total, secs).c_str());
    std::fflush(stderr);
}

std::function<void(uint64_t, uint64_t)> progress_callback(std::shared_ptr<Progress> bar) {
    return [bar](uint64_t done, uint64_t total) { bar->update(done, total); };
}

}  // namespace lxbox::cli
