// extract(): a reader thread (libarchive) and this thread (the writes), joined by a queue.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "runtime/archive/archive.hpp"
#include "runtime/archive/libarchive.hpp"
#include "runtime/archive/reader.hpp"
#include "runtime/archive/tree_writer.hpp"
#include "runtime/base/log.hpp"

namespace lxbox::archive {

namespace {

// Batches in flight (~1 MiB each): enough to ride out a slow fsync-ish stall of the disk or a
// run of tiny files, small enough not to matter.
constexpr size_t kQueueBatches = 16;

Status drain(BatchQueue& queue, TreeWriter& writer) {
    for (;;) {
        Batch batch = queue.pop();
        for (Item& item : batch.items) {
            switch (item.kind) {
                case Item::Kind::Header:
                    LXBOX_TRY(writer.end_entry());
                    LXBOX_TRY(writer.begin_entry(item.header));
                    break;
                case Item::Kind::Data:
                    LXBOX_TRY(writer.write_data(item.offset, batch.bytes.data() + item.data_begin, item.data_size));
                    break;
                case Item::Kind::End:
                    LXBOX_TRY(writer.end_entry());
                    return writer.finish();
                case Item::Kind::Fail:
                    return std::move(item.error);
            }
        }
    }
}

}  // namespace

Result<Stats> extract(int input_fd, const std::string& dest_dir, const ExtractOptions& opts) {
    LXBOX_TRY(libarchive::load());
    auto root = LXBOX_TRY(open_fd(dest_dir, O_RDONLY | O_DIRECTORY));
    struct stat st;
    uint64_t total = 0;
    if (::fstat(input_fd, &st) == 0 && S_ISREG(st.st_mode)) total = static_cast<uint64_t>(st.st_size);

    BatchQueue queue(kQueueBatches);
    std::thread reader([&] { read_archive(input_fd, total, opts, queue); });
    TreeWriter writer(std::move(root), opts);
    Status result = drain(queue, writer);
    if (!result) {
        // Stop the reader; it may be blocked on a full queue or mid-decompression.
        queue.cancel();
    }
    reader.join();
    if (!result) return std::move(result).error();
    spdlog::debug("extracted {} entries, {} bytes into {}", writer.stats().entries, writer.stats().bytes, dest_dir);
    return writer.stats();
}

}  // namespace lxbox::archive
