// The hand-off between extract()'s reader thread (libarchive: decompress + parse) and its
// writer thread (the filesystem): a bounded queue of batches of entry headers and data blocks.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::archive {

// What extract needs of one archive entry, copied out of libarchive's archive_entry.
struct EntryHeader {
    std::string path;      // normalized (no "./"), checked by check_entry_path
    mode_t type = 0;       // S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO
    mode_t perm = 0;       // the 07777 bits
    uid_t uid = 0;
    gid_t gid = 0;
    int64_t size = 0;
    struct timespec mtime = {};
    std::string symlink;   // target of a symlink, stored verbatim
    std::string hardlink;  // normalized path of a hardlink's target, "" otherwise
    dev_t rdev = 0;
    std::vector<std::pair<std::string, std::string>> xattrs;
};

struct Item {
    enum class Kind { Header, Data, End, Fail } kind = Kind::End;
    EntryHeader header;      // Header
    int64_t offset = 0;      // Data: where the block goes in the file (sparse files skip)
    size_t data_begin = 0;   // Data: the block is Batch::bytes[data_begin, data_begin + data_size)
    size_t data_size = 0;
    Error error;             // Fail
};

// Items travel in batches: one lock, one wake-up and one allocation per ~1 MiB instead of per
// data block — measured on a Debian rootfs, per-item hand-off cost 40k futex calls.
struct Batch {
    std::vector<Item> items;
    std::vector<char> bytes;  // the data of every Data item of the batch, back to back
};

// A bounded single-producer single-consumer queue of batches, so a fast decompressor cannot
// run ahead of a slow disk by more than `limit` batches.
class BatchQueue {
public:
    explicit BatchQueue(size_t limit) : limit_(limit) {}

    // Blocks while full; returns false when the consumer cancelled.
    bool push(Batch batch) {
        std::unique_lock lock(mu_);
        not_full_.wait(lock, [&] { return cancelled_ || batches_.size() < limit_; });
        if (cancelled_) return false;
        batches_.push_back(std::move(batch));
        not_empty_.notify_one();
        return true;
    }

    Batch pop() {
        std::unique_lock lock(mu_);
        not_empty_.wait(lock, [&] { return !batches_.empty(); });
        Batch batch = std::move(batches_.front());
        batches_.pop_front();
        not_full_.notify_one();
        return batch;
    }

    void cancel() {
        std::lock_guard lock(mu_);
        cancelled_ = true;
        not_full_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable not_empty_, not_full_;
    std::deque<Batch> batches_;
    size_t limit_;
    bool cancelled_ = false;
};

}  // namespace lxbox::archive
