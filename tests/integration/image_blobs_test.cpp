// The blob store on a real filesystem: verified writes, nothing left by a mismatch, concurrent
// writers of one blob, resume of a partial download, the per-digest lock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "runtime/image/blobs.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

using image::BlobStore;
using image::Digest;

std::vector<std::string> entries_of(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (auto* e = ::readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
        ::closedir(d);
    }
    return out;
}

class ImageBlobs : public ::testing::Test {
protected:
    ScratchDir dir;
    BlobStore blobs = BlobStore::open(dir.path()).value();
};

TEST(ImageDigest, KnownSha256AndParse) {
    EXPECT_EQ(image::sha256_of("abc").str(),
              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(image::sha256_of("").hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_TRUE(image::parse_digest(image::sha256_of("x").str()).ok());
    EXPECT_EQ(image::parse_digest("sha512:abcd").error().kind, ErrorKind::Unsupported);
    for (const char* bad : {"", "sha256:", "sha256:ABC", "ba7816bf", "sha256:../../etc/passwd"})
        EXPECT_EQ(image::parse_digest(bad).error().kind, ErrorKind::Invalid) << bad;
}

TEST_F(ImageBlobs, PutStoresByDigestReadOnlyAndReadsBack) {
    Digest d = blobs.put("hello").value();
    EXPECT_EQ(d, image::sha256_of("hello"));
    EXPECT_TRUE(blobs.has(d));
    EXPECT_EQ(blobs.path(d), dir / ("blobs/sha256/" + d.hex));
    struct stat st;
    ASSERT_EQ(::stat(blobs.path(d).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0444u);
    EXPECT_EQ(blobs.read(d).value(), "hello");
    EXPECT_EQ(blobs.size(d).value(), 5u);
    EXPECT_TRUE(entries_of(dir / "tmp").empty());
}

TEST_F(ImageBlobs, DigestMismatchIsOneErrorAndLeavesNothing) {
    Digest want = image::sha256_of("expected");
    auto r = blobs.put("something else", want);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find("digest mismatch: expected " + want.str()), std::string::npos);
    EXPECT_FALSE(blobs.has(want));
    EXPECT_TRUE(entries_of(dir / "blobs/sha256").empty());
    EXPECT_TRUE(entries_of(dir / "tmp").empty());
}

TEST_F(ImageBlobs, TruncatedAndOverlongBlobsAreRefused) {
    Digest want = image::sha256_of("0123456789");
    auto w = blobs.writer(want, 10).value();
    ASSERT_TRUE(w.write("01234").ok());
    auto r = w.commit();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("truncated: 5 of 10 bytes"), std::string::npos) << r.error().message;
    auto w2 = blobs.writer(want, 4).value();
    EXPECT_FALSE(w2.write("0123456789").ok());
    EXPECT_TRUE(entries_of(dir / "blobs/sha256").empty());
}

TEST_F(ImageBlobs, AbandonedWriterRemovesItsTemp) {
    {
        auto w = blobs.writer().value();
        ASSERT_TRUE(w.write("partial").ok());
        EXPECT_EQ(entries_of(dir / "tmp").size(), 1u);
    }
    EXPECT_TRUE(entries_of(dir / "tmp").empty());
}

TEST_F(ImageBlobs, ConcurrentWritersOfOneBlobBothSucceed) {
    const std::string data(3 << 20, 'z');
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            if (blobs.put(data, image::sha256_of(data)).ok()) ++ok;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 4);
    EXPECT_EQ(blobs.read(image::sha256_of(data), 8u << 20).value(), data);
    EXPECT_TRUE(entries_of(dir / "tmp").empty());
}

TEST_F(ImageBlobs, LockMakesTheSecondFetcherFindTheBlob) {
    const std::string data = "layer bytes";
    const Digest d = image::sha256_of(data);
    std::atomic<int> fetched{0};
    auto pull = [&] {
        auto lock = blobs.lock(d).value();
        if (blobs.has(d)) return;
        ++fetched;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the download
        ASSERT_TRUE(blobs.put(data, d).ok());
    };
    std::thread a(pull), b(pull);
    a.join();
    b.join();
    EXPECT_EQ(fetched.load(), 1);
}

TEST_F(ImageBlobs, ResumeGoesOnFromWhatAnInterruptedWriterLeft) {
    const std::string data = "0123456789abcdef";
    const Digest d = image::sha256_of(data);
    {
        auto w = blobs.resume(d, data.size()).value();
        EXPECT_EQ(w.offset(), 0u);
        ASSERT_TRUE(w.write(data.substr(0, 6)).ok());
    }  // killed mid-download: the partial file stays
    auto w = blobs.resume(d, data.size()).value();
    EXPECT_EQ(w.offset(), 6u);
    ASSERT_TRUE(w.write(data.substr(6)).ok());
    EXPECT_EQ(w.commit().value(), d);
    EXPECT_EQ(blobs.read(d).value(), data);
    EXPECT_TRUE(entries_of(dir / "tmp").empty());
}

TEST_F(ImageBlobs, ResumedWriterRestartsWhenTheServerSendsItAll) {
    const std::string data = "whole blob";
    const Digest d = image::sha256_of(data);
    { ASSERT_TRUE(blobs.resume(d).value().write("whole").ok()); }
    auto w = blobs.resume(d).value();
    ASSERT_TRUE(w.restart().ok());
    ASSERT_TRUE(w.write(data).ok());
    EXPECT_EQ(w.commit().value(), d);
}

TEST_F(ImageBlobs, ReadRefusesABlobChangedInTheStore) {
    Digest d = blobs.put("original").value();
    ::chmod(blobs.path(d).c_str(), 0644);
    {
        auto fd = open_fd(blobs.path(d), O_WRONLY | O_TRUNC).value();
        ASSERT_TRUE(write_all(fd.get(), std::string("tampered")).ok());
    }
    auto r = blobs.read(d);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("was changed"), std::string::npos);
}

TEST_F(ImageBlobs, ListAndRemove) {
    Digest a = blobs.put("a").value(), b = blobs.put("b").value();
    auto all = blobs.list().value();
    std::sort(all.begin(), all.end());
    std::vector<Digest> want{a, b};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(all, want);
    ASSERT_TRUE(blobs.remove(a).ok());
    EXPECT_FALSE(blobs.has(a));
}

}  // namespace
}  // namespace lxbox::test
