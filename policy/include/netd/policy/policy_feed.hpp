#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "netd/common/clock.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/port_bindings.hpp"
#include "netd/ovs/remote.hpp"

namespace netd::policy {

struct FeedOptions {
  std::vector<ovs::Remote> remotes;  // the members of the policy database's cluster
  ovs::TlsFiles tls;
  // OvsdbClient::Options' inactivity_probe and request_timeout.
  std::chrono::milliseconds probe_interval{5000};
  std::chrono::milliseconds request_timeout{30000};
};

// A host's view of the policy database: the bindings and groups the gateway published, kept
// from the monitor's updates, and whether they are current. While the feed is away the last
// ones known stay (PortBindings::State::kStale): the host keeps pinning what it knew and pins
// nothing unknown.
class PolicyFeed final : public ovs::PortBindings {
 public:
  PolicyFeed(boost::asio::io_context& io, FeedOptions options, Clock& clock);
  PolicyFeed(const PolicyFeed&) = delete;
  PolicyFeed& operator=(const PolicyFeed&) = delete;

  void Start();
  void Stop();

  State state() const override { return state_; }
  std::optional<ovs::BoundPort> Find(std::string_view network, MacAddress mac) const override {
    return index_.Find(network, mac);
  }
  std::vector<ovs::GroupPeer> PeersOf(std::string_view network,
                                      std::string_view vm) const override {
    return index_.PeersOf(network, vm);
  }

  // Called on the loop after the bindings or their state changed, once per turn of the loop.
  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }

  struct Status {
    State state = State::kAwaiting;
    bool connected = false;
    std::string remote;            // the member connected to (or last tried)
    std::uint64_t generation = 0;  // the Policy row's, as last seen
    // From the gateway publishing the generation seen to this host seeing it (the two clocks'
    // difference included).
    std::optional<std::chrono::milliseconds> lag;
    std::size_t bindings = 0;
    std::size_t groups = 0;
    std::uint64_t updates = 0;  // changes of the bindings applied
    std::uint64_t disconnects = 0;
    // Syncs after a reconnect that applied only what changed meanwhile (monitor_cond_since),
    // and those that read the whole database again.
    std::uint64_t resumed_syncs = 0;
    std::uint64_t full_syncs = 0;
    // Members left because `_Server` showed them cut off from the cluster or behind.
    std::uint64_t cluster_refusals = 0;
    // Connections given up because the member answered nothing, not even an echo.
    std::uint64_t probe_timeouts = 0;
    std::uint64_t request_timeouts = 0;
  };
  Status status() const;

 private:
  // A row's uuid, in 16 bytes rather than its 36 characters.
  struct RowId {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    friend bool operator==(const RowId&, const RowId&) = default;
    friend auto operator<=>(const RowId&, const RowId&) = default;
  };
  struct RowIdHash {
    std::size_t operator()(const RowId& id) const { return id.high ^ (id.low * 31); }
  };
  static std::optional<RowId> ParseRowId(const std::string& uuid);
  // The columns of the rows as published, each empty when absent or malformed.
  struct BindingRow {
    std::optional<std::string> vm;
    std::optional<std::string> network;
    std::optional<MacAddress> mac;
    std::optional<Ipv4Address> ip;
  };
  struct GroupRow {
    std::optional<std::string> name;
    std::optional<std::string> network;
    std::optional<std::string> protocol;
    std::set<std::string> members;
    std::set<std::int64_t> ports;
  };

  void OnDatabaseChanged();
  // The monitor's changes of the Binding and Group rows, applied to index_ as they come.
  void OnRow(const ovs::OvsdbClient::RowUpdate& update);
  void OnBindingRow(const ovs::OvsdbClient::RowUpdate& update, RowId id);
  void OnGroupRow(const ovs::OvsdbClient::RowUpdate& update, RowId id);
  template <typename Row>
  Row* RowToFill(std::unordered_map<RowId, Row, RowIdHash>& rows,
                 const ovs::OvsdbClient::RowUpdate& update, RowId id,
                 void (PolicyFeed::*unindex)(RowId));
  void IndexBinding(RowId id, const BindingRow& row, const std::string& uuid);
  void UnindexBinding(RowId id);
  void IndexGroup(RowId id, const GroupRow& row, const std::string& uuid);
  void UnindexGroup(RowId id);
  void Notify();

  boost::asio::io_context& io_;
  Clock& clock_;
  ovs::OvsdbClient client_;
  ovs::OvsdbClient::Subscription subscription_;
  std::function<void()> on_change_;
  State state_ = State::kAwaiting;
  ovs::BindingIndex index_;
  std::unordered_map<RowId, BindingRow, RowIdHash> binding_rows_;
  std::unordered_map<RowId, GroupRow, RowIdHash> group_rows_;
  // The row whose entry index_ holds for each key (a binding's network and MAC, a group's
  // name): of rows sharing a key, the last one read.
  using BindingKey = std::pair<std::string, MacAddress>;
  std::map<BindingKey, RowId> binding_owner_;
  std::map<std::string, RowId> group_owner_;
  std::uint64_t generation_ = 0;
  std::optional<std::chrono::milliseconds> lag_;
  std::uint64_t updates_ = 0;
  std::uint64_t notified_updates_ = 0;
  bool notify_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netd::policy
