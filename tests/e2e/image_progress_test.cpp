// The unpacking of an image's layers shows a progress bar on a terminal, as downloads and
// rootfs imports do, and nothing when stderr is not one (a pipe, a log).
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/common/oci_image.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_terminal.hpp"

namespace lxbox::test {
namespace {

class ImageProgress : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string layout = dir / "layout";

    void SetUp() override {
        OciImage img;
        img.layers.push_back({{file_entry("big", std::string(4 << 20, 'x'))}});
        img.layers.push_back({{file_entry("small", "s")}, TarFilter::Zstd});
        write_oci_layout(layout, img);
    }
};

TEST_F(ImageProgress, ImportOfALayoutShowsTheUnpackingOnATerminalAndClearsItsLine) {
    const std::vector<std::string> args{LXBOX_BINARY, "--root", root, "import", "img", layout};
    TestTerminal term(24, 120, [&args] {
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(LXBOX_BINARY, argv.data());
        return 127;
    });
    ASSERT_TRUE(term.ok());
    EXPECT_TRUE(term.read_until("unpacking img  ")) << term.output();
    // The bar's line is cleared at the end: a clearing after the last bar drawn.
    const auto cleared = [&] {
        const auto& out = term.output();
        return out.rfind("\r\033[K") != std::string::npos && out.rfind("\r\033[K") > out.rfind("unpacking img");
    };
    for (int i = 0; i < 100 && !cleared(); ++i) term.read_until("\x01never\x01", std::chrono::milliseconds(100));
    EXPECT_TRUE(cleared()) << term.output();
    EXPECT_EQ(term.wait(), 0) << term.output();
    // The bar counts the layers' compressed bytes, of a known total.
    EXPECT_NE(term.output().find(" / "), std::string::npos) << term.output();
}

TEST_F(ImageProgress, APipedImportSaysNothing) {
    auto r = run_lxbox(root, {"import", "img", layout});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace lxbox::test
