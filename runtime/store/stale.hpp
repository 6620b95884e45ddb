// Names of in-progress work in the store, so that leftovers of a killed lxbox can be told
// from work a live lxbox is still doing. A pid alone can be reused: the owner is identified by
// pid + process start time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/base/error.hpp"

namespace lxbox::store {

struct WorkOwner {
    pid_t pid = 0;
    uint64_t start_time = 0;
};

// ".import-<pid>-<start>-<name>" (pure).
std::string work_dir_name(const std::string& kind, const WorkOwner& owner, const std::string& name);
// Parses a name made by work_dir_name; nullopt for anything else (pure).
std::optional<WorkOwner> parse_work_dir_name(const std::string& dir_name);
// The calling process as an owner.
WorkOwner self_owner();
// True when the owner process is still alive.
bool owner_alive(const WorkOwner& owner);

// A file lxbox publishes outside the store (export's archive) has a second, temporary name
// beside its target between two calls (publish_temp's linkat and rename). That name is
// recorded first, as a symlink in the store's tmp/ named for its owner (".publish-<pid>-
// <start>-<n>" -> the temp), so a kill between the two calls leaves a record that the stale
// sweep and lxbox check follow (remove_work): no archive is left under a name nobody asked for.
inline constexpr const char* kPublishTag = ".lxbox-partial-";
class PublishRecord {
public:
    explicit PublishRecord(std::string tmp_dir);
    PublishRecord(const PublishRecord&) = delete;
    PublishRecord& operator=(const PublishRecord&) = delete;
    ~PublishRecord();  // the publish is over (done or undone): the record goes
    // Records temp_path (a name made with kPublishTag), replacing an earlier one.
    Status name(const std::string& temp_path);

private:
    std::string path_;
    bool made_ = false;
};

// Removes a dead owner's work entry: a directory tree, or a publish record and the temp it
// names (only a regular file whose name carries kPublishTag: the record is a path, and what is
// there now may not be ours).
Status remove_work(const std::string& path);

}  // namespace lxbox::store
