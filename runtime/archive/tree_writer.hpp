// extract()'s writer side: creates entries under a root directory fd, never outside it.
#pragma once

#include <string>
#include <vector>

#include "runtime/archive/archive.hpp"
#include "runtime/archive/pipeline.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::archive {

// "a/b/c" → {"a/b", "c"}; "c" → {"", "c"}.
std::pair<std::string, std::string> split_parent(const std::string& path);
Error refused(const std::string& path, const std::string& why);
// Why openat2 said no, in the words of the issue a user would recognise.
Error resolve_error(int err, const std::string& entry, const std::string& dir);

class TreeWriter {
public:
    TreeWriter(UniqueFd root, const ExtractOptions& opts);

    Status begin_entry(const EntryHeader& h);
    Status write_data(int64_t offset, const char* data, size_t size);
    Status end_entry();
    // Applies directory owners, modes, xattrs and mtimes, deepest first (a read-only directory
    // must stay writable until its contents exist; an mtime must be set after its last child).
    Status finish();
    const Stats& stats() const { return stats_; }

private:
    struct DirFixup {
        std::string path;
        EntryHeader header;
    };

    // An O_PATH fd of the parent directory of `path` (created when missing), resolved beneath
    // the root with no symlinks followed. Caches the last parent: archives list a directory's
    // entries together.
    Result<int> parent_dir(const std::string& parent);
    Result<UniqueFd> open_beneath(int dirfd, const std::string& path, int flags);
    Status make_parents(const std::string& parent);
    Status remove_existing(int dirfd, const std::string& leaf, const EntryHeader& h, bool& keep_dir);
    Status begin_hardlink(const std::string& parent, const std::string& leaf, const EntryHeader& h);
    // OCI layers (layer_writer.cpp): whiteouts, opaque directories, links into lower layers.
    Status make_whiteout(const std::string& path, const EntryHeader& h);
    Status make_opaque(const std::string& dir, const EntryHeader& h);
    // Copies the file `target` of the topmost lower layer that has it into this layer, so that
    // a hardlink to it can be made here (a link cannot cross layers: containers/storage does
    // the same). NotFound when no lower layer has it.
    Status copy_up(const std::string& target, const EntryHeader& h);
    Status begin_file(const std::string& parent, const std::string& leaf, const EntryHeader& h);
    Status begin_node(const std::string& parent, const std::string& leaf, const EntryHeader& h);
    Status create_node(int dirfd, const std::string& leaf, const EntryHeader& h);
    Status set_owner_mode_time(int dirfd, const std::string& leaf, const EntryHeader& h);
    Status finish_file();
    // chown, chmod, xattrs, mtime — in that order — on an open file or directory.
    Status apply_attributes(int fd, const EntryHeader& h);
    bool needs_chown(const EntryHeader& h) const;
    bool needs_chmod(const EntryHeader& h) const;
    Status xattr_failure(const std::string& name, const EntryHeader& h);

    UniqueFd root_;
    ExtractOptions opts_;
    std::string cached_parent_;
    UniqueFd cached_parent_fd_;
    bool has_cached_parent_ = false;
    UniqueFd file_;        // the regular file being written
    EntryHeader current_;  // its header
    int64_t written_end_ = 0;  // end of its last data block: below the size, a trailing hole
    uid_t self_uid_;
    gid_t self_gid_;
    bool root_setgid_ = false;
    mode_t umask_ = 0777;
    std::vector<DirFixup> dirs_;
    Stats stats_;
};

}  // namespace lxbox::archive
