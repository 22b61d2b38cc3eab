// Self-repair on the daemon's loop, above the packet-filter seam: reported changes lead to one
// whole-table apply after a quiet period; a refused repair is retried. The loop only reads the
// reports (polled, never waited on); the fake clock runs the quiet period and the retries.
#include "netd/firewall/firewall_reconciler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "netd/testing/fake_clock.hpp"
#include "netd/testing/recording_packet_filter.hpp"
#include "secure_network_options.hpp"

namespace netd::firewall {
namespace {

using namespace std::chrono_literals;

class FirewallReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override { firewall_.Start(stored_); }

  FirewallReconciler Reconciler() {
    return FirewallReconciler(io_, clock_, firewall_, [this] { return stored_; });
  }

  // As if another process changed the table: the kernel's report reaches the reconciler.
  void ChangeFromOutside() {
    kernel_.ChangeFromOutside();
    io_.poll();
    io_.restart();
  }

  GatewayFirewall::StoredState stored_{{{"sec1", "secure", *Ipv4Address::Parse("192.168.129.1"),
                                         *MacAddress::Parse("52:54:c0:a8:81:01")}},
                                       {},
                                       {}};
  testing::RecordingPacketFilter kernel_;
  GatewayFirewall firewall_{SecureNetworkOptions(), kernel_};
  boost::asio::io_context io_;
  testing::FakeClock clock_;
};

TEST_F(FirewallReconcilerTest, ABurstOfForeignChangesIsRepairedByOneWholeApply) {
  auto reconciler = Reconciler();
  EXPECT_EQ(kernel_.applies, 1);
  kernel_.bindings.clear();  // what the other process did
  ChangeFromOutside();
  clock_.Advance(30ms);
  ChangeFromOutside();
  clock_.Advance(FirewallReconciler::kQuietPeriod - 30ms - 1ms);
  EXPECT_EQ(kernel_.applies, 1) << "not before the quiet period has passed";
  clock_.Advance(1ms);
  EXPECT_EQ(kernel_.applies, 2);
  clock_.Advance(3 * FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(kernel_.applies, 2) << "one repair for the burst";
  EXPECT_EQ(kernel_.bindings.size(), 1u) << "the policy's elements are back";
  EXPECT_EQ(firewall_.counters().drift_repairs, 1u);
  EXPECT_GE(firewall_.counters().drift_detected, 1u);
  ASSERT_TRUE(firewall_.last_reconcile());
}

TEST_F(FirewallReconcilerTest, NothingReportedMeansNoRepair) {
  auto reconciler = Reconciler();
  io_.poll();
  clock_.Advance(3 * FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(kernel_.applies, 1);
  EXPECT_EQ(firewall_.counters().drift_detected, 0u);
  EXPECT_EQ(clock_.pending(), 0u);
}

TEST_F(FirewallReconcilerTest, ARefusedRepairIsRetriedUntilItSucceeds) {
  auto reconciler = Reconciler();
  kernel_.RefuseNext();
  ChangeFromOutside();
  clock_.Advance(FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(firewall_.counters().repair_failures, 1u);
  EXPECT_EQ(kernel_.applies, 1);
  clock_.Advance(FirewallReconciler::kRetryPeriod - 1ms);
  EXPECT_EQ(kernel_.applies, 1) << "not before the retry period has passed";
  clock_.Advance(1ms);
  EXPECT_EQ(kernel_.applies, 2);
  EXPECT_EQ(firewall_.counters().drift_repairs, 1u);
  EXPECT_EQ(clock_.pending(), 0u) << "no retry after a success";
}

TEST_F(FirewallReconcilerTest, ARepairRebuildsFromTheStoreNotFromMemory) {
  auto reconciler = Reconciler();
  // Memory holds a rule the store does not: the repair goes by the store.
  allowlist::AllowlistRule rule;
  rule.name = "memory-only";
  rule.networks = {*Ipv4Cidr::Parse("203.0.113.0/24")};
  rule.destinations = {"203.0.113.0/24"};
  rule.ports = {{443, 443}};
  rule.vms = {"sec1"};
  firewall_.policy().PutRule(rule);
  ChangeFromOutside();
  clock_.Advance(FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(kernel_.applies, 2);
  EXPECT_EQ(firewall_.policy().FindRule("memory-only"), nullptr);
  EXPECT_TRUE(kernel_.ranges.empty()) << "the rule's elements are not in the rebuilt table";
  EXPECT_EQ(kernel_.bindings.size(), 1u);
}

TEST_F(FirewallReconcilerTest, AStoppedReconcilerRepairsNothing) {
  auto reconciler = Reconciler();
  ChangeFromOutside();
  reconciler.Stop();
  clock_.Advance(FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(kernel_.applies, 1);
}

}  // namespace
}  // namespace netd::firewall
