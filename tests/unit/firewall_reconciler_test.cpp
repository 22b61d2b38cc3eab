// Self-repair on the daemon's loop, above the packet-filter seam: reported changes lead to one
// whole-table apply after a quiet period; a refused repair is retried.
#include "netd/daemon/firewall_reconciler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "netd/testing/recording_packet_filter.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;

class FirewallReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override { firewall_.Start(stored_); }

  FirewallReconciler Reconciler() {
    return FirewallReconciler(io_, firewall_, [this] { return stored_; });
  }

  // Runs the loop until `done` holds or `limit` passes.
  void RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(10ms);
      io_.restart();
    }
  }

  Config config_ = ParseConfig(DemoConfigText(), "demo");
  GatewayFirewall::StoredState stored_{{{"sec1", "secure", *Ipv4Address::Parse("192.168.129.1"),
                                         *MacAddress::Parse("52:54:c0:a8:81:01"), std::nullopt, 0}},
                                       {},
                                       {}};
  testing::RecordingPacketFilter kernel_;
  GatewayFirewall firewall_{config_, kernel_};
  boost::asio::io_context io_;
};

TEST_F(FirewallReconcilerTest, ABurstOfForeignChangesIsRepairedByOneWholeApply) {
  auto reconciler = Reconciler();
  EXPECT_EQ(kernel_.applies, 1);
  kernel_.bindings.clear();  // what the other process did
  kernel_.ChangeFromOutside();
  RunUntil([] { return false; }, 30ms);
  kernel_.ChangeFromOutside();
  RunUntil([&] { return kernel_.applies > 1; }, 2s);
  RunUntil([] { return false; }, 3 * FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(kernel_.applies, 2) << "one repair for the burst";
  EXPECT_EQ(kernel_.bindings.size(), 1u) << "the policy's elements are back";
  EXPECT_EQ(firewall_.counters().drift_repairs, 1u);
  EXPECT_GE(firewall_.counters().drift_detected, 1u);
  ASSERT_TRUE(firewall_.last_reconcile());
}

TEST_F(FirewallReconcilerTest, NothingReportedMeansNoRepair) {
  auto reconciler = Reconciler();
  RunUntil([] { return false; }, 3 * FirewallReconciler::kQuietPeriod);
  EXPECT_EQ(kernel_.applies, 1);
  EXPECT_EQ(firewall_.counters().drift_detected, 0u);
}

TEST_F(FirewallReconcilerTest, ARefusedRepairIsRetriedUntilItSucceeds) {
  auto reconciler = Reconciler();
  kernel_.RefuseNext();
  kernel_.ChangeFromOutside();
  RunUntil([&] { return firewall_.counters().repair_failures > 0; }, 2s);
  EXPECT_EQ(firewall_.counters().repair_failures, 1u);
  EXPECT_EQ(kernel_.applies, 1);
  RunUntil([&] { return kernel_.applies > 1; }, 3 * FirewallReconciler::kRetryPeriod);
  EXPECT_EQ(kernel_.applies, 2);
  EXPECT_EQ(firewall_.counters().drift_repairs, 1u);
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
  kernel_.ChangeFromOutside();
  RunUntil([&] { return kernel_.applies > 1; }, 2s);
  EXPECT_EQ(kernel_.applies, 2);
  EXPECT_EQ(firewall_.policy().FindRule("memory-only"), nullptr);
  EXPECT_TRUE(kernel_.ranges.empty()) << "the rule's elements are not in the rebuilt table";
  EXPECT_EQ(kernel_.bindings.size(), 1u);
}

}  // namespace
}  // namespace netd
