#include "registry-client/events.hpp"

#include "runtime/base/unique_fd.hpp"

namespace lxbox::registry {

void Events::emit(const nlohmann::json& event) {
    std::string line = event.dump() + "\n";
    std::lock_guard lock(mutex_);
    (void)write_all(fd_, line);  // a reader gone away: lxbox was killed, and this process is next
}

void Events::set_total(uint64_t total) {
    total_ = total;
    emit_progress(true);
}

void Events::add_done(uint64_t bytes) {
    done_ += bytes;
    emit_progress(false);
}

void Events::flush_progress() { emit_progress(true); }

void Events::emit_progress(bool force) {
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        if (!force && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
    }
    emit({{"event", "progress"}, {"done", done_.load()}, {"total", total_.load()}});
}

}  // namespace lxbox::registry
