#include "netd/ovs/ovsdb_client.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <optional>
#include <stdexcept>

#include "ovsdb_datum.hpp"
#include "ovsdb_rows.hpp"
#include "reconnecting_stream.hpp"

namespace netd::ovs {

using nlohmann::json;

namespace {

// The <json-value>s that name netd's monitors in update notifications.
constexpr const char* kDataMonitor = "netd";
constexpr const char* kServerMonitor = "netd-server";
// monitor_cond_since's "no transaction known": the server sends everything.
constexpr const char* kNoTransaction = "00000000-0000-0000-0000-000000000000";

bool IsError(const json& message) {
  auto error = message.find("error");
  return error != message.end() && !error->is_null();
}

// A <table-update> of RFC 7047's monitor: each row's "new" state, or none when deleted.
void ApplyRowUpdates(OvsdbClient::Rows& cached, const json& rows,
                     const std::function<void(const std::string& uuid, bool deleted)>& changed) {
  for (const auto& [uuid, change] : rows.items()) {
    if (auto row = change.find("new"); row != change.end()) {
      cached[uuid] = *row;
      changed(uuid, false);
    } else {
      cached.erase(uuid);
      changed(uuid, true);
    }
  }
}

}  // namespace

// What one connection is doing: its requests in flight, what it learnt of the server.
struct OvsdbClient::Connection {
  std::uint64_t schema_id = 0;
  std::uint64_t server_monitor_id = 0;
  std::uint64_t monitor_id = 0;
  bool monitor_since = false;         // the monitor in flight is monitor_cond_since
  std::optional<datum::Types> types;  // of the database's columns, from get_schema
  bool server_known = false;          // `_Server`'s rows arrived (or it has none)
  bool server_missing = false;        // a server older than `_Server`, so no clusters either
  Rows server_rows;                   // `_Server`'s Database table
  bool refused = false;               // dropped by the cluster check
};

OvsdbClient::OvsdbClient(boost::asio::io_context& io, Remote remote, Options options)
    : OvsdbClient(io, std::vector<Remote>{std::move(remote)}, std::move(options)) {}

OvsdbClient::OvsdbClient(boost::asio::io_context& io, std::vector<Remote> remotes, Options options)
    : io_(io), options_(std::move(options)), last_txn_id_(kNoTransaction) {
  if (!options_.handed_tables.empty() && !options_.row_handler) {
    throw std::invalid_argument("OvsdbClient: handed tables without a row handler");
  }
  stream_ = std::make_unique<ReconnectingStream>(
      io, std::move(remotes), options_.tls,
      ReconnectingStream::Options{
          .peer = "ovsdb-server",
          .min_backoff = options_.min_backoff,
          .max_backoff = options_.max_backoff,
          .inactivity_probe = options_.inactivity_probe,
          .request_timeout = options_.request_timeout,
      },
      ReconnectingStream::Handlers{
          .connected = [this] { OnConnected(); },
          .received = [this](std::string_view bytes) { OnReceived(bytes); },
          .lost = [this](const std::string& why,
                         bool was_connected) { OnLost(why, was_connected); },
          .probe = [this] { Request("echo", json::array()); },
      });
}

OvsdbClient::OvsdbClient(boost::asio::io_context& io, const std::filesystem::path& socket)
    : OvsdbClient(io, Remote::Unix(socket), Options{}) {}

OvsdbClient::~OvsdbClient() {
  // Whoever listens may be gone already: neither the change listener nor the callbacks of
  // transactions in flight hear of this end.
  listeners_->clear();
  pending_.clear();
  Stop();
}

const Remote& OvsdbClient::remote() const {
  return stream_->remote();
}

void OvsdbClient::Start() {
  stream_->Start();
}

void OvsdbClient::Stop() {
  stream_->Stop();
}

OvsdbClient::Subscription& OvsdbClient::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    if (auto listeners = listeners_.lock()) listeners->erase(id_);
    listeners_ = std::move(other.listeners_);
    id_ = other.id_;
  }
  return *this;
}

OvsdbClient::Subscription::~Subscription() {
  if (auto listeners = listeners_.lock()) listeners->erase(id_);
}

std::uint64_t OvsdbClient::RowVersions::Of(const std::string& uuid) const {
  auto row = by_uuid_.find(uuid);
  return row == by_uuid_.end() ? 0 : row->second;
}

void OvsdbClient::RowVersions::Set(const std::string& uuid, std::uint64_t version) {
  auto [row, added] = by_uuid_.try_emplace(uuid, version);
  if (!added) {
    by_version_.erase(row->second);
    row->second = version;
  }
  by_version_.emplace(version, &row->first);
}

void OvsdbClient::RowVersions::Erase(const std::string& uuid) {
  auto row = by_uuid_.find(uuid);
  if (row == by_uuid_.end()) return;
  by_version_.erase(row->second);
  by_uuid_.erase(row);
}

void OvsdbClient::RowVersions::ForEachSince(
    std::uint64_t version, const std::function<void(const std::string& uuid)>& visit) const {
  for (auto it = by_version_.upper_bound(version); it != by_version_.end(); ++it) {
    visit(*it->second);
  }
}

std::uint64_t OvsdbClient::version(const std::string& table, const std::string& uuid) const {
  if (!synced_) return 0;
  auto it = versions_.find(table);
  return it == versions_.end() ? 0 : it->second.Of(uuid);
}

void OvsdbClient::ForEachChangedSince(
    const std::string& table, std::uint64_t version,
    const std::function<void(const std::string& uuid)>& visit) const {
  if (!synced_ || version >= last_version_) return;
  auto it = versions_.find(table);
  if (it != versions_.end()) it->second.ForEachSince(version, visit);
}

OvsdbClient::Subscription OvsdbClient::Subscribe(std::function<void()> on_change) {
  auto id = next_listener_++;
  listeners_->emplace(id, std::move(on_change));
  return Subscription(listeners_, id);
}

void OvsdbClient::NotifyListeners() {
  // A listener may end its own or another's subscription while being called.
  std::vector<std::uint64_t> ids;
  for (const auto& entry : *listeners_) ids.push_back(entry.first);
  auto listeners = listeners_;
  for (auto id : ids) {
    auto it = listeners->find(id);
    if (it == listeners->end()) continue;
    auto listener = it->second;
    listener();
  }
}

const OvsdbClient::Rows& OvsdbClient::rows(const std::string& table) const {
  static const Rows kNone;
  // The cache of a lost connection stays for resuming, but is not the current state.
  if (!synced_) return kNone;
  auto it = cache_.find(table);
  return it == cache_.end() ? kNone : it->second;
}

void OvsdbClient::OnConnected() {
  splitter_ = JsonStreamSplitter();
  connection_ = std::make_unique<Connection>();
  spdlog::debug("ovsdb: connected to {}; asking for the schema", ToString(stream_->remote()));
  // The column types tell a set of one element, sent bare, from a single value, and give the
  // values that monitor_cond_since leaves out of rows.
  connection_->schema_id = Request("get_schema", json::array({options_.database}));
  if (options_.cluster != Cluster::kAny) {
    json columns = json::array({"name", "model", "connected", "leader", "index"});
    connection_->server_monitor_id =
        Request("monitor",
                json::array({"_Server", kServerMonitor, {{"Database", {{"columns", columns}}}}}));
  }
}

void OvsdbClient::OnReceived(std::string_view bytes) {
  try {
    for (const auto& text : splitter_.Feed(bytes)) {
      Handle(json::parse(text));
      if (!stream_->connected()) return;
    }
  } catch (const std::exception& failure) {
    // The cache may hold part of a change: the next sync replaces it whole.
    last_txn_id_ = kNoTransaction;
    stream_->Drop(std::string("a message netd cannot use: ") + failure.what());
  }
  if (trim_heap_) {
    // A whole database arrived as one message, parsed at once: the heap it took is free now,
    // and glibc keeps free memory of the heap's middle unless asked (a host's RSS after its
    // first sync of 30,000 bindings: 110 MiB before, 86 after).
    trim_heap_ = false;
    malloc_trim(0);
  }
}

void OvsdbClient::Handle(const json& message) {
  if (!message.is_object()) throw std::runtime_error("a message that is not an object");
  if (auto method = message.find("method"); method != message.end()) {
    if (*method == "echo") {
      ++counters_.echoes;
      Send({{"id", message.value("id", json())},
            {"result", message.value("params", json::array())},
            {"error", nullptr}});
    } else if (method->is_string()) {
      HandleNotification(method->get<std::string>(), message.value("params", json::array()));
    }
    return;
  }
  const auto& id = message.at("id");
  if (!id.is_number_unsigned()) return;
  auto number = id.get<std::uint64_t>();
  stream_->Answered(number);
  auto& connection = *connection_;
  if (number == connection.schema_id) {
    HandleSchema(message);
  } else if (number == connection.server_monitor_id) {
    HandleServerRows(message);
  } else if (number == connection.monitor_id) {
    HandleMonitorAnswer(message);
  } else if (pending_.contains(number)) {
    HandleTransactionAnswer(number, message);
  }
  // Else an echo's answer: that the server answered is all a probe asks.
}

void OvsdbClient::HandleNotification(const std::string& method, const json& params) {
  if (method == "update" && params.at(0) == kServerMonitor) {
    for (const auto& [table, rows] : params.at(1).items()) {
      if (table == "Database") ApplyRowUpdates(connection_->server_rows, rows, [](auto&&...) {});
    }
    // A member that lost the cluster or its leadership is given up like one that never had it.
    CheckCluster();
    return;
  }
  if (method == "update") {  // a server that knew no monitor_cond_since
    ApplyUpdates(params.at(1));
  } else if (method == "update3") {
    last_txn_id_ = params.at(1).get<std::string>();
    ApplyUpdates2(params.at(2));
  } else {
    return;
  }
  ++counters_.updates;
  NotifyListeners();
}

void OvsdbClient::HandleSchema(const json& message) {
  if (IsError(message)) {
    stream_->Drop(fmt::format("ovsdb-server has no database {}: {}", options_.database,
                              message["error"].dump()));
    return;
  }
  connection_->types = datum::ParseTypes(message.at("result"));
  MonitorWhenReady();
}

void OvsdbClient::HandleServerRows(const json& message) {
  auto& connection = *connection_;
  connection.server_known = true;
  if (IsError(message)) {
    // Before Open vSwitch 2.9 there was neither `_Server` nor clustered databases.
    spdlog::info("ovsdb: {} has no _Server database ({}); taking it as standalone",
                 ToString(stream_->remote()), message["error"].dump());
    connection.server_missing = true;
  } else if (const auto& tables = message.at("result"); tables.contains("Database")) {
    ApplyRowUpdates(connection.server_rows, tables["Database"], [](auto&&...) {});
  }
  if (CheckCluster()) MonitorWhenReady();
}

bool OvsdbClient::CheckCluster() {
  const auto& connection = *connection_;
  if (options_.cluster == Cluster::kAny || !connection.server_known || connection.server_missing) {
    return true;
  }
  const auto* row = rows::FindNamed(connection.server_rows, options_.database);
  const auto& database = options_.database;
  std::string why;
  if (!row) {
    why = fmt::format("the server has no database {}", database);
  } else if (rows::Column(row->second, "model") != "standalone") {
    // Clustered (or a relay, which is never the leader).
    auto index = rows::OptionalInteger(rows::Column(row->second, "index"));
    if (rows::Column(row->second, "connected") != true) {
      why = fmt::format("the server is not connected to the cluster of {}", database);
    } else if (options_.cluster == Cluster::kLeader &&
               rows::Column(row->second, "leader") != true) {
      why = fmt::format("the server is not the leader of the cluster of {}", database);
    } else if (index && static_cast<std::uint64_t>(*index) < min_index_) {
      why = fmt::format("the server's {} is older than what netd has seen (index {} < {})",
                        database, *index, min_index_);
    } else if (index) {
      min_index_ = std::max(min_index_, static_cast<std::uint64_t>(*index));
    }
  }
  if (why.empty()) return true;
  ++counters_.cluster_refusals;
  connection_->refused = true;
  stream_->Drop(why);
  return false;
}

void OvsdbClient::MonitorWhenReady() {
  const auto& connection = *connection_;
  if (!connection.types || connection.monitor_id != 0) return;
  if (options_.cluster != Cluster::kAny && !connection.server_known) return;
  SendMonitor(true);
}

void OvsdbClient::SendMonitor(bool since) {
  json requests = json::object();
  for (const auto& [table, columns] : options_.tables) {
    requests[table] = columns.empty() ? json::object() : json{{"columns", columns}};
  }
  connection_->monitor_since = since;
  connection_->monitor_id =
      since ? Request("monitor_cond_since",
                      json::array({options_.database, kDataMonitor, requests, last_txn_id_}))
            : Request("monitor", json::array({options_.database, kDataMonitor, requests}));
}

void OvsdbClient::HandleMonitorAnswer(const json& message) {
  auto remote = ToString(stream_->remote());
  if (IsError(message)) {
    if (connection_->monitor_since) {
      spdlog::info("ovsdb: {} refused monitor_cond_since ({}); monitoring with monitor", remote,
                   message["error"].dump());
      SendMonitor(false);
    } else {
      stream_->Drop("ovsdb-server refused the monitor: " + message["error"].dump());
    }
    return;
  }
  const auto& result = message.at("result");
  bool resumed = false;
  auto reset = [this] {
    cache_.clear();
    versions_.clear();
    for (const auto& entry : options_.tables) {
      if (Handed(entry.first)) {
        Hand(RowUpdate::Kind::kClear, entry.first, {}, {});
      } else {
        cache_[entry.first];
      }
    }
  };
  if (connection_->monitor_since) {
    // [found, last-txn-id, table-updates2]: found, the changes after the transaction netd
    // named; otherwise the whole database.
    resumed = result.at(0).get<bool>();
    if (!resumed) reset();
    ApplyUpdates2(result.at(2));
    last_txn_id_ = result.at(1).get<std::string>();
  } else {
    reset();
    ApplyUpdates(result);
    last_txn_id_ = kNoTransaction;
  }
  synced_ = true;
  ++(resumed ? counters_.resumed_syncs : counters_.full_syncs);
  trim_heap_ = !resumed;
  // Counted as connected only now: with TLS 1.3 the server checks netd's certificate after
  // the handshake, and a refusal shows only here, as a connection that closes at once.
  ++counters_.connects;
  failures_.clear();
  stream_->ResetBackoff();
  spdlog::info("ovsdb: connected to {}, monitoring {} tables of {} ({})", remote,
               options_.tables.size(), options_.database,
               resumed ? "resumed after the last transaction seen" : "all rows");
  NotifyListeners();
}

void OvsdbClient::HandleTransactionAnswer(std::uint64_t id, const json& message) {
  auto pending = pending_.find(id);
  if (pending == pending_.end()) return;
  auto [operations, callback] = std::move(pending->second);
  pending_.erase(pending);
  TransactionResult result;
  if (IsError(message)) {
    result.error = "ovsdb-server refused the transaction: " + message["error"].dump();
  } else {
    result.results = message.value("result", json::array());
    for (std::size_t i = 0; i < result.results.size(); ++i) {
      const auto& outcome = result.results[i];
      if (!outcome.is_object() || !outcome.contains("error")) continue;
      auto what = i < operations.size()
                      ? fmt::format("operation {} ({} {})", i, operations[i].value("op", "?"),
                                    operations[i].value("table", ""))
                      : std::string("the commit");
      result.error = fmt::format("{} failed: {}: {}", what, outcome["error"].dump(),
                                 outcome.value("details", ""));
      break;
    }
  }
  ++counters_.transactions;
  if (!result.ok()) ++counters_.failed_transactions;
  callback(result);
}

bool OvsdbClient::Handed(const std::string& table) const {
  return options_.handed_tables.contains(table);
}

void OvsdbClient::Hand(RowUpdate::Kind kind, const std::string& table, const std::string& uuid,
                       const json& value) const {
  options_.row_handler(RowUpdate{kind, table, uuid, value});
}

void OvsdbClient::ApplyUpdates(const json& table_updates) {
  for (const auto& [table, rows] : table_updates.items()) {
    if (Handed(table)) {
      // RFC 7047's "new" holds every monitored column, also for a modify.
      for (const auto& [uuid, change] : rows.items()) {
        if (auto row = change.find("new"); row != change.end()) {
          Hand(RowUpdate::Kind::kPut, table, uuid, WithDefaults(table, *row));
        } else {
          Hand(RowUpdate::Kind::kRemove, table, uuid, {});
        }
      }
      continue;
    }
    auto& versions = versions_[table];
    ApplyRowUpdates(cache_[table], rows, [&](const std::string& uuid, bool deleted) {
      if (deleted) {
        versions.Erase(uuid);
      } else {
        versions.Set(uuid, ++last_version_);
      }
    });
  }
}

void OvsdbClient::ApplyUpdates2(const json& table_updates) {
  static const std::map<std::string, datum::ColumnType> kNoTypes;
  for (const auto& [table, rows] : table_updates.items()) {
    if (Handed(table)) {
      HandUpdates2(table, rows);
      continue;
    }
    auto& cached = cache_[table];
    auto& versions = versions_[table];
    auto types = connection_->types->find(table);
    const auto& columns = types == connection_->types->end() ? kNoTypes : types->second;
    for (const auto& [uuid, change] : rows.items()) {
      const json* whole = nullptr;
      for (const char* kind : {"initial", "insert"}) {
        if (auto it = change.find(kind); it != change.end()) whole = &*it;
      }
      if (whole) {
        cached[uuid] = WithDefaults(table, *whole);
      } else if (change.contains("delete")) {
        cached.erase(uuid);
        versions.Erase(uuid);
        continue;
      } else if (auto diff = change.find("modify"); diff != change.end()) {
        auto row = cached.find(uuid);
        if (row == cached.end()) {
          throw std::runtime_error(
              fmt::format("a change of row {} of {}, which netd does not have", uuid, table));
        }
        for (const auto& [column, value] : diff->items()) {
          auto type = columns.find(column);
          if (type == columns.end()) {
            row->second[column] = value;  // _version, a single uuid
            continue;
          }
          auto old = row->second.contains(column) ? row->second[column]
                                                  : datum::DefaultValue(type->second);
          row->second[column] = datum::ApplyDiff(old, value, type->second);
        }
      } else {
        throw std::runtime_error("a row update that is none of initial, insert, delete, modify: " +
                                 change.dump());
      }
      versions.Set(uuid, ++last_version_);
    }
  }
}

void OvsdbClient::HandUpdates2(const std::string& table, const json& rows) const {
  for (const auto& [uuid, change] : rows.items()) {
    auto whole = change.find("initial");
    if (whole == change.end()) whole = change.find("insert");
    if (whole != change.end()) {
      Hand(RowUpdate::Kind::kPut, table, uuid, WithDefaults(table, *whole));
    } else if (change.contains("delete")) {
      Hand(RowUpdate::Kind::kRemove, table, uuid, {});
    } else if (auto diff = change.find("modify"); diff != change.end()) {
      Hand(RowUpdate::Kind::kModify, table, uuid, *diff);
    } else {
      throw std::runtime_error("a row update that is none of initial, insert, delete, modify: " +
                               change.dump());
    }
  }
}

json OvsdbClient::WithDefaults(const std::string& table, json row) const {
  auto types = connection_->types->find(table);
  if (types == connection_->types->end()) return row;
  auto fill = [&](const std::string& column) {
    auto type = types->second.find(column);
    if (type != types->second.end() && !row.contains(column)) {
      row[column] = datum::DefaultValue(type->second);
    }
  };
  auto monitored = options_.tables.find(table);
  if (monitored != options_.tables.end() && !monitored->second.empty()) {
    for (const auto& column : monitored->second) fill(column);
  } else {
    for (const auto& entry : types->second) fill(entry.first);
  }
  return row;
}

void OvsdbClient::Transact(json operations, TransactCallback callback) {
  if (!stream_->connected()) {
    boost::asio::post(io_, [callback = std::move(callback)] {
      callback({json(), "not connected to ovsdb-server"});
    });
    return;
  }
  auto id = next_id_++;
  json params = json::array({options_.database});
  for (const auto& operation : operations) params.push_back(operation);
  pending_.emplace(id, std::make_pair(std::move(operations), std::move(callback)));
  Send({{"id", id}, {"method", "transact"}, {"params", params}});
  stream_->Awaiting(id);
}

void OvsdbClient::Send(const json& message) {
  stream_->Write(message.dump());
}

std::uint64_t OvsdbClient::Request(const std::string& method, json params) {
  auto id = next_id_++;
  Send({{"id", id}, {"method", method}, {"params", std::move(params)}});
  stream_->Awaiting(id);
  return id;
}

void OvsdbClient::OnLost(const std::string& why, bool was_connected) {
  bool established = was_connected && synced_;
  bool refused = connection_ && connection_->refused;
  connection_.reset();
  counters_.probe_timeouts = stream_->counters().probe_timeouts;
  counters_.request_timeouts = stream_->counters().request_timeouts;
  // The cache stays, hidden, for monitor_cond_since to resume from.
  synced_ = false;
  auto remote = ToString(stream_->remote());
  if (established) {
    ++counters_.disconnects;
    spdlog::warn("ovsdb: disconnected from {}: {}", remote, why);
  } else {
    ++counters_.connect_failures;
    // Once per remote until the reason changes: ovsdb-server may stay away for long, a TLS
    // setting that does not fit fails every attempt the same way, and a cluster's followers
    // refuse a leader-only client every round.
    auto& last = failures_[remote];
    if (why != last) {
      spdlog::log(refused ? spdlog::level::info : spdlog::level::warn, "ovsdb: {}: {}; {}", remote,
                  why, refused ? "trying another" : "retrying");
    }
    last = why;
  }
  // Nothing is assumed about transactions in flight: they may or may not have committed.
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, entry] : pending) {
    ++counters_.failed_transactions;
    entry.second({json(), "the connection to ovsdb-server was lost before the answer (" + why +
                              "); the transaction may or may not have been committed"});
  }
  if (was_connected) NotifyListeners();
}

}  // namespace netd::ovs
