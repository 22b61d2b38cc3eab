#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "netd/ovs/json_stream.hpp"
#include "netd/ovs/remote.hpp"

namespace netd::ovs {

class ReconnectingStream;

// An OVSDB client (RFC 7047, JSON-RPC to ovsdb-server over its unix socket, TCP or TLS) on the
// caller's Asio loop. It keeps a cache of the monitored tables, the observed state, by monitoring
// them whole; sends transactions and checks every operation's result; answers the server's echo;
// and when the connection drops it reconnects with backoff and monitors afresh, assuming nothing
// about transactions that were in flight (their callbacks hear that the outcome is unknown).
class OvsdbClient {
 public:
  struct Options {
    std::string database = "Open_vSwitch";
    // The monitored tables and their columns (none listed: all). Only the columns netd reads:
    // ovs-vswitchd rewrites others (statistics, status) of every interface every few seconds.
    std::map<std::string, std::vector<std::string>> tables = {
        {"Open_vSwitch", {"bridges"}},
        {"Bridge", {"name", "ports", "datapath_type", "fail_mode", "external_ids"}},
        {"Port", {"name", "interfaces", "tag", "trunks", "external_ids"}},
        {"Interface", {"name", "type", "ofport", "mac_in_use", "external_ids"}},
    };
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
    TlsFiles tls;  // an ssl: remote's
  };
  // uuid -> the row's columns, in OVSDB's JSON notation.
  using Rows = std::map<std::string, nlohmann::json>;

  OvsdbClient(boost::asio::io_context& io, Remote remote, Options options);
  // The unix socket `socket`, with the default options.
  OvsdbClient(boost::asio::io_context& io, const std::filesystem::path& socket);
  ~OvsdbClient();
  OvsdbClient(const OvsdbClient&) = delete;
  OvsdbClient& operator=(const OvsdbClient&) = delete;

  // Connects (and keeps reconnecting) until Stop.
  void Start();
  void Stop();

  // Whether the cache holds the database's current state (monitor answered, connection up).
  bool synced() const { return synced_; }
  // The monitored rows of `table` (empty while not synced).
  const Rows& rows(const std::string& table) const;
  // A number that changes whenever the row changes (never reused, also across reconnects);
  // 0 for a row not in the cache. Lets a reader redo only the work of rows that changed.
  std::uint64_t version(const std::string& table, const std::string& uuid) const;
  // The newest version in the cache.
  std::uint64_t last_version() const { return last_version_; }
  // Calls `visit` with the uuid of every row of `table` changed or added after `version`
  // (rows deleted since are gone: a reader notices through the rows that referenced them).
  void ForEachChangedSince(const std::string& table, std::uint64_t version,
                           const std::function<void(const std::string& uuid)>& visit) const;
  // A listener's registration; destroying it ends the calls.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept = default;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription();

   private:
    friend class OvsdbClient;
    using Listeners = std::map<std::uint64_t, std::function<void()>>;
    Subscription(std::weak_ptr<Listeners> listeners, std::uint64_t id)
        : listeners_(std::move(listeners)), id_(id) {}
    std::weak_ptr<Listeners> listeners_;
    std::uint64_t id_ = 0;
  };
  // `on_change` is called on the loop after the cache changed: the first sync after each
  // connect, every update the server sends, and a lost connection; until the subscription
  // or the client goes.
  [[nodiscard]] Subscription Subscribe(std::function<void()> on_change);

  // The outcome of a transaction: `results` (one per operation) when every operation
  // succeeded; otherwise `error` says which operation failed and why, or that the connection
  // dropped before the answer (then the transaction may or may not have been committed).
  struct TransactionResult {
    nlohmann::json results;
    std::string error;
    bool ok() const { return error.empty(); }
  };
  using TransactCallback = std::function<void(const TransactionResult&)>;
  // Sends `operations` (an array of RFC 7047 operations, e.g. a "wait" guard first) as one
  // transaction. Without a connection the callback hears so at once (from the loop).
  void Transact(nlohmann::json operations, TransactCallback callback);

  struct Counters {
    std::uint64_t connects = 0;  // connections that reached the monitor's answer
    std::uint64_t disconnects = 0;
    // Attempts that never got that far: nothing listening, refused, a failed TLS handshake,
    // a connection closed before the monitor's answer (ovsdb-server refusing netd's
    // certificate under TLS 1.3).
    std::uint64_t connect_failures = 0;
    std::uint64_t transactions = 0;
    std::uint64_t failed_transactions = 0;
    std::uint64_t echoes = 0;  // echo requests of the server answered
    std::uint64_t updates = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  void OnConnected();
  void OnReceived(std::string_view bytes);
  void OnLost(const std::string& why, bool was_connected);
  void Handle(const nlohmann::json& message);
  void ApplyUpdates(const nlohmann::json& table_updates);
  void Send(const nlohmann::json& message);

  boost::asio::io_context& io_;
  Options options_;
  std::unique_ptr<ReconnectingStream> stream_;
  std::string last_failure_;  // of connecting, logged once until it changes
  JsonStreamSplitter splitter_;
  std::map<std::string, Rows> cache_;
  std::map<std::string, std::map<std::string, std::uint64_t>> versions_;
  std::uint64_t last_version_ = 0;
  // Transactions waiting for their answer, with their operations (to name a failed one).
  std::map<std::uint64_t, std::pair<nlohmann::json, TransactCallback>> pending_;
  std::uint64_t next_id_ = 1;
  std::uint64_t monitor_id_ = 0;
  bool synced_ = false;
  void NotifyListeners();
  std::shared_ptr<Subscription::Listeners> listeners_ = std::make_shared<Subscription::Listeners>();
  std::uint64_t next_listener_ = 1;
  Counters counters_;
};

}  // namespace netd::ovs
