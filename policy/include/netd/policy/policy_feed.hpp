#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
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
  };
  Status status() const;

 private:
  void OnDatabaseChanged();
  // Takes the Binding and Group rows changed since the last pass, and drops those the cache
  // lost.
  void ApplyBindings();
  void ApplyGroups();
  void RemoveBinding(const std::string& uuid);
  void RemoveGroup(const std::string& uuid);
  void Notify();

  boost::asio::io_context& io_;
  Clock& clock_;
  ovs::OvsdbClient client_;
  ovs::OvsdbClient::Subscription subscription_;
  std::function<void()> on_change_;
  State state_ = State::kAwaiting;
  ovs::BindingIndex index_;
  // What each row put into index_, by row uuid (a Binding's network and MAC, a Group's name),
  // and the row whose entry index_ holds for each: of rows sharing a key, the last one read.
  using BindingKey = std::pair<std::string, MacAddress>;
  std::map<std::string, BindingKey> binding_rows_;
  std::map<BindingKey, std::string> binding_owner_;
  std::map<std::string, std::string> group_rows_;
  std::map<std::string, std::string> group_owner_;
  std::uint64_t seen_version_ = 0;
  std::uint64_t generation_ = 0;
  std::optional<std::chrono::milliseconds> lag_;
  std::uint64_t updates_ = 0;
  bool notify_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netd::policy
