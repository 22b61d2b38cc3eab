#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "netd/ovs/ovsdb_client.hpp"
#include "netd/policy/published.hpp"

namespace netd::policy {

// The monitored rows of a table of the policy database (the client's cache).
using CachedRows = std::function<const ovs::OvsdbClient::Rows&(const std::string& table)>;

struct PlanRequest {
  const PolicyContents& desired;
  const CachedRows& rows;
  // Keys of changes accepted and not yet committed: their differences are expected. Any
  // other difference is unexplained (a repair, or a rebuild).
  const std::set<std::string>& changed_bindings;
  const std::set<std::string>& changed_groups;
  // Row operations per transaction; a bigger difference is left for the next ones.
  std::size_t chunk_rows = 1000;
  std::int64_t published_at_ms = 0;  // Policy.published_at
  // The highest generation the publisher has seen: a Policy row created again (the database
  // emptied) continues after it, so readers never see the generation go back.
  std::int64_t last_generation = 0;
};

// One transaction that brings the database closer to (or, with nothing remaining, equal to)
// the desired contents. Its operations start with `wait` guards on the Policy row's
// generation and on every row it updates or deletes, so a plan made on a stale cache is
// refused whole; it creates the Policy row if missing, adds 1 to its generation and sets
// published_at.
struct PublishPlan {
  nlohmann::json operations = nlohmann::json::array();  // empty: the database is as desired
  // Rows of Binding, Group and Connection, and the Policy row when created or its connections
  // repaired. A binding whose network or MAC changed is deleted and inserted again (so no
  // transaction meets the (network, mac) index half-way) and counts once, as updated.
  std::size_t inserted = 0;
  std::size_t updated = 0;
  std::size_t deleted = 0;
  std::size_t unexplained = 0;  // of those, the differences no accepted change explains
  std::size_t remaining = 0;    // row operations left for the next transactions
  // The keys whose change this transaction completes (a replaced binding's with its insert).
  std::vector<std::string> bindings;
  std::vector<std::string> groups;
  // The keys of the difference left for the next transactions.
  std::vector<std::string> left_bindings;
  std::vector<std::string> left_groups;
  std::vector<std::string> deleted_rows;  // the uuids of the Binding and Group rows it deletes
  std::int64_t generation = 0;            // Policy.generation once it commits

  bool empty() const { return operations.empty(); }
  std::size_t rows() const { return inserted + updated + deleted; }
};

// Compares the desired contents with the cache: a pure function.
PublishPlan PlanPublish(const PlanRequest& request);

}  // namespace netd::policy
