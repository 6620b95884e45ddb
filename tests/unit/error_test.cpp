#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"

namespace lxbox {
namespace {

Result<int> fails_with_errno() { return Error::sys(ENOENT, "open /nowhere", ErrorKind::NotFound); }

Result<int> adds_context() {
    int v = LXBOX_TRY_CTX(fails_with_errno(), "import debian");
    return v + 1;
}

TEST(Error, ContextReadsOutermostFirst) {
    auto r = adds_context();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "import debian: open /nowhere: No such file or directory");
    EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
    EXPECT_EQ(r.error().errno_value, ENOENT);
}

TEST(Error, RoundTripsThroughJson) {
    Error e = Error::sys(EACCES, "mount /x", ErrorKind::System);
    nlohmann::json j = e;
    Error back = j.get<Error>();
    EXPECT_EQ(back.kind, e.kind);
    EXPECT_EQ(back.errno_value, EACCES);
    EXPECT_EQ(back.message, e.message);
}

TEST(Error, TryPassesValuesThrough) {
    auto ok = []() -> Result<int> { return 41; };
    auto plus_one = [&]() -> Result<int> { return LXBOX_TRY(ok()) + 1; };
    EXPECT_EQ(*plus_one(), 42);
}

}  // namespace
}  // namespace lxbox
