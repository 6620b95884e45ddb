// extract()'s reader side.
#pragma once

#include <cstdint>

#include "runtime/archive/archive.hpp"
#include "runtime/archive/pipeline.hpp"

namespace lxbox::archive {

// Reads the archive on input_fd into queue: batches of Header/Data items, then End or one Fail. Stops
// early when the queue is cancelled. total: input size for progress (0 = unknown).
// tar_stream, when set, sees the uncompressed stream (ExtractOptions::tar_stream).
void read_archive(int input_fd, uint64_t total, const ExtractOptions& opts, BatchQueue& queue);

}  // namespace lxbox::archive
