#include "netd/ovs/bridges.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "ovsdb_rows.hpp"

namespace netd::ovs {
namespace {

using nlohmann::json;
using rows::Managed;
using rows::OptionalInteger;
using rows::Uuids;

const json kManaged = json::array({"map", json::array({json::array({"netd-managed", "true"})})});

// A set of integers: `trunks`.
std::vector<int> Integers(const json& column) {
  if (column.is_number_integer()) return {column.get<int>()};
  std::vector<int> values;
  if (column.is_array() && column.size() == 2 && column[0] == "set") {
    for (const auto& value : column[1]) values.push_back(value.get<int>());
  }
  std::sort(values.begin(), values.end());
  return values;
}

json Where(const std::string& uuid) {
  return json::array({json::array({"_uuid", "==", json::array({"uuid", uuid})})});
}

// A named uuid valid in a transaction: letters, digits and '_'.
std::string NamedUuid(const std::string& prefix, const std::string& name) {
  std::string out = prefix + "_";
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

class Planner {
 public:
  explicit Planner(const RowsOf& rows) : rows_(rows) {}

  void Plan(const BridgeSpec& spec, BridgePlan& plan) {
    const auto* bridge = rows::FindNamed(rows_("Bridge"), spec.name);
    if (!bridge) {
      // Still absent when the transaction runs.
      plan.operations.push_back({{"op", "wait"},
                                 {"table", "Bridge"},
                                 {"timeout", 0},
                                 {"where", json::array({json::array({"name", "==", spec.name})})},
                                 {"columns", json::array({"name"})},
                                 {"until", "=="},
                                 {"rows", json::array()}});
      Create(spec, plan);
      plan.changes.push_back("create " + spec.name);
      return;
    }
    const auto& [uuid, row] = *bridge;
    if (!Managed(row)) {
      plan.conflicts.push_back(spec.name + " exists and is not netd's");
      return;
    }
    plan.operations.push_back(
        {{"op", "wait"},
         {"table", "Bridge"},
         {"timeout", 0},
         {"where", Where(uuid)},
         {"columns", json::array({"datapath_type", "fail_mode", "ports"})},
         {"until", "=="},
         {"rows", json::array({{{"datapath_type", row.value("datapath_type", json())},
                                {"fail_mode", row.value("fail_mode", json())},
                                {"ports", row.value("ports", json())}}})}});
    json settings = json::object();
    if (row.value("datapath_type", json()) != spec.datapath_type) {
      settings["datapath_type"] = spec.datapath_type;
      plan.changes.push_back(spec.name + ": datapath_type");
    }
    if (row.value("fail_mode", json()) != "secure") {
      settings["fail_mode"] = "secure";
      plan.changes.push_back(spec.name + ": fail_mode");
    }
    if (!settings.empty()) {
      plan.operations.push_back(
          {{"op", "update"}, {"table", "Bridge"}, {"where", Where(uuid)}, {"row", settings}});
    }
    auto ports = Uuids(row.value("ports", json()));
    auto port_named = [&](const std::string& name) -> const std::pair<const std::string, json>* {
      for (const auto& port_uuid : ports) {
        const auto& port_rows = rows_("Port");
        auto it = port_rows.find(port_uuid);
        if (it != port_rows.end() && it->second.value("name", "") == name) return &*it;
      }
      return nullptr;
    };
    if (const auto* internal = port_named(spec.name)) {
      if (OptionalInteger(internal->second.value("tag", json())) != spec.vlan) {
        plan.operations.push_back({{"op", "update"},
                                   {"table", "Port"},
                                   {"where", Where(internal->first)},
                                   {"row", {{"tag", spec.vlan}}}});
        plan.changes.push_back(spec.name + ": tag of its internal port");
      }
    } else {
      AddPort(spec, spec.name, uuid, plan);
      plan.changes.push_back(spec.name + ": internal port");
    }
    if (!spec.uplink.empty()) {
      if (const auto* uplink = port_named(spec.uplink)) {
        if (spec.uplink_mode == UplinkMode::kTrunk &&
            Integers(uplink->second.value("trunks", json())) != std::vector<int>{spec.vlan}) {
          plan.operations.push_back({{"op", "update"},
                                     {"table", "Port"},
                                     {"where", Where(uplink->first)},
                                     {"row", {{"trunks", spec.vlan}}}});
          plan.changes.push_back(spec.name + ": trunks of " + spec.uplink);
        }
        if (spec.uplink_mode == UplinkMode::kVlanInterface &&
            OptionalInteger(uplink->second.value("tag", json())) != spec.vlan) {
          plan.operations.push_back({{"op", "update"},
                                     {"table", "Port"},
                                     {"where", Where(uplink->first)},
                                     {"row", {{"tag", spec.vlan}}}});
          plan.changes.push_back(spec.name + ": tag of " + spec.uplink);
        }
      } else {
        AddPort(spec, spec.uplink, uuid, plan);
        plan.changes.push_back(spec.name + ": uplink " + spec.uplink);
      }
    }
  }

 private:
  // The Interface and Port rows of one port of `spec`'s bridge: its internal port (tagged with
  // the VLAN) or its uplink (an access port of the VLAN, or a trunk of it).
  json PortOperations(const BridgeSpec& spec, const std::string& name, const std::string& port_id,
                      json& operations) const {
    auto interface_id = NamedUuid("i", name);
    json interface_row = {{"name", name}};
    json port_row = {{"name", name},
                     {"interfaces", json::array({"named-uuid", interface_id})},
                     {"external_ids", kManaged}};
    if (name == spec.name) {
      interface_row["type"] = "internal";
      port_row["tag"] = spec.vlan;
    } else if (spec.uplink_mode == UplinkMode::kTrunk) {
      port_row["trunks"] = spec.vlan;
    } else {
      // A VLAN interface tags what leaves through it: OVS must hand it untagged frames.
      port_row["tag"] = spec.vlan;
    }
    operations.push_back({{"op", "insert"},
                          {"table", "Interface"},
                          {"row", interface_row},
                          {"uuid-name", interface_id}});
    operations.push_back(
        {{"op", "insert"}, {"table", "Port"}, {"row", port_row}, {"uuid-name", port_id}});
    return json::array({"named-uuid", port_id});
  }

  void AddPort(const BridgeSpec& spec, const std::string& name, const std::string& bridge_uuid,
               BridgePlan& plan) const {
    auto port = PortOperations(spec, name, NamedUuid("p", name), plan.operations);
    plan.operations.push_back(
        {{"op", "mutate"},
         {"table", "Bridge"},
         {"where", Where(bridge_uuid)},
         {"mutations", json::array({json::array(
                           {"ports", "insert", json::array({"set", json::array({port})})})})}});
  }

  void Create(const BridgeSpec& spec, BridgePlan& plan) const {
    json ports =
        json::array({PortOperations(spec, spec.name, NamedUuid("p", spec.name), plan.operations)});
    if (!spec.uplink.empty()) {
      ports.push_back(
          PortOperations(spec, spec.uplink, NamedUuid("p", spec.uplink), plan.operations));
    }
    auto bridge_id = NamedUuid("b", spec.name);
    plan.operations.push_back({{"op", "insert"},
                               {"table", "Bridge"},
                               {"row",
                                {{"name", spec.name},
                                 {"ports", json::array({"set", ports})},
                                 {"datapath_type", spec.datapath_type},
                                 {"fail_mode", "secure"},
                                 {"external_ids", kManaged}}},
                               {"uuid-name", bridge_id}});
    const auto& roots = rows_("Open_vSwitch");
    if (roots.empty()) return;
    plan.operations.push_back(
        {{"op", "mutate"},
         {"table", "Open_vSwitch"},
         {"where", Where(roots.begin()->first)},
         {"mutations",
          json::array({json::array(
              {"bridges", "insert",
               json::array({"set", json::array({json::array({"named-uuid", bridge_id})})})})})}});
  }

  const RowsOf& rows_;
};

}  // namespace

BridgePlan PlanBridges(const std::vector<BridgeSpec>& specs, const RowsOf& rows) {
  BridgePlan plan;
  Planner planner(rows);
  for (const auto& spec : specs) planner.Plan(spec, plan);
  if (plan.changes.empty()) plan.operations = nlohmann::json::array();
  return plan;
}

BridgeReconciler::BridgeReconciler(boost::asio::io_context& io, OvsdbClient& client,
                                   std::vector<BridgeSpec> specs)
    : client_(client), specs_(std::move(specs)), retry_timer_(io) {}

void BridgeReconciler::Start() {
  subscription_ = client_.Subscribe([this] { Reconcile(); });
  Reconcile();
}

void BridgeReconciler::Reconcile() {
  if (!client_.synced()) return;
  if (in_flight_) {
    dirty_ = true;
    return;
  }
  auto plan = PlanBridges(specs_, [this](const std::string& table) -> const OvsdbClient::Rows& {
    return client_.rows(table);
  });
  std::set<std::string> conflicts(plan.conflicts.begin(), plan.conflicts.end());
  for (const auto& conflict : conflicts) {
    if (!conflicts_.contains(conflict)) spdlog::warn("ovs: {}; left alone", conflict);
  }
  conflicts_ = std::move(conflicts);
  counters_.conflicts = conflicts_.size();
  in_sync_ = plan.empty();
  if (in_sync_) {
    ever_in_sync_ = true;
    return;
  }
  in_flight_ = true;
  ++counters_.transactions;
  auto changes = plan.changes;
  client_.Transact(std::move(plan.operations), [this, changes](const auto& result) {
    in_flight_ = false;
    if (!result.ok()) {
      ++counters_.failures;
      spdlog::warn("ovs: bridge transaction refused, planning again in 1 s: {}", result.error);
      retry_timer_.expires_after(std::chrono::seconds(1));
      retry_timer_.async_wait([this](auto error) {
        if (!error) Reconcile();
      });
      return;
    }
    if (ever_in_sync_) counters_.repairs += changes.size();
    for (const auto& change : changes) {
      spdlog::info("ovs: {}{}", ever_in_sync_ ? "repaired: " : "", change);
    }
    if (dirty_) {
      dirty_ = false;
      Reconcile();
    }
  });
}

}  // namespace netd::ovs
