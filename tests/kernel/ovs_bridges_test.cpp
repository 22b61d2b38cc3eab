// BridgeReconciler against a real ovsdb-server and ovs-vswitchd: the host role's bridges appear
// as configured, a second pass changes nothing, drift is repaired, and a bridge netd did not
// create is left alone.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/ovs/bridges.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;

class BridgeReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    ns_.emplace("ovsbr");
    ovs_.emplace(*ns_);
    // The uplinks: a trunk for br-secure, a VLAN interface for br-service (veth devices stand
    // in for both: this kernel has neither dummy nor 8021q).
    ns_->RunChecked({"ip", "link", "add", "trunk0", "type", "veth", "peer", "name", "trunk0-far"});
    ns_->RunChecked(
        {"ip", "link", "add", "vlan1082", "type", "veth", "peer", "name", "vlan1082-far"});
  }

  void StartNetdSide(const std::vector<BridgeSpec>& specs) {
    client_.emplace(io_, ovs_->db_socket());
    reconciler_.emplace(io_, *client_, specs);
    client_->Start();
    reconciler_->Start();
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }

  std::string Get(const std::string& table, const std::string& record, const std::string& column) {
    auto result = ovs_->Vsctl({"get", table, record, column});
    return result.ok() ? result.out.substr(0, result.out.find('\n')) : "(" + result.err + ")";
  }

  static std::vector<BridgeSpec> Specs() {
    return {{"br-secure", "netdev", 1081, UplinkMode::kTrunk, "trunk0"},
            {"br-service", "netdev", 1082, UplinkMode::kVlanInterface, "vlan1082"}};
  }

  boost::asio::io_context io_;
  std::optional<lab::Namespace> ns_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<OvsdbClient> client_;
  std::optional<BridgeReconciler> reconciler_;
};

TEST_F(BridgeReconcilerTest, BridgesAppearAsConfiguredAndASecondPassChangesNothing) {
  StartNetdSide(Specs());
  ASSERT_TRUE(RunUntil(5s, [&] { return reconciler_->in_sync(); }));
  EXPECT_EQ(Get("Bridge", "br-secure", "datapath_type"), "netdev");
  EXPECT_EQ(Get("Bridge", "br-secure", "fail_mode"), "secure");
  EXPECT_EQ(Get("Bridge", "br-secure", "external_ids:netd-managed"), "\"true\"");
  EXPECT_EQ(Get("Port", "br-secure", "tag"), "1081");
  EXPECT_EQ(Get("Port", "trunk0", "trunks"), "[1081]");
  EXPECT_EQ(Get("Port", "br-service", "tag"), "1082");
  EXPECT_EQ(Get("Port", "vlan1082", "trunks"), "[]");
  EXPECT_EQ(Get("Port", "vlan1082", "tag"), "1082") << "a VLAN interface must get untagged frames";
  EXPECT_EQ(ovs_->Vsctl({"port-to-br", "vlan1082"}).out, "br-service\n");
  auto transactions = reconciler_->counters().transactions;
  {
    // A second netd on the same database plans nothing.
    OvsdbClient other(io_, ovs_->db_socket());
    BridgeReconciler again(io_, other, Specs());
    again.Start();
    other.Start();
    ASSERT_TRUE(RunUntil(5s, [&] { return other.synced(); }));
    RunUntil(300ms, [] { return false; });
    EXPECT_TRUE(again.in_sync());
    EXPECT_EQ(again.counters().transactions, 0u);
  }
  EXPECT_EQ(reconciler_->counters().transactions, transactions);
}

TEST_F(BridgeReconcilerTest, DriftIsRepaired) {
  StartNetdSide(Specs());
  ASSERT_TRUE(RunUntil(5s, [&] { return reconciler_->in_sync(); }));
  ovs_->Vsctl({"del-br", "br-secure"});
  EXPECT_TRUE(RunUntil(1s, [&] {
    return ovs_->Vsctl({"br-exists", "br-secure"}).ok();
  })) << "a deleted bridge is not back within a second";
  ASSERT_TRUE(RunUntil(5s, [&] { return reconciler_->in_sync(); }));
  ovs_->Vsctl({"del-port", "br-service", "vlan1082"});
  EXPECT_TRUE(RunUntil(1s, [&] { return Get("Port", "vlan1082", "name") == "vlan1082"; }));
  ovs_->Vsctl({"set", "Port", "br-secure", "tag=99"});
  EXPECT_TRUE(RunUntil(1s, [&] { return Get("Port", "br-secure", "tag") == "1081"; }));
  ovs_->Vsctl({"set", "Bridge", "br-service", "fail_mode=standalone"});
  EXPECT_TRUE(RunUntil(1s, [&] { return Get("Bridge", "br-service", "fail_mode") == "secure"; }));
  // The last answer may still be on its way when the database already shows the change.
  EXPECT_TRUE(RunUntil(2s, [&] { return reconciler_->counters().repairs >= 4; }))
      << reconciler_->counters().repairs << " repairs";
}

TEST_F(BridgeReconcilerTest, ABridgeNetdDidNotCreateIsLeftAlone) {
  ovs_->Vsctl({"add-br", "br-secure", "--", "set", "Bridge", "br-secure", "datapath_type=netdev"});
  StartNetdSide(Specs());
  ASSERT_TRUE(RunUntil(5s, [&] { return ovs_->Vsctl({"br-exists", "br-service"}).ok(); }));
  RunUntil(300ms, [] { return false; });
  EXPECT_GE(reconciler_->counters().conflicts, 1u);
  EXPECT_EQ(Get("Bridge", "br-secure", "fail_mode"), "[]") << "netd changed a bridge not its own";
  EXPECT_FALSE(ovs_->Vsctl({"port-to-br", "trunk0"}).ok());
}

}  // namespace
}  // namespace netd::ovs
