#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netd/ovs/json_stream.hpp"
#include "netd/ovs/remote.hpp"

namespace netd::ovs {

class ReconnectingStream;

// An OVSDB client (RFC 7047, JSON-RPC to ovsdb-server over its unix socket, TCP or TLS) on the
// caller's Asio loop. It keeps a cache of the monitored tables, the observed state, by monitoring
// them whole; sends transactions and checks every operation's result; answers the server's echo
// and probes a silent one with its own; and when the connection drops it reconnects with
// backoff, to the next of its remotes, assuming nothing about transactions that were in flight
// (their callbacks hear that the outcome is unknown). It monitors with monitor_cond_since, so
// that after a reconnect a server that still knows the last transaction netd saw sends only
// what changed since (Open vSwitch's ovsdb-server(7)); with a clustered database it may insist
// on a member connected to the cluster, or on the leader, as `_Server` reports them.
class OvsdbClient {
 public:
  // Which member of a clustered database will do (a standalone database always does).
  enum class Cluster {
    kAny,        // whatever the remote is: no look at `_Server`
    kConnected,  // a member connected to the cluster, with data no older than seen before
    kLeader,     // the cluster's leader, such as a writer wants
  };
  // A change of a handed table's rows (Options::handed_tables), in the order the server sent
  // them; the update's end is the subscribers' call.
  struct RowUpdate {
    enum class Kind {
      kClear,   // a whole sync begins: every row of `table` is gone (uuid and value empty)
      kPut,     // a row appeared, or all its columns are `value` (defaults filled in)
      kModify,  // the columns in `value` changed: update2's diff (an atomic column's new value;
                // a set's or map's elements to toggle)
      kRemove,  // the row is gone
    };
    Kind kind;
    const std::string& table;
    const std::string& uuid;
    const nlohmann::json& value;
  };
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
    Cluster cluster = Cluster::kAny;
    // Nothing received for this long: an echo request; nothing for as long again: the
    // connection is given up (a server or path that died without closing it). 0: never.
    std::chrono::milliseconds inactivity_probe{5000};
    // A request (a transaction, the schema, the monitor) unanswered for this long: the
    // connection is given up and the transaction's callback hears it lost (a member that
    // answers echoes but never commits). 0: never.
    std::chrono::milliseconds request_timeout{30000};
    // Tables whose rows go to `row_handler` as they change instead of into the cache (rows()
    // of them stays empty, and they have no versions): for a reader that keeps them in a form
    // of its own, as a host keeps 30,000 bindings in a fraction of what JSON objects cost.
    std::set<std::string> handed_tables = {};
    std::function<void(const RowUpdate&)> row_handler = {};
  };
  // uuid -> the row's columns, in OVSDB's JSON notation.
  using Rows = std::map<std::string, nlohmann::json>;

  OvsdbClient(boost::asio::io_context& io, Remote remote, Options options);
  // Tries `remotes` in turn (the members of a cluster): after a failed attempt, a lost
  // connection or a member the cluster check refused, the next one. Not empty
  // (std::invalid_argument).
  OvsdbClient(boost::asio::io_context& io, std::vector<Remote> remotes, Options options);
  // The unix socket `socket`, with the default options.
  OvsdbClient(boost::asio::io_context& io, const std::filesystem::path& socket);
  ~OvsdbClient();
  OvsdbClient(const OvsdbClient&) = delete;
  OvsdbClient& operator=(const OvsdbClient&) = delete;

  // Connects (and keeps reconnecting) until Stop.
  void Start();
  void Stop();

  // The remote connected, being tried, or tried next.
  const Remote& remote() const;
  // Whether the cache holds the database's current state (monitor answered, connection up).
  bool synced() const { return synced_; }
  // The monitored rows of `table` (empty while not synced).
  const Rows& rows(const std::string& table) const;
  // A number that changes whenever the row changes (never reused, also across reconnects);
  // 0 for a row not in the cache (or while not synced). Lets a reader redo only the work of
  // rows that changed: after a reconnect that resumed, only rows changed meanwhile have new
  // versions; after one that did not, all rows have.
  std::uint64_t version(const std::string& table, const std::string& uuid) const;
  // The newest version in the cache.
  std::uint64_t last_version() const { return last_version_; }
  // Calls `visit` with the uuid of every row of `table` changed or added after `version`
  // (rows deleted since are gone: a reader notices through the rows that referenced them);
  // none while not synced.
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
    // certificate under TLS 1.3), a member the cluster check refused, a silent server.
    std::uint64_t connect_failures = 0;
    std::uint64_t transactions = 0;
    std::uint64_t failed_transactions = 0;
    std::uint64_t echoes = 0;  // echo requests of the server answered
    std::uint64_t updates = 0;
    // Syncs that kept the cache and applied only the changes since the last transaction seen
    // (monitor_cond_since found it), and those that replaced the cache whole.
    std::uint64_t resumed_syncs = 0;
    std::uint64_t full_syncs = 0;
    // Members given up because `_Server` showed them unfit (Options::cluster): not connected
    // to the cluster, not the leader, behind what netd saw, or without the database; before
    // the sync (also a connect failure) or after (also a disconnect).
    std::uint64_t cluster_refusals = 0;
    // Connections given up because the server answered nothing, not even the echo request.
    std::uint64_t probe_timeouts = 0;
    std::uint64_t request_timeouts = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Connection;

  void OnConnected();
  void OnReceived(std::string_view bytes);
  void OnLost(const std::string& why, bool was_connected);
  void Handle(const nlohmann::json& message);
  void HandleNotification(const std::string& method, const nlohmann::json& params);
  void HandleSchema(const nlohmann::json& message);
  void HandleServerRows(const nlohmann::json& message);
  void HandleMonitorAnswer(const nlohmann::json& message);
  void HandleTransactionAnswer(std::uint64_t id, const nlohmann::json& message);
  // Sends the database's monitor once the schema and, if asked for, `_Server` allow.
  void MonitorWhenReady();
  void SendMonitor(bool since);
  // Whether the member fits Options::cluster; drops the connection when not.
  bool CheckCluster();
  void ApplyUpdates(const nlohmann::json& table_updates);
  void ApplyUpdates2(const nlohmann::json& table_updates);
  nlohmann::json WithDefaults(const std::string& table, nlohmann::json row) const;
  bool Handed(const std::string& table) const;
  void Hand(RowUpdate::Kind kind, const std::string& table, const std::string& uuid,
            const nlohmann::json& value) const;
  void HandUpdates2(const std::string& table, const nlohmann::json& rows) const;
  void Send(const nlohmann::json& message);
  std::uint64_t Request(const std::string& method, nlohmann::json params);

  boost::asio::io_context& io_;
  Options options_;
  std::unique_ptr<ReconnectingStream> stream_;
  // Per remote, the reason its last attempt failed, logged once until it changes.
  std::map<std::string, std::string> failures_;
  JsonStreamSplitter splitter_;
  // Kept while disconnected (rows() hides it) for monitor_cond_since to resume from.
  std::map<std::string, Rows> cache_;
  // Each row's version, and the rows in the order they last changed, so that a reader's pass
  // over what changed since its last one costs the changes, not the table.
  class RowVersions {
   public:
    std::uint64_t Of(const std::string& uuid) const;
    void Set(const std::string& uuid, std::uint64_t version);
    void Erase(const std::string& uuid);
    void ForEachSince(std::uint64_t version,
                      const std::function<void(const std::string& uuid)>& visit) const;

   private:
    std::map<std::string, std::uint64_t> by_uuid_;
    // Points at by_uuid_'s keys, whose nodes stay put.
    std::map<std::uint64_t, const std::string*> by_version_;
  };
  std::map<std::string, RowVersions> versions_;
  std::uint64_t last_version_ = 0;
  // The last transaction of the cache (all zeros: none known, so the next sync is whole).
  std::string last_txn_id_;
  // The highest `_Server` index seen of a clustered database: a member behind it would take
  // netd back in time.
  std::uint64_t min_index_ = 0;
  // Transactions waiting for their answer, with their operations (to name a failed one).
  std::map<std::uint64_t, std::pair<nlohmann::json, TransactCallback>> pending_;
  std::uint64_t next_id_ = 1;
  // What the current connection is doing (requests in flight, schema, `_Server`'s rows).
  std::unique_ptr<Connection> connection_;
  bool synced_ = false;
  // A whole sync was handled: trim the heap once the message is gone.
  bool trim_heap_ = false;
  void NotifyListeners();
  std::shared_ptr<Subscription::Listeners> listeners_ = std::make_shared<Subscription::Listeners>();
  std::uint64_t next_listener_ = 1;
  Counters counters_;
  // Timer handlers check it: the client may be gone when a cancelled wait completes.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netd::ovs
