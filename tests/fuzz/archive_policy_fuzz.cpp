// libFuzzer target: the archive entry policy as `lxbox import` meets it, driven through
// libarchive from memory: the input (any compression, any tar dialect) is read by extract()'s
// own reader (runtime/archive/reader.cpp) from a memfd, and every entry it would hand the
// writer is checked: a normalized path that check_entry_path accepts (relative, no "..", within
// PATH_MAX/NAME_MAX), a hardlink target held to the same rules, "." only as a directory, and
// for an OCI layer a whiteout that hides a path inside its directory. Byte 0 bit 0: read as an
// OCI layer does (the uncompressed stream seen by a digest sink).
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>
#include <string_view>

#include "runtime/archive/archive.hpp"
#include "runtime/archive/reader.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace lxbox;
using namespace lxbox::archive;

bool has_dotdot(std::string_view path) {
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        if (path.substr(start, end - start) == "..") return true;
        start = end + 1;
    }
    return false;
}

void check_header(const EntryHeader& h) {
    FUZZ_CHECK(check_entry_path(h.path).ok());
    FUZZ_CHECK(normalize_entry_path(h.path) == h.path);
    FUZZ_CHECK(!has_dotdot(h.path));
    if (h.path.empty()) FUZZ_CHECK(h.type == S_IFDIR);
    if (!h.hardlink.empty()) {
        FUZZ_CHECK(check_entry_path(h.hardlink).ok());
        FUZZ_CHECK(!has_dotdot(h.hardlink));
    }
    auto layer = layer_entry(h.path);
    fuzz::check_result(layer);
    if (layer.ok() && layer->kind == LayerEntry::Kind::Whiteout) {
        FUZZ_CHECK(!layer->path.empty());
        FUZZ_CHECK(check_entry_path(layer->path).ok());
        FUZZ_CHECK(!has_dotdot(layer->path));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    UniqueFd fd(::memfd_create("fuzz-archive", MFD_CLOEXEC));
    FUZZ_CHECK(fd.valid());
    for (size_t done = 1; done < size;) {
        ssize_t n = ::write(fd.get(), data + done, size - done);
        FUZZ_CHECK(n > 0);
        done += static_cast<size_t>(n);
    }
    FUZZ_CHECK(::lseek(fd.get(), 0, SEEK_SET) == 0);
    ExtractOptions opts;
    uint64_t streamed = 0;
    if (data[0] & 1) opts.tar_stream = [&](const void*, size_t n) { streamed += n; };
    BatchQueue queue(std::numeric_limits<size_t>::max());  // read_archive runs here: never blocks
    read_archive(fd.get(), size - 1, opts, queue);
    for (bool ended = false; !ended;) {
        Batch batch = queue.pop();
        for (size_t i = 0; i < batch.items.size(); ++i) {
            const Item& item = batch.items[i];
            if (item.kind == Item::Kind::Header) check_header(item.header);
            if (item.kind == Item::Kind::Data) FUZZ_CHECK(item.data_begin + item.data_size <= batch.bytes.size());
            if (item.kind == Item::Kind::Fail) fuzz::check_error(item.error);
            if (item.kind == Item::Kind::End || item.kind == Item::Kind::Fail) {
                FUZZ_CHECK(i + 1 == batch.items.size());
                ended = true;
            }
        }
    }
    return 0;
}
