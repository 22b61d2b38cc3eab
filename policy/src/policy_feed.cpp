#include "netd/policy/policy_feed.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "netd/policy/schema.hpp"

namespace netd::policy {
namespace {

using nlohmann::json;

ovs::OvsdbClient::Options ClientOptions(const FeedOptions& options) {
  ovs::OvsdbClient::Options client;
  client.database = std::string(kDatabase);
  client.tables = {
      {"Policy", {"generation", "published_at"}},
      {"Binding", {"vm", "network", "mac", "ip"}},
  };
  client.tls = options.tls;
  // Any member that is connected to the cluster: a host only reads.
  client.cluster = ovs::OvsdbClient::Cluster::kConnected;
  return client;
}

const std::string* StringColumn(const json& row, const char* column) {
  auto it = row.find(column);
  return it != row.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
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

std::optional<ovs::BoundPort> PolicyFeed::Find(std::string_view network, MacAddress mac) const {
  auto it = bound_.find({std::string(network), mac});
  if (it == bound_.end()) return std::nullopt;
  return it->second.second;
}

void PolicyFeed::OnDatabaseChanged() {
  if (!client_.synced()) {
    if (state_ == State::kCurrent) {
      state_ = State::kStale;
      spdlog::warn("policy: the feed is away; keeping the {} bindings known", bound_.size());
      Notify();
    }
    return;
  }
  bool was_current = state_ == State::kCurrent;
  auto before = updates_;
  ApplyBindings();
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
    spdlog::info("policy: following {} (generation {}, {} bindings)",
                 ovs::ToString(client_.remote()), generation_, bound_.size());
  }
  if (!was_current || updates_ != before) Notify();
}

void PolicyFeed::ApplyBindings() {
  const auto& rows = client_.rows("Binding");
  client_.ForEachChangedSince("Binding", seen_version_, [&](const std::string& uuid) {
    Remove(uuid);
    const auto& row = rows.at(uuid);
    const auto* vm = StringColumn(row, "vm");
    const auto* network = StringColumn(row, "network");
    const auto* mac_text = StringColumn(row, "mac");
    const auto* ip_text = StringColumn(row, "ip");
    auto mac = mac_text ? MacAddress::Parse(*mac_text) : std::nullopt;
    auto ip = ip_text ? Ipv4Address::Parse(*ip_text) : std::nullopt;
    ++updates_;
    if (!vm || !network || !mac || !ip) {
      // The gateway repairs what it did not write; until then the row pins nothing.
      spdlog::warn("policy: Binding row {} is not a binding ({}); ignored", uuid, row.dump());
      return;
    }
    Row entry{{*network, *mac}, {*vm, *ip}};
    bound_[entry.key] = {uuid, entry.bound};
    rows_.emplace(uuid, std::move(entry));
  });
  seen_version_ = client_.last_version();
  // Deleted rows are not visited: they are those of rows_ that the cache no longer holds (rows_
  // holds every row the cache does, having visited each).
  if (rows_.size() != rows.size()) {
    std::vector<std::string> gone;
    for (const auto& entry : rows_) {
      if (!rows.contains(entry.first)) gone.push_back(entry.first);
    }
    for (const auto& uuid : gone) {
      Remove(uuid);
      ++updates_;
    }
  }
}

void PolicyFeed::Remove(const std::string& uuid) {
  auto it = rows_.find(uuid);
  if (it == rows_.end()) return;
  // A row that took the key meanwhile (one deleted, another inserted in one update) keeps it.
  auto bound = bound_.find(it->second.key);
  if (bound != bound_.end() && bound->second.first == uuid) bound_.erase(bound);
  rows_.erase(it);
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
          .bindings = bound_.size(),
          .updates = updates_,
          .disconnects = client_.counters().disconnects};
}

}  // namespace netd::policy
