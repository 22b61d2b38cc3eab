// PlanPublish against a cache held in the test: a small in-memory database applies each plan the
// way ovsdb-server would (wait guards, named uuids, the Connection table's garbage collection),
// so a test can follow a plan to the state it leads to.
#include "netd/policy/publish_plan.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace netd::policy {
namespace {

using nlohmann::json;
using Rows = ovs::OvsdbClient::Rows;

// The VM's address is 192.168.129.0 plus `host`.
PublishedBinding Binding(const std::string& vm, int host) {
  auto ip = Ipv4Address(Ipv4Address::Parse("192.168.129.0")->value() + static_cast<unsigned>(host));
  return {vm, "secure", MacAddress::ForVmAddress(ip), ip};
}

class FakeDatabase {
 public:
  const Rows& rows(const std::string& table) { return tables_[table]; }
  Rows& table(const std::string& table) { return tables_[table]; }

  // Applies `operations` as one transaction; false (and nothing changed) if a wait fails.
  bool Apply(const json& operations) {
    auto before = tables_;
    std::map<std::string, std::string> named;
    for (const auto& operation : operations) {
      const std::string op = operation.at("op");
      auto& rows = tables_[operation.at("table")];
      if (op == "insert") {
        auto uuid = "u" + std::to_string(++next_uuid_);
        if (operation.contains("uuid-name")) named[operation["uuid-name"]] = uuid;
        rows[uuid] = Resolve(operation.at("row"), named);
        continue;
      }
      auto selected = Select(rows, operation.at("where"));
      if (op == "wait") {
        json found = json::array();
        for (const auto& uuid : selected) {
          json projected = json::object();
          for (const auto& column : operation.at("columns")) {
            projected[column.get<std::string>()] =
                rows[uuid].value(column.get<std::string>(), json());
          }
          found.push_back(projected);
        }
        if (found != operation.at("rows")) {
          tables_ = before;
          return false;
        }
      } else if (op == "update") {
        auto columns = Resolve(operation.at("row"), named);
        for (const auto& uuid : selected) {
          for (const auto& [column, value] : columns.items()) {
            rows[uuid][column] = value;
          }
        }
      } else if (op == "delete") {
        for (const auto& uuid : selected) rows.erase(uuid);
      } else if (op == "mutate") {
        for (const auto& uuid : selected) {
          for (const auto& mutation : operation.at("mutations")) {
            EXPECT_EQ(mutation[1], "+=");
            auto& column = rows[uuid][mutation[0].get<std::string>()];
            column = column.get<std::int64_t>() + mutation[2].get<std::int64_t>();
          }
        }
      }
    }
    // The Binding table's indexes, checked at commit.
    std::set<std::string> vms;
    std::set<std::pair<std::string, std::string>> macs;
    for (const auto& [uuid, row] : tables_["Binding"]) {
      if (!vms.insert(row["vm"]).second || !macs.emplace(row["network"], row["mac"]).second) {
        tables_ = before;
        return false;
      }
    }
    // Connection is not a root table: rows no Policy row references go.
    std::set<std::string> referenced;
    for (const auto& [uuid, policy] : tables_["Policy"]) {
      auto connections = policy.value("connections", json::array({"set", json::array()}));
      for (const auto& reference : connections[1]) referenced.insert(reference[1]);
    }
    std::erase_if(tables_["Connection"],
                  [&](const auto& entry) { return !referenced.contains(entry.first); });
    return true;
  }

 private:
  static std::vector<std::string> Select(const Rows& rows, const json& where) {
    std::vector<std::string> selected;
    for (const auto& [uuid, row] : rows) {
      if (where.empty() || where[0][2][1] == uuid) selected.push_back(uuid);
    }
    return selected;
  }

  static json Resolve(json value, const std::map<std::string, std::string>& named) {
    if (value.is_array() && value.size() == 2 && value[0] == "named-uuid") {
      return json::array({"uuid", named.at(value[1])});
    }
    if (value.is_structured()) {
      for (auto& item : value) item = Resolve(item, named);
    }
    return value;
  }

  std::map<std::string, Rows> tables_;
  int next_uuid_ = 0;
};

class PublishPlanTest : public ::testing::Test {
 protected:
  PublishPlan Plan(std::size_t chunk_rows = 1000, std::int64_t last_generation = 0) {
    CachedRows rows = [this](const std::string& table) -> const Rows& { return db_.rows(table); };
    return PlanPublish({.desired = desired_,
                        .rows = rows,
                        .changed_bindings = changed_bindings_,
                        .changed_groups = changed_groups_,
                        .chunk_rows = chunk_rows,
                        .published_at_ms = 1'800'000'000'000,
                        .last_generation = last_generation});
  }

  // Plans and applies until nothing is left; returns the plans.
  std::vector<PublishPlan> Publish(std::size_t chunk_rows = 1000) {
    std::vector<PublishPlan> plans;
    for (auto plan = Plan(chunk_rows); !plan.empty(); plan = Plan(chunk_rows)) {
      EXPECT_TRUE(db_.Apply(plan.operations)) << plan.operations.dump(2);
      plans.push_back(std::move(plan));
      if (plans.size() > 100) break;
    }
    return plans;
  }

  void Bind(const PublishedBinding& binding) { desired_.bindings[binding.vm] = binding; }

  const json& BindingRow(const std::string& vm) {
    for (const auto& [uuid, row] : db_.rows("Binding")) {
      if (row["vm"] == vm) return row;
    }
    static const json kNone;
    return kNone;
  }
  std::string BindingUuid(const std::string& vm) {
    for (const auto& [uuid, row] : db_.rows("Binding")) {
      if (row["vm"] == vm) return uuid;
    }
    return {};
  }
  const json& Policy() { return db_.rows("Policy").begin()->second; }

  static std::size_t Count(const json& operations, const std::string& op,
                           const std::string& table) {
    return std::count_if(operations.begin(), operations.end(), [&](const json& operation) {
      return operation["op"] == op && operation["table"] == table;
    });
  }

  FakeDatabase db_;
  PolicyContents desired_;
  std::set<std::string> changed_bindings_, changed_groups_;
};

TEST_F(PublishPlanTest, AnEmptyDatabaseGetsEveryRowAndThePolicyRow) {
  Bind(Binding("vm1", 1));
  Bind(Binding("vm2", 2));
  desired_.groups["builders"] = {"builders", "secure", {"vm1", "vm2"}, "tcp", {22, 443}, "ci"};
  auto plan = Plan();
  EXPECT_EQ(plan.inserted, 4u) << "two bindings, a group, the Policy row";
  EXPECT_EQ(plan.updated + plan.deleted, 0u);
  EXPECT_EQ(plan.unexplained, 4u) << "no accepted change explains them";
  EXPECT_EQ(plan.remaining, 0u);
  EXPECT_EQ(plan.generation, 1);
  EXPECT_EQ(plan.bindings, (std::vector<std::string>{"vm1", "vm2"}));
  EXPECT_EQ(plan.groups, (std::vector<std::string>{"builders"}));
  // The guard comes first: still no Policy row when the transaction runs.
  EXPECT_EQ(plan.operations[0]["op"], "wait");
  EXPECT_EQ(plan.operations[0]["table"], "Policy");
  EXPECT_EQ(plan.operations[0]["rows"], json::array());
  EXPECT_EQ(Count(plan.operations, "insert", "Binding"), 2u);
  EXPECT_EQ(Count(plan.operations, "insert", "Policy"), 1u);

  ASSERT_TRUE(db_.Apply(plan.operations));
  EXPECT_EQ(BindingRow("vm1"), (json{{"vm", "vm1"},
                                     {"network", "secure"},
                                     {"mac", "52:54:c0:a8:81:01"},
                                     {"ip", "192.168.129.1"}}));
  const auto& group = db_.rows("Group").begin()->second;
  EXPECT_EQ(group["members"], json::parse(R"(["set", ["vm1", "vm2"]])"));
  EXPECT_EQ(group["ports"], json::parse(R"(["set", [22, 443]])"));
  EXPECT_EQ(Policy()["generation"], 1);
  EXPECT_EQ(Policy()["published_at"], 1'800'000'000'000);
}

TEST_F(PublishPlanTest, ADatabaseEqualToTheStoreGetsNoOperations) {
  Bind(Binding("vm1", 1));
  desired_.groups["g"] = {"g", "secure", {"vm1"}, "udp", {53}, ""};
  desired_.host_listeners = {"ptcp:6642:127.0.0.1"};
  ASSERT_EQ(Publish().size(), 1u);
  auto plan = Plan();
  EXPECT_TRUE(plan.empty()) << plan.operations.dump(2);
  EXPECT_EQ(plan.rows(), 0u);
}

TEST_F(PublishPlanTest, SetsAreComparedAsSetsWhateverTheirNotation) {
  desired_.groups["g"] = {"g", "secure", {"vm1"}, "tcp", {443, 22}, ""};
  Publish();
  // ovsdb-server writes a set of one as the bare atom, and may order a set its own way.
  auto& row = db_.table("Group").begin()->second;
  row["members"] = "vm1";
  row["ports"] = json::parse(R"(["set", [443, 22]])");
  EXPECT_TRUE(Plan().empty());
}

TEST_F(PublishPlanTest, ARowEditedBehindNetdsBackIsUpdatedAndCountedAsARepair) {
  Bind(Binding("vm1", 1));
  Bind(Binding("vm2", 2));
  Publish();
  auto uuid = BindingUuid("vm1");
  db_.table("Binding")[uuid]["ip"] = "192.168.129.99";
  auto plan = Plan();
  EXPECT_EQ(plan.updated, 1u);
  EXPECT_EQ(plan.inserted + plan.deleted, 0u);
  EXPECT_EQ(plan.unexplained, 1u);
  EXPECT_EQ(plan.generation, 2);
  EXPECT_EQ(Count(plan.operations, "update", "Binding"), 1u);
  // Guarded: the row as read, and the Policy row's generation.
  EXPECT_EQ(Count(plan.operations, "wait", "Binding"), 1u);
  EXPECT_EQ(plan.operations[0]["table"], "Policy");
  EXPECT_EQ(plan.operations[0]["rows"],
            json::parse(R"([{"generation": 1, "connections": ["set", []]}])"));
  ASSERT_TRUE(db_.Apply(plan.operations));
  EXPECT_EQ(BindingRow("vm1")["ip"], "192.168.129.1");
  EXPECT_EQ(BindingUuid("vm1"), uuid) << "updated in place";
  EXPECT_EQ(Policy()["generation"], 2);
  EXPECT_TRUE(Plan().empty());
}

TEST_F(PublishPlanTest, ADifferenceAnAcceptedChangeExplainsIsNoRepair) {
  Bind(Binding("vm1", 1));
  Publish();
  Bind(Binding("vm2", 2));
  changed_bindings_ = {"vm2"};
  auto plan = Plan();
  EXPECT_EQ(plan.inserted, 1u);
  EXPECT_EQ(plan.unexplained, 0u);
}

TEST_F(PublishPlanTest, ARowTheStoreDoesNotHoldIsDeleted) {
  Bind(Binding("vm1", 1));
  Bind(Binding("vm2", 2));
  Publish();
  desired_.bindings.erase("vm2");
  auto unexplained = Plan();
  EXPECT_EQ(unexplained.deleted, 1u);
  EXPECT_EQ(unexplained.unexplained, 1u) << "the store lost vm2 without an unbind";
  changed_bindings_ = {"vm2"};
  auto plan = Plan();
  EXPECT_EQ(plan.deleted, 1u);
  EXPECT_EQ(plan.unexplained, 0u) << "vm2 was unbound";
  EXPECT_EQ(plan.bindings, std::vector<std::string>{"vm2"});
  EXPECT_EQ(plan.deleted_rows, std::vector<std::string>{BindingUuid("vm2")});
  EXPECT_EQ(Count(plan.operations, "wait", "Binding"), 1u) << "the deleted row as read";
  ASSERT_TRUE(db_.Apply(plan.operations));
  EXPECT_TRUE(BindingRow("vm2").is_null());
  EXPECT_TRUE(Plan().empty());
}

TEST_F(PublishPlanTest, ABindingWhoseMacChangedIsReplacedAndCountedOnce) {
  Bind(Binding("vm1", 1));
  Publish();
  db_.table("Binding")[BindingUuid("vm1")]["mac"] = "52:54:c0:a8:81:63";
  auto plan = Plan();
  EXPECT_EQ(plan.updated, 1u);
  EXPECT_EQ(plan.inserted + plan.deleted, 0u);
  EXPECT_EQ(plan.unexplained, 1u);
  EXPECT_EQ(Count(plan.operations, "delete", "Binding"), 1u);
  EXPECT_EQ(Count(plan.operations, "insert", "Binding"), 1u);
  ASSERT_TRUE(db_.Apply(plan.operations));
  EXPECT_EQ(BindingRow("vm1")["mac"], "52:54:c0:a8:81:01");
}

TEST_F(PublishPlanTest, MacsSwappedAcrossChunksNeverMeetTheIndex) {
  Bind(Binding("vm1", 1));
  Bind(Binding("vm2", 2));
  Publish();
  // The two VMs' addresses swapped while the gateway was down. One row per transaction: the
  // deletes come before any insert, so no insert finds the other VM's old MAC still there.
  std::swap(desired_.bindings["vm1"].mac, desired_.bindings["vm2"].mac);
  std::swap(desired_.bindings["vm1"].ip, desired_.bindings["vm2"].ip);
  auto plans = Publish(1);
  ASSERT_EQ(plans.size(), 4u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(Count(plans[i].operations, "delete", "Binding"), 1u) << i;
    EXPECT_EQ(Count(plans[i].operations, "insert", "Binding"), 0u) << i;
  }
  EXPECT_EQ(BindingRow("vm1")["mac"], "52:54:c0:a8:81:02");
  EXPECT_EQ(BindingRow("vm2")["mac"], "52:54:c0:a8:81:01");
}

TEST_F(PublishPlanTest, ABigDifferenceGoesInChunks) {
  for (int i = 0; i < 2500; ++i) Bind(Binding("vm" + std::to_string(i), 1 + i));
  auto plans = Publish(1000);
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0].inserted, 1001u) << "1000 bindings and the Policy row";
  EXPECT_EQ(plans[0].remaining, 1500u);
  EXPECT_EQ(plans[0].left_bindings.size(), 1500u);
  EXPECT_TRUE(plans[2].left_bindings.empty());
  EXPECT_EQ(plans[1].inserted, 1000u);
  EXPECT_EQ(plans[1].remaining, 500u);
  EXPECT_EQ(plans[2].inserted, 500u);
  EXPECT_EQ(plans[2].remaining, 0u);
  EXPECT_EQ(plans[2].generation, 3);
  for (const auto& plan : plans) {
    EXPECT_LE(Count(plan.operations, "insert", "Binding"), 1000u);
    EXPECT_EQ(plan.bindings.size(), Count(plan.operations, "insert", "Binding"));
  }
  EXPECT_EQ(db_.rows("Binding").size(), 2500u);
  EXPECT_EQ(Policy()["generation"], 3);
}

TEST_F(PublishPlanTest, HostListenersAreReadOnlyConnectionRowsThePolicyRowReferences) {
  desired_.host_listeners = {"pssl:6642:192.0.2.10", "ptcp:6643:127.0.0.1"};
  auto plan = Plan();
  EXPECT_EQ(plan.inserted, 3u) << "two Connection rows and the Policy row";
  EXPECT_EQ(Count(plan.operations, "insert", "Connection"), 2u);
  // Inserted before the Policy row that names them.
  auto policy = std::find_if(plan.operations.begin(), plan.operations.end(), [](const json& op) {
    return op["table"] == "Policy" && op["op"] == "insert";
  });
  ASSERT_NE(policy, plan.operations.end());
  EXPECT_EQ((*policy)["row"]["connections"][1].size(), 2u);
  EXPECT_EQ((*policy)["row"]["connections"][1][0][0], "named-uuid");
  ASSERT_TRUE(db_.Apply(plan.operations));
  ASSERT_EQ(db_.rows("Connection").size(), 2u) << "both referenced";
  for (const auto& [uuid, row] : db_.rows("Connection")) EXPECT_EQ(row["read_only"], true);
  EXPECT_TRUE(Plan().empty());

  // One listener replaced by another, and the kept one made writable behind netd's back.
  desired_.host_listeners = {"ptcp:6643:127.0.0.1", "ptcp:6644:127.0.0.1"};
  for (auto& [uuid, row] : db_.table("Connection")) {
    if (row["target"] == "ptcp:6643:127.0.0.1") row["read_only"] = false;
  }
  auto changed = Plan();
  EXPECT_EQ(changed.inserted, 1u);
  EXPECT_EQ(changed.deleted, 1u);
  EXPECT_EQ(changed.updated, 1u);
  EXPECT_EQ(changed.unexplained, 3u) << "listeners change only with the configuration";
  ASSERT_TRUE(db_.Apply(changed.operations));
  std::set<std::string> targets;
  for (const auto& [uuid, row] : db_.rows("Connection")) {
    targets.insert(row["target"]);
    EXPECT_EQ(row["read_only"], true);
  }
  EXPECT_EQ(targets, desired_.host_listeners);
  EXPECT_EQ(Policy()["connections"][1].size(), 2u);
  EXPECT_TRUE(Plan().empty());
}

TEST_F(PublishPlanTest, HostListenersGoInTheFirstChunkWhole) {
  desired_.host_listeners = {"ptcp:6642:127.0.0.1", "ptcp:6643:127.0.0.1", "ptcp:6644:127.0.0.1"};
  Bind(Binding("vm1", 1));
  auto plan = Plan(2);
  EXPECT_EQ(Count(plan.operations, "insert", "Connection"), 3u);
  EXPECT_EQ(Count(plan.operations, "insert", "Binding"), 0u);
  EXPECT_EQ(plan.remaining, 1u);
}

TEST_F(PublishPlanTest, AStalePlanIsRefusedWhole) {
  Bind(Binding("vm1", 1));
  Publish();
  db_.table("Binding")[BindingUuid("vm1")]["ip"] = "192.168.129.99";
  auto plan = Plan();
  // Someone else publishes first: the generation the plan read is gone.
  auto& policy = db_.table("Policy").begin()->second;
  policy["generation"] = 5;
  EXPECT_FALSE(db_.Apply(plan.operations));
  EXPECT_EQ(BindingRow("vm1")["ip"], "192.168.129.99");
  // And a row edited again after the plan read it.
  auto again = Plan();
  EXPECT_EQ(again.generation, 6);
  db_.table("Binding")[BindingUuid("vm1")]["ip"] = "192.168.129.98";
  EXPECT_FALSE(db_.Apply(again.operations));
}

TEST_F(PublishPlanTest, AnEmptiedDatabaseIsRebuiltWithItsListeners) {
  desired_.host_listeners = {"ptcp:6642:127.0.0.1"};
  Bind(Binding("vm1", 1));
  Publish();
  db_.table("Policy").clear();
  db_.table("Binding").clear();
  db_.Apply(json::array());  // the Connection row, unreferenced now, goes
  ASSERT_TRUE(db_.rows("Connection").empty());
  auto plan = Plan(1000, 7);
  EXPECT_EQ(plan.inserted, 3u);
  EXPECT_EQ(plan.unexplained, 3u);
  EXPECT_EQ(plan.generation, 8) << "after the last generation the publisher saw";
  ASSERT_TRUE(db_.Apply(plan.operations));
  EXPECT_EQ(Policy()["generation"], 8);
  EXPECT_TRUE(Plan().empty());
}

}  // namespace
}  // namespace netd::policy
