// Credit-based flow control: a sender never exceeds its credit, a receiver grants in batches.
#include <gtest/gtest.h>

#include <limits>

#include "runtime/proto/flow_control.hpp"

namespace lxbox::proto {
namespace {

TEST(ProtoFlowControl, SenderStopsAtItsCreditAndResumesOnGrant) {
    SendWindow w(100);
    EXPECT_EQ(w.sendable(60), 60u);
    ASSERT_TRUE(w.consume(60).ok());
    EXPECT_EQ(w.sendable(60), 40u);
    ASSERT_TRUE(w.consume(40).ok());
    EXPECT_EQ(w.sendable(1), 0u);
    EXPECT_FALSE(w.consume(1).ok());
    w.grant(10);
    EXPECT_EQ(w.available(), 10u);
}

TEST(ProtoFlowControl, HostileGrantSaturatesInsteadOfWrapping) {
    SendWindow w(10);
    w.grant(std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(w.available(), std::numeric_limits<uint64_t>::max());
}

TEST(ProtoFlowControl, ReceiverRefusesPeerThatOverrunsTheWindow) {
    ReceiveWindow r(100);
    ASSERT_TRUE(r.on_received(100).ok());
    auto over = r.on_received(1);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().kind, ErrorKind::Invalid);
}

TEST(ProtoFlowControl, ReceiverGrantsOnceHalfTheWindowIsDrained) {
    ReceiveWindow r(100);
    ASSERT_TRUE(r.on_received(80).ok());
    EXPECT_EQ(r.buffered(), 80u);
    EXPECT_FALSE(r.on_consumed(30).has_value());
    auto grant = r.on_consumed(30);
    ASSERT_TRUE(grant.has_value());
    EXPECT_EQ(*grant, 60u);
    EXPECT_EQ(r.buffered(), 20u);
    // The peer now holds 20 + 60 = 80 bytes of credit.
    ASSERT_TRUE(r.on_received(80).ok());
    EXPECT_FALSE(r.on_received(1).ok());
}

TEST(ProtoFlowControl, SenderAndReceiverAgreeOverALongTransfer) {
    SendWindow s(1000);
    ReceiveWindow r(1000);
    uint64_t total = 0;
    for (int step = 0; step < 10000; ++step) {
        size_t n = s.sendable(137);
        if (n > 0) {
            ASSERT_TRUE(s.consume(n).ok());
            ASSERT_TRUE(r.on_received(n).ok());
            total += n;
        }
        if (auto g = r.on_consumed(101)) s.grant(*g);
    }
    EXPECT_GT(total, 900000u);
}

TEST(ProtoFlowControl, TableKeepsSessionsApart) {
    FlowTable table(50);
    ASSERT_TRUE(table.session(1).send.consume(50).ok());
    EXPECT_EQ(table.session(2).send.available(), 50u);
    EXPECT_EQ(table.session(1).send.available(), 0u);
    table.erase(1);
    EXPECT_EQ(table.session(1).send.available(), 50u);
    EXPECT_EQ(table.size(), 2u);
}

}  // namespace
}  // namespace lxbox::proto
