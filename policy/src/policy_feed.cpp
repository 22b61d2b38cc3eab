#include "netd/policy/policy_feed.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "netd/policy/schema.hpp"
#include "row_columns.hpp"

namespace netd::policy {
namespace {

using nlohmann::json;

ovs::OvsdbClient::Options ClientOptions(
    const FeedOptions& options, std::function<void(const ovs::OvsdbClient::RowUpdate&)> on_row) {
  ovs::OvsdbClient::Options client;
  client.database = std::string(kDatabase);
  client.tables = {
      {"Policy", {"generation", "published_at"}},
      {"Binding", {"vm", "network", "mac", "ip"}},
      {"Group", {"name", "network", "members", "protocol", "ports"}},
  };
  client.tls = options.tls;
  client.inactivity_probe = options.probe_interval;
  client.request_timeout = options.request_timeout;
  // Kept in the feed's own form (about a tenth of the JSON cache's size).
  client.handed_tables = {"Binding", "Group"};
  client.row_handler = std::move(on_row);
  // Any member that is connected to the cluster: a host only reads.
  client.cluster = ovs::OvsdbClient::Cluster::kConnected;
  return client;
}

}  // namespace

PolicyFeed::PolicyFeed(boost::asio::io_context& io, FeedOptions options, Clock& clock)
    : io_(io),
      clock_(clock),
      client_(io, options.remotes,
              ClientOptions(options, [this](const auto& update) { OnRow(update); })) {}

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
  if (!was_current || updates_ != notified_updates_) Notify();
  notified_updates_ = updates_;
}

std::optional<PolicyFeed::RowId> PolicyFeed::ParseRowId(const std::string& uuid) {
  // xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
  if (uuid.size() != 36) return std::nullopt;
  RowId id;
  int digits = 0;
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    char c = uuid[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      continue;
    }
    std::uint64_t nibble = 0;
    if (c >= '0' && c <= '9') {
      nibble = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      nibble = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    auto& half = digits < 16 ? id.high : id.low;
    half = (half << 4) | nibble;
    ++digits;
  }
  return id;
}

void PolicyFeed::OnRow(const ovs::OvsdbClient::RowUpdate& update) {
  using Kind = ovs::OvsdbClient::RowUpdate::Kind;
  std::optional<RowId> id;
  if (update.kind != Kind::kClear) {
    id = ParseRowId(update.uuid);
    if (!id) throw std::runtime_error("a row whose uuid is not one: " + update.uuid);
  }
  ++updates_;
  if (update.table == "Binding") {
    OnBindingRow(update, id.value_or(RowId{}));
  } else if (update.table == "Group") {
    OnGroupRow(update, id.value_or(RowId{}));
  }
}

namespace {

// An atomic string column's value; empty when it is not a string.
std::optional<std::string> StringOf(const json& value) {
  if (!value.is_string()) return std::nullopt;
  return value.get<std::string>();
}

// Update2's diff of a set: the elements to add or remove (OVSDB writes a set of one as the
// bare atom).
template <typename T>
void Toggle(std::set<T>& set, const std::set<T>& elements) {
  for (const auto& element : elements) {
    if (!set.erase(element)) set.insert(element);
  }
}

}  // namespace

// The row an update fills, emptied for a whole row; none when the update cleared or removed
// rows. Whatever a row put into the index is taken out first (`unindex`).
template <typename Row>
Row* PolicyFeed::RowToFill(std::unordered_map<RowId, Row, RowIdHash>& rows,
                           const ovs::OvsdbClient::RowUpdate& update, RowId id,
                           void (PolicyFeed::*unindex)(RowId)) {
  using Kind = ovs::OvsdbClient::RowUpdate::Kind;
  if (update.kind == Kind::kClear) {
    for (const auto& entry : rows) (this->*unindex)(entry.first);
    rows.clear();
    return nullptr;
  }
  (this->*unindex)(id);
  if (update.kind == Kind::kRemove) {
    rows.erase(id);
    return nullptr;
  }
  auto& row = rows[id];
  if (update.kind == Kind::kPut) row = {};
  return &row;
}

void PolicyFeed::OnBindingRow(const ovs::OvsdbClient::RowUpdate& update, RowId id) {
  auto* filled = RowToFill(binding_rows_, update, id, &PolicyFeed::UnindexBinding);
  if (!filled) return;
  auto& row = *filled;
  for (const auto& [column, value] : update.value.items()) {
    if (column == "vm") {
      row.vm = StringOf(value);
    } else if (column == "network") {
      row.network = StringOf(value);
    } else if (column == "mac") {
      auto text = StringOf(value);
      row.mac = text ? MacAddress::Parse(*text) : std::nullopt;
    } else if (column == "ip") {
      auto text = StringOf(value);
      row.ip = text ? Ipv4Address::Parse(*text) : std::nullopt;
    }
  }
  IndexBinding(id, row, update.uuid);
}

void PolicyFeed::OnGroupRow(const ovs::OvsdbClient::RowUpdate& update, RowId id) {
  auto* filled = RowToFill(group_rows_, update, id, &PolicyFeed::UnindexGroup);
  if (!filled) return;
  auto& row = *filled;
  bool whole = update.kind == ovs::OvsdbClient::RowUpdate::Kind::kPut;
  for (const auto& [column, value] : update.value.items()) {
    if (column == "name") {
      row.name = StringOf(value);
    } else if (column == "network") {
      row.network = StringOf(value);
    } else if (column == "protocol") {
      row.protocol = StringOf(value);
    } else if (column == "members") {
      auto members = columns::StringSet(value);
      if (whole) {
        row.members = std::move(members);
      } else {
        Toggle(row.members, members);
      }
    } else if (column == "ports") {
      auto ports = columns::IntegerSet(value);
      if (whole) {
        row.ports = std::move(ports);
      } else {
        Toggle(row.ports, ports);
      }
    }
  }
  IndexGroup(id, row, update.uuid);
}

void PolicyFeed::IndexBinding(RowId id, const BindingRow& row, const std::string& uuid) {
  if (!row.vm || !row.network || !row.mac || !row.ip) {
    // The gateway repairs what it did not write; until then the row pins nothing.
    spdlog::warn(
        "policy: Binding row {} is not a binding (vm, network, mac, ip: {}, {}, {}, {}); "
        "ignored",
        uuid, row.vm.value_or("?"), row.network.value_or("?"), row.mac ? row.mac->ToString() : "?",
        row.ip ? row.ip->ToString() : "?");
    return;
  }
  index_.Bind(*row.network, *row.mac, {*row.vm, *row.ip});
  binding_owner_[{*row.network, *row.mac}] = id;
}

void PolicyFeed::UnindexBinding(RowId id) {
  auto it = binding_rows_.find(id);
  if (it == binding_rows_.end() || !it->second.network || !it->second.mac) return;
  // A row that took the key meanwhile (one deleted, another inserted in one update) keeps it.
  auto owner = binding_owner_.find({*it->second.network, *it->second.mac});
  if (owner != binding_owner_.end() && owner->second == id) {
    index_.Unbind(owner->first.first, owner->first.second);
    binding_owner_.erase(owner);
  }
}

void PolicyFeed::IndexGroup(RowId id, const GroupRow& row, const std::string& uuid) {
  std::set<std::uint16_t> ports;
  for (auto port : row.ports) {
    if (port > 0 && port <= 0xffff) ports.insert(static_cast<std::uint16_t>(port));
  }
  auto allowance =
      row.protocol ? ovs::GroupAllowanceOf(*row.protocol, std::move(ports)) : std::nullopt;
  if (!row.name || !row.network || !allowance) {
    // A group the gateway did not write opens nothing.
    spdlog::warn(
        "policy: Group row {} is not a group (name, network, protocol: {}, {}, {}); "
        "ignored",
        uuid, row.name.value_or("?"), row.network.value_or("?"), row.protocol.value_or("?"));
    return;
  }
  index_.SetGroup({*row.name, *row.network, row.members, std::move(*allowance)});
  group_owner_[*row.name] = id;
}

void PolicyFeed::UnindexGroup(RowId id) {
  auto it = group_rows_.find(id);
  if (it == group_rows_.end() || !it->second.name) return;
  auto owner = group_owner_.find(*it->second.name);
  if (owner != group_owner_.end() && owner->second == id) {
    index_.RemoveGroup(owner->first);
    group_owner_.erase(owner);
  }
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
          .probe_timeouts = client_.counters().probe_timeouts,
          .request_timeouts = client_.counters().request_timeouts};
}

}  // namespace netd::policy
