// Files made or read at a path a user chose, where others may have planted something: beside
// an export's archive in /tmp, an --env-file that is a device. (unique_fd.hpp has the plain
// helpers; write_file_atomic makes its temp file with create_temp_beside.)
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox {

// A new file beside `path` ("<path><tag>" and six random characters), for a write that is
// renamed onto path once complete. Made with O_CREAT | O_EXCL, which follows no symlink, under
// a name no one could plant beforehand: a link left beside a user's file (in /tmp, say) is
// never written through. mode is trimmed by the umask, as open(2) does.
struct TempFile {
    UniqueFd fd;
    std::string path;
};
Result<TempFile> create_temp_beside(const std::string& path, const std::string& tag, unsigned mode);

// The same, but unnamed while it is written (O_TMPFILE in path's directory): a process killed
// mid-write leaves nothing behind. path stays empty; where the filesystem has no O_TMPFILE the
// file is made by create_temp_beside instead (named).
Result<TempFile> create_unnamed_beside(const std::string& path, const std::string& tag, unsigned mode);
// Puts a complete temp file at path, replacing what was there. An unnamed one is linked
// straight at path when nothing has that name (no moment where a kill leaves a second name);
// otherwise under a fresh "<path><tag>XXXXXX" (linkat, which follows no planted link) and
// renamed onto path, so a kill can leave a named temp only between those two calls.
// before_naming, when given, is called with that name before it is made (and again with a new
// one should it be taken): a caller publishing outside its own state records it there, so
// whoever finds the caller dead can remove it (store::record_publish). The fd is closed; on
// failure the temp is gone.
Status publish_temp(TempFile& tmp, const std::string& path, const std::string& tag,
                    const std::function<Status(const std::string&)>& before_naming = {});

// Reads a file a user named for its content (--env-file): a regular file of at most max_bytes.
// Anything else is refused ("not a regular file", "larger than N MiB"): a device would be read
// for ever (/dev/zero) and a fifo would block. Opened O_NONBLOCK, so a fifo is refused, not
// waited on.
Result<std::string> read_regular_file(const std::string& path, size_t max_bytes);

}  // namespace lxbox
