#include "netd/policy/publish_plan.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "row_columns.hpp"

namespace netd::policy {
namespace {

using nlohmann::json;
using Rows = ovs::OvsdbClient::Rows;

constexpr const char* kPolicy = "Policy";
constexpr const char* kBinding = "Binding";
constexpr const char* kGroup = "Group";
constexpr const char* kConnection = "Connection";

json Where(const std::string& uuid) {
  return json::array({json::array({"_uuid", "==", json::array({"uuid", uuid})})});
}

// The columns netd writes, as read from `row`: what a wait guard expects to find.
json Projection(const json& row, const std::vector<std::string>& columns) {
  json out = json::object();
  for (const auto& column : columns) {
    if (auto it = row.find(column); it != row.end()) out[column] = *it;
  }
  return out;
}

// A row operation of the difference.
struct Change {
  enum class Kind { kInsert, kUpdate, kDelete } kind = Kind::kInsert;
  const char* table = nullptr;
  std::string key = {};
  std::string uuid = {};  // of the cached row (update, delete)
  json row = {};          // update: the columns that differ; a Connection's insert: the row
  // A Binding's or Group's insert: built only if this transaction takes it.
  std::function<json()> make_row = {};
  // Update, delete: the row as read, and the columns netd writes (the wait guard's).
  const json* cached = nullptr;
  const std::vector<std::string>* columns = nullptr;
  bool explained = false;
  bool replacing = false;      // one half of a replacement: counted once, on its insert
  std::string uuid_name = {};  // a Connection row's insert, referenced by Policy.connections
};

// How a cached row differs from the desired one: not at all, in columns an update changes,
// or in columns that must not change in place.
struct Difference {
  json columns;  // null: none
  bool replace = false;
  bool none() const { return columns.is_null() && !replace; }
};

const std::vector<std::string> kBindingColumns = {"vm", "network", "mac", "ip"};
const std::vector<std::string> kGroupColumns = {"name",     "network", "members",
                                                "protocol", "ports",   "comment"};
const std::vector<std::string> kConnectionColumns = {"target", "read_only"};

json RowOf(const PublishedBinding& binding) {
  return {{"vm", binding.vm},
          {"network", binding.network},
          {"mac", binding.mac.ToString()},
          {"ip", binding.ip.ToString()}};
}

// Compared without building the text (a pass compares every binding): the parsers take only
// canonical text, but for the case of a MAC's hex digits.
bool Holds(const json& row, const char* column, MacAddress mac) {
  const auto* cached = columns::String(row, column);
  return cached && MacAddress::Parse(*cached) == mac &&
         std::none_of(cached->begin(), cached->end(), [](char c) { return c >= 'A' && c <= 'F'; });
}
bool Holds(const json& row, const char* column, Ipv4Address ip) {
  const auto* cached = columns::String(row, column);
  return cached && Ipv4Address::Parse(*cached) == ip;
}

Difference Compare(const PublishedBinding& binding, const json& row) {
  Difference difference;
  const auto* network = columns::String(row, "network");
  // The (network, mac) index: changed in place, a row could meet another's old values in a
  // transaction that does not also move those.
  difference.replace = !network || *network != binding.network || !Holds(row, "mac", binding.mac);
  if (!Holds(row, "ip", binding.ip)) difference.columns["ip"] = binding.ip.ToString();
  return difference;
}

json RowOf(const PublishedGroup& group) {
  json ports = json::array();
  for (auto port : group.ports) ports.push_back(port);
  return {{"name", group.name},
          {"network", group.network},
          {"members", json::array({"set", group.members})},
          {"protocol", group.protocol},
          {"ports", json::array({"set", ports})},
          {"comment", group.comment}};
}

Difference Compare(const PublishedGroup& group, const json& row) {
  Difference difference;
  auto desired = RowOf(group);
  for (const char* column : {"network", "protocol", "comment"}) {
    const auto* cached = columns::String(row, column);
    if (!cached || *cached != desired[column]) difference.columns[column] = desired[column];
  }
  auto members = row.find("members");
  if (members == row.end() || columns::StringSet(*members) != group.members) {
    difference.columns["members"] = desired["members"];
  }
  auto ports = row.find("ports");
  std::set<std::int64_t> wanted(group.ports.begin(), group.ports.end());
  if (ports == row.end() || columns::IntegerSet(*ports) != wanted) {
    difference.columns["ports"] = desired["ports"];
  }
  return difference;
}

// The difference of a table whose rows are keyed by one string column. Rows without a key,
// and all but one of rows sharing a key, are deleted.
template <typename Desired>
void DiffTable(const char* table, const char* key_column, const std::vector<std::string>& columns,
               const std::map<std::string, Desired>& desired, const Rows& cached,
               const std::set<std::string>& changed, std::vector<Change>& deletes,
               std::vector<Change>& updates, std::vector<Change>& inserts) {
  std::unordered_map<std::string_view, const Rows::value_type*> by_key;
  by_key.reserve(cached.size());
  auto remove = [&](const Rows::value_type& entry, std::string key, bool replacing) {
    bool explained = changed.contains(key);
    deletes.push_back({.kind = Change::Kind::kDelete,
                       .table = table,
                       .key = std::move(key),
                       .uuid = entry.first,
                       .cached = &entry.second,
                       .columns = &columns,
                       .explained = explained,
                       .replacing = replacing});
  };
  for (const auto& entry : cached) {
    const auto* key = columns::String(entry.second, key_column);
    if (!key || !desired.contains(*key) || !by_key.emplace(*key, &entry).second) {
      remove(entry, key ? *key : std::string(), false);
    }
  }
  for (const auto& [key, wanted] : desired) {
    auto found = by_key.find(key);
    if (found == by_key.end()) {
      inserts.push_back({.kind = Change::Kind::kInsert,
                         .table = table,
                         .key = key,
                         .make_row = [&wanted = wanted] { return RowOf(wanted); },
                         .explained = changed.contains(key)});
      continue;
    }
    const auto& [uuid, row] = *found->second;
    auto difference = Compare(wanted, row);
    if (difference.none()) continue;
    bool explained = changed.contains(key);
    if (difference.replace) {
      remove(*found->second, key, true);
      inserts.push_back({.kind = Change::Kind::kInsert,
                         .table = table,
                         .key = key,
                         .make_row = [&wanted = wanted] { return RowOf(wanted); },
                         .explained = explained,
                         .replacing = true});
      continue;
    }
    updates.push_back({.kind = Change::Kind::kUpdate,
                       .table = table,
                       .key = key,
                       .uuid = uuid,
                       .row = std::move(difference.columns),
                       .cached = &row,
                       .columns = &columns,
                       .explained = explained});
  }
}

json Operation(const Change& change) {
  switch (change.kind) {
    case Change::Kind::kInsert: {
      json operation = {{"op", "insert"},
                        {"table", change.table},
                        {"row", change.make_row ? change.make_row() : change.row}};
      if (!change.uuid_name.empty()) operation["uuid-name"] = change.uuid_name;
      return operation;
    }
    case Change::Kind::kUpdate:
      return {{"op", "update"},
              {"table", change.table},
              {"where", Where(change.uuid)},
              {"row", change.row}};
    case Change::Kind::kDelete:
      break;
  }
  return {{"op", "delete"}, {"table", change.table}, {"where", Where(change.uuid)}};
}

// Holds when the rows `where` selects are `rows` in the columns of `read` (all of them: an
// empty `rows`, none).
json Wait(const char* table, json where, const json& read, json rows) {
  json columns = json::array();
  for (const auto& item : read.items()) columns.push_back(item.key());
  return {
      {"op", "wait"},       {"table", table}, {"timeout", 0},           {"where", std::move(where)},
      {"columns", columns}, {"until", "=="},  {"rows", std::move(rows)}};
}

json Wait(const char* table, const std::string& uuid, const json& read) {
  return Wait(table, Where(uuid), read, json::array({read}));
}

}  // namespace

PublishPlan PlanPublish(const PlanRequest& request) {
  PublishPlan plan;
  const auto& policies = request.rows(kPolicy);
  const auto* policy = policies.empty() ? nullptr : &*policies.begin();

  // The hosts' listeners: never split, always in the first transaction, since Policy.connections
  // must reference every Connection row in the transaction that inserts it (the table is not
  // a root: an unreferenced row is dropped).
  std::vector<Change> connections;
  json kept = json::array();
  std::set<std::string> seen;
  for (const auto& [uuid, row] : request.rows(kConnection)) {
    const auto* target = columns::String(row, "target");
    if (!target || !request.desired.host_listeners.contains(*target) ||
        !seen.insert(*target).second) {
      connections.push_back({.kind = Change::Kind::kDelete,
                             .table = kConnection,
                             .key = target ? *target : std::string(),
                             .uuid = uuid,
                             .cached = &row,
                             .columns = &kConnectionColumns});
      continue;
    }
    kept.push_back(json::array({"uuid", uuid}));
    auto read_only = row.find("read_only");
    if (read_only == row.end() || *read_only != true) {
      connections.push_back({.kind = Change::Kind::kUpdate,
                             .table = kConnection,
                             .key = *target,
                             .uuid = uuid,
                             .row = {{"read_only", true}},
                             .cached = &row,
                             .columns = &kConnectionColumns});
    }
  }
  for (const auto& target : request.desired.host_listeners) {
    if (seen.contains(target)) continue;
    auto name = "connection" + std::to_string(connections.size());
    connections.push_back({.kind = Change::Kind::kInsert,
                           .table = kConnection,
                           .key = target,
                           .row = {{"target", target}, {"read_only", true}},
                           .uuid_name = name});
    kept.push_back(json::array({"named-uuid", name}));
  }
  // What Policy.connections must hold, when it does not already.
  std::optional<json> policy_connections;
  if (!policy) {
    policy_connections = json::array({"set", kept});
  } else {
    std::set<std::string> referenced =
        columns::UuidSet(policy->second.value("connections", json()));
    std::set<std::string> wanted;
    bool inserting = false;
    for (const auto& reference : kept) {
      if (reference[0] == "uuid") wanted.insert(reference[1].get<std::string>());
      inserting = inserting || reference[0] == "named-uuid";
    }
    if (inserting || wanted != referenced) policy_connections = json::array({"set", kept});
  }

  std::vector<Change> deletes, updates, inserts;
  DiffTable(kBinding, "vm", kBindingColumns, request.desired.bindings, request.rows(kBinding),
            request.changed_bindings, deletes, updates, inserts);
  DiffTable(kGroup, "name", kGroupColumns, request.desired.groups, request.rows(kGroup),
            request.changed_groups, deletes, updates, inserts);

  // Deletes first, inserts last: whatever the chunks, a row is inserted only after every row
  // that held its index values is gone.
  std::vector<const Change*> order;
  for (const auto& change : connections) order.push_back(&change);
  for (const auto* changes : {&deletes, &updates, &inserts}) {
    for (const auto& change : *changes) order.push_back(&change);
  }
  auto limit = std::max(request.chunk_rows, connections.size());
  std::size_t taken = std::min(order.size(), limit);
  plan.remaining = order.size() - taken;
  bool policy_differs = !policy || policy_connections.has_value();
  if (taken == 0 && !policy_differs) return plan;

  json guards = json::array();
  json writes = json::array();
  std::set<std::string> bindings, groups;
  for (std::size_t i = 0; i < taken; ++i) {
    const auto& change = *order[i];
    if (change.kind != Change::Kind::kInsert) {
      guards.push_back(
          Wait(change.table, change.uuid, Projection(*change.cached, *change.columns)));
    }
    writes.push_back(Operation(change));
    if (change.kind == Change::Kind::kDelete && change.table != kConnection) {
      plan.deleted_rows.push_back(change.uuid);
    }
    if (change.replacing && change.kind == Change::Kind::kDelete) continue;
    if (change.replacing || change.kind == Change::Kind::kUpdate) {
      ++plan.updated;
    } else if (change.kind == Change::Kind::kInsert) {
      ++plan.inserted;
    } else {
      ++plan.deleted;
    }
    if (!change.explained) ++plan.unexplained;
    if (change.table == kBinding) bindings.insert(change.key);
    if (change.table == kGroup) groups.insert(change.key);
  }
  plan.bindings.assign(bindings.begin(), bindings.end());
  plan.groups.assign(groups.begin(), groups.end());
  std::set<std::string> left_bindings, left_groups;
  for (std::size_t i = taken; i < order.size(); ++i) {
    (order[i]->table == kBinding ? left_bindings : left_groups).insert(order[i]->key);
  }
  plan.left_bindings.assign(left_bindings.begin(), left_bindings.end());
  plan.left_groups.assign(left_groups.begin(), left_groups.end());

  // The Policy row: created if missing; its generation moves with every transaction.
  if (!policy) {
    // Still absent when the transaction runs (maxRows would refuse a second one anyway).
    guards.insert(guards.begin(), Wait(kPolicy, json::array(), {{"generation", 0}}, json::array()));
    plan.generation = std::max<std::int64_t>(request.last_generation, 0) + 1;
    ++plan.inserted;
    ++plan.unexplained;
    writes.push_back({{"op", "insert"},
                      {"table", kPolicy},
                      {"row",
                       {{"generation", plan.generation},
                        {"published_at", request.published_at_ms},
                        {"connections", *policy_connections}}}});
  } else {
    const auto& [uuid, row] = *policy;
    auto generation = row.value("generation", json(0));
    plan.generation = (generation.is_number_integer() ? generation.get<std::int64_t>() : 0) + 1;
    guards.insert(guards.begin(),
                  Wait(kPolicy, uuid, Projection(row, {"generation", "connections"})));
    json columns = {{"published_at", request.published_at_ms}};
    if (policy_connections) {
      columns["connections"] = *policy_connections;
      // Connections referenced or not without a Connection row changing: the Policy row's own.
      if (connections.empty()) {
        ++plan.updated;
        ++plan.unexplained;
      }
    }
    writes.push_back(
        {{"op", "update"}, {"table", kPolicy}, {"where", Where(uuid)}, {"row", columns}});
    writes.push_back({{"op", "mutate"},
                      {"table", kPolicy},
                      {"where", Where(uuid)},
                      {"mutations", json::array({json::array({"generation", "+=", 1})})}});
  }
  plan.operations = std::move(guards);
  for (auto& write : writes) plan.operations.push_back(std::move(write));
  return plan;
}

}  // namespace netd::policy
