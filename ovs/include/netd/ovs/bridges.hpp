#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/uplink.hpp"

namespace netd::ovs {

// One network's bridge on a VM host, as the configuration asks for it.
struct BridgeSpec {
  std::string name;           // br-secure, ...
  std::string datapath_type;  // "system" in production, "netdev" in tests
  int vlan = 0;
  UplinkMode uplink_mode = UplinkMode::kTrunk;
  std::string uplink;  // the uplink interface (bond0.1081 or a trunk); empty: none
};

// What brings the database to the specs: one transaction (its operations start with a `wait`
// on every row that was read), what it repairs, and the bridges netd leaves alone because it
// did not create them.
struct BridgePlan {
  nlohmann::json operations = nlohmann::json::array();
  std::vector<std::string> changes;    // "create br-secure", "br-secure: fail_mode", ...
  std::vector<std::string> conflicts;  // "br-secure exists and is not netd's"
  bool empty() const { return changes.empty(); }
};

using RowsOf = std::function<const OvsdbClient::Rows&(const std::string& table)>;
BridgePlan PlanBridges(const std::vector<BridgeSpec>& specs, const RowsOf& rows);

// Keeps the bridges as the specs say: after every change of the client's cache it plans, and
// sends the plan as one transaction (one at a time; a refused one is planned again a second
// later, on fresh state). Rows netd creates carry external_ids:netd-managed=true; rows it did
// not create are never changed.
class BridgeReconciler {
 public:
  BridgeReconciler(boost::asio::io_context& io, OvsdbClient& client, std::vector<BridgeSpec> specs);
  void Start();

  struct Counters {
    std::uint64_t transactions = 0;
    std::uint64_t repairs = 0;  // changes after the bridges first stood as specified
    std::uint64_t failures = 0;
    std::uint64_t conflicts = 0;  // configured bridges that exist and are not netd's, now
  };
  const Counters& counters() const { return counters_; }
  // Whether the bridges stood as specified after the last plan.
  bool in_sync() const { return in_sync_; }

 private:
  void Reconcile();

  OvsdbClient& client_;
  std::vector<BridgeSpec> specs_;
  boost::asio::steady_timer retry_timer_;
  bool in_flight_ = false;
  bool dirty_ = false;
  bool in_sync_ = false;
  bool ever_in_sync_ = false;
  std::set<std::string> conflicts_;  // logged once each, while they last
  Counters counters_;
  OvsdbClient::Subscription subscription_;
};

}  // namespace netd::ovs
