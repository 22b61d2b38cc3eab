#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netd/common/clock.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/policy/publish_plan.hpp"
#include "netd/policy/published.hpp"

namespace netd::policy {

class KeyIndex;

struct PublisherOptions {
  std::vector<ovs::Remote> remotes = {};  // the database's servers (a cluster's members); not empty
  ovs::TlsFiles tls = {};                 // an ssl: remote's
  // ovsdb-server remotes for the hosts, kept as read-only Connection rows referenced by
  // Policy.connections, which ovsdb-server reads with --remote=db:netd_policy,Policy,connections.
  std::vector<std::string> host_listeners = {};  // "pssl:6642:192.0.2.10"
  std::size_t chunk_rows = 1000;                 // row operations per transaction
  // After a failed transaction (and between connection attempts), doubling up to max_retry.
  std::chrono::milliseconds min_retry{100};
  std::chrono::milliseconds max_retry{5000};
  // OvsdbClient::Options' inactivity_probe and request_timeout.
  std::chrono::milliseconds probe_interval{5000};
  std::chrono::milliseconds request_timeout{30000};
};

// Keeps the policy database equal to the store's bindings and groups (the store stays the
// source of truth): after every change of either side it plans (PlanPublish) against its
// client's cache and sends one transaction at a time; changes accepted meanwhile go into the
// next. Nothing here waits: the calls update the desired state and schedule a pass on the loop.
class PolicyPublisher {
 public:
  // Throws std::invalid_argument without a remote.
  PolicyPublisher(boost::asio::io_context& io, PublisherOptions options, Clock& clock);
  ~PolicyPublisher();
  PolicyPublisher(const PolicyPublisher&) = delete;
  PolicyPublisher& operator=(const PolicyPublisher&) = delete;

  // What the store holds at start; connects and keeps the database equal to it. Once.
  void Start(std::vector<PublishedBinding> bindings, std::vector<PublishedGroup> groups = {});
  // Disconnects; waiting WhenPublished callbacks are dropped.
  void Stop();

  // After the store committed a change (on the loop).
  void Bind(const PublishedBinding& binding);
  void Unbind(const std::string& vm);
  void SetGroup(const PublishedGroup& group);
  void RemoveGroup(const std::string& name);

  struct Status {
    bool connected = false;  // the cache holds the database's state
    std::string remote;
    bool in_sync = false;                   // the database equals everything accepted so far
    std::uint64_t generation = 0;           // Policy.generation as the cache shows it
    std::size_t pending_rows = 0;           // row operations of the last plan not yet committed
    std::uint64_t repairs = 0;              // rows that differed without an accepted change
    std::uint64_t transactions = 0;         // committed
    std::uint64_t failed_transactions = 0;  // refused, or their answer lost
    std::uint64_t rebuild_rows = 0;         // rows written into a database never published to
    // From the oldest change a transaction published being accepted to its answer.
    std::optional<std::chrono::nanoseconds> last_publish_latency;
  };
  Status status() const;

  // Calls `done` (on the loop) once everything accepted so far is committed in the database.
  void WhenPublished(std::function<void()> done);

 private:
  void Accepted(std::set<std::string>& changed, std::set<std::string>& in_flight,
                const std::string& key);
  void Schedule();
  void Pass();
  void Send(PublishPlan plan);
  void Committed(const PublishPlan& plan);
  void Failed(const PublishPlan& plan, const std::string& error);
  // Changes up to `accepted` are in the database: their callbacks run.
  void MarkPublished(std::uint64_t accepted, bool by_transaction);
  std::int64_t Generation() const;
  // Whether the cache's Policy row is another than when the last plan was made: every
  // transaction changes it, so the cache then shows that transaction (or a later change).
  bool PolicyChangedSincePlan() const;

  boost::asio::io_context& io_;
  PublisherOptions options_;
  Clock& clock_;
  ovs::OvsdbClient client_;
  ovs::OvsdbClient::Subscription subscription_;
  std::unique_ptr<Timer> retry_timer_;
  std::chrono::milliseconds retry_after_;
  // Posted passes check it: the publisher may be gone when they run.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  PolicyContents desired_;
  // The cached Binding and Group rows by key: a pass compares only the keys changed on either
  // side since the last plan, and every row after (re)connecting or a failed transaction.
  std::unique_ptr<KeyIndex> binding_index_;
  std::unique_ptr<KeyIndex> group_index_;
  bool full_pending_ = true;
  // Keys whose cached rows changed since a plan last compared them, and those a plan left for
  // the next transactions.
  std::set<std::string> dirty_bindings_, dirty_groups_;
  // Keys of accepted changes not yet committed; and of those, the ones changed again while a
  // transaction was in flight (its commit does not settle them).
  std::set<std::string> changed_bindings_, changed_groups_;
  std::set<std::string> changed_while_in_flight_bindings_, changed_while_in_flight_groups_;

  bool started_ = false;
  bool stopped_ = false;
  bool pass_posted_ = false;
  bool in_flight_ = false;
  bool retrying_ = false;
  // After a commit, until the cache shows it: a plan made before would repeat it.
  bool awaiting_own_update_ = false;
  bool first_pass_done_ = false;
  // The first pass found no Policy row: until in sync, unexplained rows are rebuild_rows.
  bool rebuilding_ = false;
  bool in_sync_ = false;
  // A rebuild, repair or failure happened since in sync: reaching it again is logged.
  bool noteworthy_ = false;
  std::string policy_at_plan_;  // the Policy row's uuid when the last plan was made, and its
  std::uint64_t policy_version_at_plan_ = 0;  // version in the cache
  // Changes are numbered as accepted (Start is the first); `published_` is the highest whose
  // state the database holds, `planned_` the highest the transaction in flight covers.
  std::uint64_t accepted_ = 0;
  std::uint64_t planned_ = 0;
  std::uint64_t published_ = 0;
  std::int64_t last_generation_ = 0;  // the highest seen in the cache or committed
  // When the first change after each plan was accepted, by its number: the latency's start.
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> accepted_at_;
  std::multimap<std::uint64_t, std::function<void()>> waiting_;
  Status counters_;
};

}  // namespace netd::policy
