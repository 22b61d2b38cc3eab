#include "netd/ovs/ovsdb_client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "reconnecting_stream.hpp"

namespace netd::ovs {

using nlohmann::json;

OvsdbClient::OvsdbClient(boost::asio::io_context& io, Remote remote, Options options)
    : io_(io), options_(std::move(options)) {
  stream_ = std::make_unique<ReconnectingStream>(
      io, std::move(remote), options_.tls,
      ReconnectingStream::Options{
          .peer = "ovsdb-server",
          .min_backoff = options_.min_backoff,
          .max_backoff = options_.max_backoff,
      },
      ReconnectingStream::Handlers{
          .connected = [this] { OnConnected(); },
          .received = [this](std::string_view bytes) { OnReceived(bytes); },
          .lost = [this](const std::string& why,
                         bool was_connected) { OnLost(why, was_connected); },
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

std::uint64_t OvsdbClient::version(const std::string& table, const std::string& uuid) const {
  auto it = versions_.find(table);
  if (it == versions_.end()) return 0;
  auto row = it->second.find(uuid);
  return row == it->second.end() ? 0 : row->second;
}

void OvsdbClient::ForEachChangedSince(
    const std::string& table, std::uint64_t version,
    const std::function<void(const std::string& uuid)>& visit) const {
  if (version >= last_version_) return;
  auto it = versions_.find(table);
  if (it == versions_.end()) return;
  for (const auto& [uuid, row_version] : it->second) {
    if (row_version > version) visit(uuid);
  }
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
  auto it = cache_.find(table);
  return it == cache_.end() ? kNone : it->second;
}

void OvsdbClient::OnConnected() {
  splitter_ = JsonStreamSplitter();
  spdlog::debug("ovsdb: connected to {}; asking for the monitor", ToString(stream_->remote()));
  json requests = json::object();
  for (const auto& [table, columns] : options_.tables) {
    requests[table] = columns.empty() ? json::object() : json{{"columns", columns}};
  }
  monitor_id_ = next_id_++;
  Send({{"id", monitor_id_},
        {"method", "monitor"},
        {"params", json::array({options_.database, "netd", requests})}});
}

void OvsdbClient::OnReceived(std::string_view bytes) {
  try {
    for (const auto& text : splitter_.Feed(bytes)) {
      Handle(json::parse(text));
      if (!stream_->connected()) return;
    }
  } catch (const std::exception& failure) {
    stream_->Drop(std::string("a message that is not JSON-RPC: ") + failure.what());
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
    } else if (*method == "update") {
      const auto& params = message.at("params");
      ApplyUpdates(params.at(1));
      ++counters_.updates;
      NotifyListeners();
    }
    return;
  }
  const auto& id = message.at("id");
  if (!id.is_number_unsigned()) return;
  auto number = id.get<std::uint64_t>();
  if (number == monitor_id_) {
    if (!message.value("error", json()).is_null()) {
      stream_->Drop("ovsdb-server refused the monitor: " + message["error"].dump());
      return;
    }
    cache_.clear();
    versions_.clear();
    for (const auto& entry : options_.tables) cache_[entry.first];
    ApplyUpdates(message.at("result"));
    synced_ = true;
    // Counted as connected only now: with TLS 1.3 the server checks netd's certificate after
    // the handshake, and a refusal shows only here, as a connection that closes at once.
    ++counters_.connects;
    last_failure_.clear();
    stream_->ResetBackoff();
    spdlog::info("ovsdb: connected to {}, monitoring {} tables of {}", ToString(stream_->remote()),
                 options_.tables.size(), options_.database);
    NotifyListeners();
    return;
  }
  auto pending = pending_.find(number);
  if (pending == pending_.end()) return;
  auto [operations, callback] = std::move(pending->second);
  pending_.erase(pending);
  TransactionResult result;
  if (!message.value("error", json()).is_null()) {
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

void OvsdbClient::ApplyUpdates(const json& table_updates) {
  for (const auto& [table, rows] : table_updates.items()) {
    auto& cached = cache_[table];
    auto& versions = versions_[table];
    for (const auto& [uuid, change] : rows.items()) {
      if (auto row = change.find("new"); row != change.end()) {
        cached[uuid] = *row;
        versions[uuid] = ++last_version_;
      } else {
        cached.erase(uuid);
        versions.erase(uuid);
      }
    }
  }
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
}

void OvsdbClient::Send(const json& message) {
  stream_->Write(message.dump());
}

void OvsdbClient::OnLost(const std::string& why, bool was_connected) {
  bool established = was_connected && synced_;
  synced_ = false;
  cache_.clear();
  versions_.clear();
  auto remote = ToString(stream_->remote());
  if (established) {
    ++counters_.disconnects;
    spdlog::warn("ovsdb: disconnected from {}: {}", remote, why);
  } else {
    ++counters_.connect_failures;
    // Once until the reason changes: ovsdb-server may stay away for long, and a TLS setting
    // that does not fit fails every attempt the same way.
    if (why != last_failure_) spdlog::warn("ovsdb: {}: {}; retrying", remote, why);
    last_failure_ = why;
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
