#include "netd/policy/policy_feed.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "netd/policy/schema.hpp"
#include "row_columns.hpp"

namespace netd::policy {
namespace {

using nlohmann::json;

ovs::OvsdbClient::Options ClientOptions(const FeedOptions& options) {
  ovs::OvsdbClient::Options client;
  client.database = std::string(kDatabase);
  client.tables = {
      {"Policy", {"generation", "published_at"}},
      {"Binding", {"vm", "network", "mac", "ip"}},
      {"Group", {"name", "network", "members", "protocol", "ports"}},
  };
  client.tls = options.tls;
  // Any member that is connected to the cluster: a host only reads.
  client.cluster = ovs::OvsdbClient::Cluster::kConnected;
  return client;
}

}  // namespace

PolicyFeed::PolicyFeed(boost::asio::io_context& io, FeedOptions options, Clock& clock)
    : io_(io), clock_(clock), client_(io, options.remotes, ClientOptions(options)) {}

void PolicyFeed::Start() {
  subscription_ = client_.Subscribe([this] { OnDatabaseChanged(); });
  client_.Start();
}

void PolicyFeed::Stop() {
  subscription_ = {};
  client_.Stop();
}

void PolicyFeed::OnDatabaseChanged() {
  if (!client_.synced()) {
    if (state_ == State::kCurrent) {
      state_ = State::kStale;
      spdlog::warn("policy: the feed is away; keeping the {} bindings and {} groups known",
                   index_.bindings(), index_.groups());
      Notify();
    }
    return;
  }
  bool was_current = state_ == State::kCurrent;
  auto before = updates_;
  ApplyBindings();
  ApplyGroups();
  seen_version_ = client_.last_version();
  const auto& policy = client_.rows("Policy");
  if (!policy.empty()) {
    const auto& row = policy.begin()->second;
    auto generation = row.value("generation", json(0));
    auto published_at = row.value("published_at", json(0));
    if (generation.is_number_unsigned() && generation.get<std::uint64_t>() != generation_) {
      generation_ = generation.get<std::uint64_t>();
      if (published_at.is_number_integer()) {
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
            clock_.WallNow().time_since_epoch());
        lag_ = now - std::chrono::milliseconds(published_at.get<std::int64_t>());
      }
    }
  }
  state_ = State::kCurrent;
  if (!was_current) {
    spdlog::info("policy: following {} (generation {}, {} bindings, {} groups)",
                 ovs::ToString(client_.remote()), generation_, index_.bindings(), index_.groups());
  }
  if (!was_current || updates_ != before) Notify();
}

void PolicyFeed::ApplyBindings() {
  const auto& rows = client_.rows("Binding");
  client_.ForEachChangedSince("Binding", seen_version_, [&](const std::string& uuid) {
    RemoveBinding(uuid);
    const auto& row = rows.at(uuid);
    const auto* vm = columns::String(row, "vm");
    const auto* network = columns::String(row, "network");
    const auto* mac_text = columns::String(row, "mac");
    const auto* ip_text = columns::String(row, "ip");
    auto mac = mac_text ? MacAddress::Parse(*mac_text) : std::nullopt;
    auto ip = ip_text ? Ipv4Address::Parse(*ip_text) : std::nullopt;
    ++updates_;
    if (!vm || !network || !mac || !ip) {
      // The gateway repairs what it did not write; until then the row pins nothing.
      spdlog::warn("policy: Binding row {} is not a binding ({}); ignored", uuid, row.dump());
      return;
    }
    index_.Bind(*network, *mac, {*vm, *ip});
    BindingKey key{*network, *mac};
    binding_owner_[key] = uuid;
    binding_rows_.emplace(uuid, std::move(key));
  });
  // Deleted rows are not visited: they are those of binding_rows_ that the cache no longer
  // holds (it holds every row the cache does, having visited each).
  if (binding_rows_.size() != rows.size()) {
    std::vector<std::string> gone;
    for (const auto& entry : binding_rows_) {
      if (!rows.contains(entry.first)) gone.push_back(entry.first);
    }
    for (const auto& uuid : gone) {
      RemoveBinding(uuid);
      ++updates_;
    }
  }
}

void PolicyFeed::ApplyGroups() {
  const auto& rows = client_.rows("Group");
  client_.ForEachChangedSince("Group", seen_version_, [&](const std::string& uuid) {
    RemoveGroup(uuid);
    const auto& row = rows.at(uuid);
    const auto* name = columns::String(row, "name");
    const auto* network = columns::String(row, "network");
    const auto* protocol_text = columns::String(row, "protocol");
    std::set<std::uint16_t> ports;
    for (auto port : columns::IntegerSet(row.value("ports", json()))) {
      if (port > 0 && port <= 0xffff) ports.insert(static_cast<std::uint16_t>(port));
    }
    auto allowance =
        protocol_text ? ovs::GroupAllowanceOf(*protocol_text, std::move(ports)) : std::nullopt;
    ++updates_;
    if (!name || !network || !allowance) {
      // A group the gateway did not write opens nothing.
      spdlog::warn("policy: Group row {} is not a group ({}); ignored", uuid, row.dump());
      return;
    }
    index_.SetGroup(
        {*name, *network, columns::StringSet(row.value("members", json())), std::move(*allowance)});
    group_owner_[*name] = uuid;
    group_rows_.emplace(uuid, *name);
  });
  if (group_rows_.size() != rows.size()) {
    std::vector<std::string> gone;
    for (const auto& entry : group_rows_) {
      if (!rows.contains(entry.first)) gone.push_back(entry.first);
    }
    for (const auto& uuid : gone) {
      RemoveGroup(uuid);
      ++updates_;
    }
  }
}

void PolicyFeed::RemoveBinding(const std::string& uuid) {
  auto it = binding_rows_.find(uuid);
  if (it == binding_rows_.end()) return;
  // A row that took the key meanwhile (one deleted, another inserted in one update) keeps it.
  auto owner = binding_owner_.find(it->second);
  if (owner != binding_owner_.end() && owner->second == uuid) {
    index_.Unbind(it->second.first, it->second.second);
    binding_owner_.erase(owner);
  }
  binding_rows_.erase(it);
}

void PolicyFeed::RemoveGroup(const std::string& uuid) {
  auto it = group_rows_.find(uuid);
  if (it == group_rows_.end()) return;
  auto owner = group_owner_.find(it->second);
  if (owner != group_owner_.end() && owner->second == uuid) {
    index_.RemoveGroup(it->second);
    group_owner_.erase(owner);
  }
  group_rows_.erase(it);
}

void PolicyFeed::Notify() {
  if (notify_posted_ || !on_change_) return;
  notify_posted_ = true;
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.lock()) return;
    notify_posted_ = false;
    if (on_change_) on_change_();
  });
}

PolicyFeed::Status PolicyFeed::status() const {
  return {.state = state_,
          .connected = client_.synced(),
          .remote = ovs::ToString(client_.remote()),
          .generation = generation_,
          .lag = lag_,
          .bindings = index_.bindings(),
          .groups = index_.groups(),
          .updates = updates_,
          .disconnects = client_.counters().disconnects,
          .resumed_syncs = client_.counters().resumed_syncs,
          .full_syncs = client_.counters().full_syncs,
          .cluster_refusals = client_.counters().cluster_refusals,
          .probe_timeouts = client_.counters().probe_timeouts};
}

}  // namespace netd::policy
