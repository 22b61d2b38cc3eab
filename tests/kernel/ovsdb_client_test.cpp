// OvsdbClient against a real ovsdb-server and ovs-vswitchd (a private userspace Open vSwitch in a
// network namespace of the test's own): the monitor cache, transactions and their
// per-operation errors, the wait guard, reconnecting after ovsdb-server restarts.
#include "netd/ovs/ovsdb_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class OvsdbClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    ns_.emplace("ovsdb");
    ovs_.emplace(*ns_);
    client_.emplace(io_, ovs_->db_socket());
    client_->Start();
    ASSERT_TRUE(RunUntil(5s, [&] { return client_->synced(); })) << "never synced";
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }

  OvsdbClient::TransactionResult Transact(json operations) {
    std::optional<OvsdbClient::TransactionResult> outcome;
    client_->Transact(std::move(operations), [&](const auto& result) { outcome = result; });
    EXPECT_TRUE(RunUntil(5s, [&] { return outcome.has_value(); }));
    return outcome.value_or(OvsdbClient::TransactionResult{json(), "no answer"});
  }

  std::optional<std::string> BridgeNamed(const std::string& name) const {
    for (const auto& [uuid, row] : client_->rows("Bridge")) {
      if (row.value("name", "") == name) return uuid;
    }
    return std::nullopt;
  }

  // A bridge with its internal port and interface, tagged as netd's, added to the
  // Open_vSwitch row: what the host role will send.
  json AddBridge(const std::string& name) const {
    const auto& root = client_->rows("Open_vSwitch").begin()->first;
    json tag = json::array({"map", json::array({json::array({"netd-managed", "true"})})});
    return json::array(
        {{{"op", "insert"},
          {"table", "Interface"},
          {"row", {{"name", name}, {"type", "internal"}}},
          {"uuid-name", "iface"}},
         {{"op", "insert"},
          {"table", "Port"},
          {"row",
           {{"name", name},
            {"interfaces", json::array({"named-uuid", "iface"})},
            {"external_ids", tag}}},
          {"uuid-name", "port"}},
         {{"op", "insert"},
          {"table", "Bridge"},
          {"row",
           {{"name", name},
            {"ports", json::array({"named-uuid", "port"})},
            {"datapath_type", "netdev"},
            {"fail_mode", "secure"},
            {"external_ids", tag}}},
          {"uuid-name", "bridge"}},
         {{"op", "mutate"},
          {"table", "Open_vSwitch"},
          {"where", json::array({json::array({"_uuid", "==", json::array({"uuid", root})})})},
          {"mutations",
           json::array({json::array(
               {"bridges", "insert",
                json::array({"set", json::array({json::array({"named-uuid", "bridge"})})})})})}}});
  }

  boost::asio::io_context io_;
  std::optional<lab::Namespace> ns_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<OvsdbClient> client_;
};

TEST_F(OvsdbClientTest, TheCacheFollowsTheDatabase) {
  EXPECT_EQ(client_->rows("Open_vSwitch").size(), 1u);
  EXPECT_TRUE(client_->rows("Bridge").empty());
  ovs_->Vsctl({"add-br", "br-outside"});
  EXPECT_TRUE(RunUntil(5s, [&] { return BridgeNamed("br-outside").has_value(); }))
      << "an update never reached the cache";
  ovs_->Vsctl({"del-br", "br-outside"});
  EXPECT_TRUE(RunUntil(5s, [&] { return !BridgeNamed("br-outside").has_value(); }));
}

TEST_F(OvsdbClientTest, ATransactionCreatesTaggedRowsAndEveryOperationIsChecked) {
  auto created = Transact(AddBridge("br-netd"));
  ASSERT_TRUE(created.ok()) << created.error;
  EXPECT_EQ(created.results.size(), 4u);
  EXPECT_TRUE(ovs_->Vsctl({"br-exists", "br-netd"}).ok());
  EXPECT_EQ(ovs_->Vsctl({"get", "Bridge", "br-netd", "external_ids:netd-managed"}).out,
            "\"true\"\n");
  EXPECT_TRUE(RunUntil(5s, [&] { return BridgeNamed("br-netd").has_value(); }));

  // The same bridge again: the name index refuses it, and the error names the operation.
  auto again = Transact(AddBridge("br-netd"));
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.error.find("constraint violation"), std::string::npos) << again.error;
  EXPECT_EQ(client_->counters().failed_transactions, 1u);
}

TEST_F(OvsdbClientTest, AWaitOnStaleStateFailsAndNothingIsApplied) {
  // A guard on what netd read: no bridge named br-x. Someone else adds it first.
  ovs_->Vsctl({"add-br", "br-x"});
  json guarded = json::array({{{"op", "wait"},
                               {"table", "Bridge"},
                               {"timeout", 0},
                               {"where", json::array({json::array({"name", "==", "br-x"})})},
                               {"columns", json::array({"name"})},
                               {"until", "=="},
                               {"rows", json::array()}}});
  for (const auto& operation : AddBridge("br-y")) guarded.push_back(operation);
  auto result = Transact(guarded);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("operation 0 (wait Bridge)"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("timed out"), std::string::npos) << result.error;
  EXPECT_FALSE(ovs_->Vsctl({"br-exists", "br-y"}).ok()) << "part of a refused transaction";
}

TEST_F(OvsdbClientTest, ARestartedServerIsReconnectedAndTheCacheBuiltAgain) {
  ovs_->Vsctl({"add-br", "br-before"});
  ASSERT_TRUE(RunUntil(5s, [&] { return BridgeNamed("br-before").has_value(); }));
  ovs_->RestartOvsdbServer();
  EXPECT_TRUE(RunUntil(5s, [&] { return client_->counters().disconnects == 1; }));
  EXPECT_TRUE(RunUntil(10s, [&] { return client_->synced() && client_->counters().connects == 2; }))
      << "never reconnected";
  EXPECT_TRUE(BridgeNamed("br-before").has_value()) << "the cache was not built again";
  auto created = Transact(AddBridge("br-after"));
  EXPECT_TRUE(created.ok()) << created.error;
}

TEST_F(OvsdbClientTest, WithoutAConnectionATransactionFailsAtOnce) {
  auto operations = AddBridge("br-z");
  client_->Stop();
  auto result = Transact(operations);
  EXPECT_EQ(result.error, "not connected to ovsdb-server");
}

}  // namespace
}  // namespace netd::ovs
