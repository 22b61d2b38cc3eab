#include "netd/proxy/forward_expiry.hpp"

#include <gtest/gtest.h>

#include "netd/testing/fake_clock.hpp"

namespace netd::proxy {
namespace {

using std::chrono::milliseconds;

class ForwardExpiryTest : public ::testing::Test {
 protected:
  std::int64_t NowMs() const {
    return std::chrono::duration_cast<milliseconds>(clock_.WallNow().time_since_epoch()).count();
  }

  // A forward of its own listen port that expires `after_ms` from now.
  void Open(const std::string& id, std::int64_t after_ms) {
    auto port = static_cast<std::uint16_t>(6000 + table_.all().size());
    table_.Add({id, "vm1", *Ipv4Address::Parse("192.168.129.1"), 22,
                *Ipv4Address::Parse("198.51.100.9"), port, NowMs(), NowMs() + after_ms});
  }

  // What was offered, one list per call; the forwards taken out unless `refuse_`.
  std::vector<std::vector<DueForward>> offered_;
  bool refuse_ = false;

  testing::FakeClock clock_;
  ForwardTable table_{PortRange{6000, 6100}};
  ForwardLifecycle lifecycle_{ForwardOptions{}};
  ForwardExpiry::Expire expire_ = [this](const std::vector<DueForward>& due) {
    offered_.push_back(due);
    if (refuse_) return;
    for (const auto& forward : due) table_.Remove(forward.forward.id);
  };
};

TEST_F(ForwardExpiryTest, NothingWaitsWithoutForwards) {
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  EXPECT_EQ(clock_.pending(), 0u);
}

TEST_F(ForwardExpiryTest, AForwardEndsAtItsExpiryNotBefore) {
  Open("fwd-a", 5000);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  clock_.Advance(milliseconds(4999));
  EXPECT_TRUE(offered_.empty());
  clock_.Advance(milliseconds(1));
  ASSERT_EQ(offered_.size(), 1u);
  ASSERT_EQ(offered_[0].size(), 1u);
  EXPECT_EQ(offered_[0][0].forward.id, "fwd-a");
  EXPECT_TRUE(offered_[0][0].in_kernel);
  EXPECT_TRUE(table_.all().empty());
  EXPECT_EQ(clock_.pending(), 0u) << "nothing left to wait for";
}

TEST_F(ForwardExpiryTest, ForwardsEndInTheOrderOfTheirExpiries) {
  Open("fwd-late", 2000);
  Open("fwd-early", 1000);
  Open("fwd-later", 3000);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  EXPECT_EQ(clock_.pending(), 1u) << "one timer, whatever the table holds";
  clock_.Advance(milliseconds(3000));
  ASSERT_EQ(offered_.size(), 3u);
  EXPECT_EQ(offered_[0][0].forward.id, "fwd-early");
  EXPECT_EQ(offered_[1][0].forward.id, "fwd-late");
  EXPECT_EQ(offered_[2][0].forward.id, "fwd-later");
}

TEST_F(ForwardExpiryTest, AnOpenOrARenewThatComesFirstRearmsTheTimer) {
  Open("fwd-long", 60'000);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  Open("fwd-short", 3000);
  expiry.Rearm();
  clock_.Advance(milliseconds(3000));
  ASSERT_EQ(offered_.size(), 1u);
  EXPECT_EQ(offered_[0][0].forward.id, "fwd-short");

  table_.SetExpiry("fwd-long", NowMs() + 1000);
  expiry.Rearm();
  clock_.Advance(milliseconds(1000));
  ASSERT_EQ(offered_.size(), 2u);
  EXPECT_EQ(offered_[1][0].forward.id, "fwd-long");
}

TEST_F(ForwardExpiryTest, ARenewThatPushesTheExpiryOffOffersNothingAtTheOldOne) {
  Open("fwd-a", 1000);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  table_.SetExpiry("fwd-a", NowMs() + 10'000);
  clock_.Advance(milliseconds(1000));
  EXPECT_TRUE(offered_.empty()) << "a timer armed before the renew finds nothing due";
  EXPECT_EQ(clock_.pending(), 1u) << "and waits for the new expiry";
  clock_.Advance(milliseconds(9000));
  EXPECT_EQ(offered_.size(), 1u);
}

TEST_F(ForwardExpiryTest, ACloseLeavesNothingToWaitFor) {
  Open("fwd-a", 1000);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  table_.Remove("fwd-a");
  expiry.Rearm();
  EXPECT_EQ(clock_.pending(), 0u);
  clock_.Advance(milliseconds(5000));
  EXPECT_TRUE(offered_.empty());
}

TEST_F(ForwardExpiryTest, ARefusedExpiryIsOfferedAgainUntilItIsTaken) {
  Open("fwd-a", 1000);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  refuse_ = true;
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(offered_.size(), 1u);
  clock_.Advance(milliseconds(199));
  EXPECT_EQ(offered_.size(), 1u) << "no retry before 200 ms";
  clock_.Advance(milliseconds(1));
  ASSERT_EQ(offered_.size(), 2u);
  EXPECT_TRUE(offered_[1][0].in_kernel) << "within half the 2 s grace";
  clock_.Advance(milliseconds(800));
  ASSERT_EQ(offered_.size(), 6u);
  EXPECT_FALSE(offered_[5][0].in_kernel) << "past half the grace";
  refuse_ = false;
  clock_.Advance(milliseconds(200));
  EXPECT_EQ(offered_.size(), 7u);
  EXPECT_TRUE(table_.all().empty());
  EXPECT_EQ(clock_.pending(), 0u);
}

TEST_F(ForwardExpiryTest, AForwardThatExpiredWhileNetdWasDownGoesAtOnce) {
  Open("fwd-gone", -1000);
  Open("fwd-in-grace", -999);
  ForwardExpiry expiry(clock_, table_, lifecycle_, expire_);
  clock_.Advance(milliseconds(0));
  ASSERT_EQ(offered_.size(), 1u);
  ASSERT_EQ(offered_[0].size(), 2u);
  EXPECT_EQ(offered_[0][0].forward.id, "fwd-gone");
  EXPECT_FALSE(offered_[0][0].in_kernel) << "half its grace gone: the kernel may have dropped it";
  EXPECT_TRUE(offered_[0][1].in_kernel);
}

}  // namespace
}  // namespace netd::proxy
