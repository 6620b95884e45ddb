// The blob store: content-addressed files under $LXBOX_ROOT, the blobs/ folder of an OCI image
// layout (manifests, configs, compressed layers), shared by every image and every way of getting
// one (import of an OCI layout or archive, a registry pull).
//
//   blobs/sha256/<hex>       a blob, read-only once in place; its name is its digest
//   tmp/.blob-<pid>-<start>-<hex>.<n>
//                            a blob being written (O_EXCL); removed when its writer is gone
//   tmp/partial-<hex>        a resumable download (BlobStore::resume), kept across a kill
//   locks/blob-<hex>         the per-digest flock: who holds it is the one fetching that blob
//   locks/layer-<hex>        the per-layer flock (by diff_id): who holds it is unpacking it
//   locks/gc                 shared by every import or pull in progress, exclusive for prune
//
// A blob is only ever written through BlobWriter: it hashes as it writes, and commit() checks
// the digest (and the size when known), fsyncs, renames into place and fsyncs the directory.
// A mismatch is one error and leaves nothing. Two writers of the same blob may both commit:
// the rename replaces a file by an identical one. To fetch it only once, a puller takes
// lock(digest), then checks has(digest) before fetching (see lock()).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/image/digest.hpp"

namespace lxbox::image {

// An flock held for the object's lifetime (closing the fd releases it).
class FileLock {
public:
    FileLock() = default;
    bool held() const { return fd_.valid(); }

private:
    friend class BlobStore;
    explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// Writes one blob: write() as the bytes arrive, then commit(). Destroyed uncommitted, it
// removes its temp file (a fresh writer) or keeps it for the next resume (a resumed one).
class BlobWriter {
public:
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) noexcept;
    BlobWriter(const BlobWriter&) = delete;
    BlobWriter& operator=(const BlobWriter&) = delete;
    ~BlobWriter();

    Status write(const void* data, size_t size);
    Status write(std::string_view data) { return write(data.data(), data.size()); }
    // Bytes in the blob so far (for a resumed writer: where the download goes on from).
    uint64_t offset() const { return offset_; }
    // Throws away what a resumed writer had (a server that ignored the Range request).
    Status restart();
    // Verifies the digest (the expected one, when given) and the size (when given), makes the
    // data durable and renames it into blobs/sha256/. A mismatch is ErrorKind::Invalid naming
    // both digests, and the temp file is gone. Returns the blob's digest.
    Result<Digest> commit();

private:
    friend class BlobStore;
    BlobWriter(std::string root, std::string temp, UniqueFd fd, std::optional<Digest> expected,
               std::optional<uint64_t> size, bool keep_on_abort);
    void abort();

    std::string root_;
    std::string temp_;
    UniqueFd fd_;
    std::optional<Digest> expected_;
    std::optional<uint64_t> size_;
    bool keep_on_abort_ = false;
    uint64_t offset_ = 0;
    Sha256 hash_;
};

class BlobStore {
public:
    // The blob store of the store at root (creates blobs/sha256, tmp and locks when missing).
    static Result<BlobStore> open(const std::string& root);

    const std::string& root() const { return root_; }
    std::string path(const Digest& d) const { return root_ + "/blobs/sha256/" + d.hex; }
    bool has(const Digest& d) const;
    // The blob's size in bytes; NotFound when it is not in the store.
    Result<uint64_t> size(const Digest& d) const;
    Result<UniqueFd> open_blob(const Digest& d) const;
    // A small blob (manifest, index, config) read whole and hashed again: it is about to be
    // parsed, and a file changed in the store must not be believed. Invalid past max_bytes.
    Result<std::string> read(const Digest& d, size_t max_bytes = 4u << 20) const;

    // A writer into a fresh temp file. expected/size: what the blob must turn out to be.
    Result<BlobWriter> writer(const std::optional<Digest>& expected = std::nullopt,
                              std::optional<uint64_t> size = std::nullopt) const;
    // A writer that goes on from what an interrupted download of `expected` left in
    // tmp/partial-<hex> (its bytes are hashed again; offset() tells where to go on from).
    // The caller must hold lock(expected): the partial file is shared by name.
    Result<BlobWriter> resume(const Digest& expected, std::optional<uint64_t> size = std::nullopt) const;
    // A whole blob in one call (a manifest, a config); returns its digest.
    Result<Digest> put(std::string_view data, const std::optional<Digest>& expected = std::nullopt) const;
    // Copies what fd holds from its current offset to EOF into a blob (an OCI layout's file).
    Result<Digest> put_from_fd(int fd, const std::optional<Digest>& expected = std::nullopt,
                               std::optional<uint64_t> size = std::nullopt) const;

    // Moves the file at path (on the store's filesystem: lxbox's own extraction under tmp/)
    // into the store after hashing it, instead of copying it; a copy when it is elsewhere.
    Result<Digest> adopt(int fd, const std::string& path, const std::optional<Digest>& expected = std::nullopt,
                         std::optional<uint64_t> size = std::nullopt) const;

    // The per-digest lock, exclusive, blocking. Two pulls of one blob: each takes the lock,
    // and whoever gets it second finds has(d) true and fetches nothing.
    Result<FileLock> lock(const Digest& d) const;
    // The per-layer lock (by diff_id): whoever holds it is unpacking that layer.
    Result<FileLock> lock_layer(const Digest& diff_id) const;
    // Held (shared) by every import or pull from its first blob to its registration, so that
    // prune, which takes it exclusively, never deletes a blob not yet referenced by an image.
    Result<FileLock> hold_against_prune() const;
    // Prune's side: exclusive; waits for the imports and pulls in progress.
    Result<FileLock> lock_for_prune() const;

    // Every blob in the store (prune's inventory).
    Result<std::vector<Digest>> list() const;
    // Deletes one blob (prune only: the caller holds lock_for_prune()).
    Status remove(const Digest& d) const;

private:
    explicit BlobStore(std::string root) : root_(std::move(root)) {}
    Result<FileLock> take_lock(const std::string& path, int operation) const;
    std::string root_;
};

}  // namespace lxbox::image
