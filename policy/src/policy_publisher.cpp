#include "netd/policy/policy_publisher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "key_index.hpp"
#include "netd/policy/schema.hpp"

namespace netd::policy {
namespace {

const std::vector<ovs::Remote>& Remotes(const PublisherOptions& options) {
  if (options.remotes.empty()) {
    throw std::invalid_argument("the policy publisher needs the policy database's remotes");
  }
  return options.remotes;
}

ovs::OvsdbClient::Options ClientOptions(const PublisherOptions& options) {
  return {
      .database = std::string(kDatabase),
      .tables = {{"Policy", {"generation", "published_at", "connections"}},
                 {"Binding", {"vm", "network", "mac", "ip"}},
                 {"Group", {"name", "network", "members", "protocol", "ports", "comment"}},
                 // Not is_connected and status: ovsdb-server rewrites them as hosts come and go.
                 {"Connection", {"target", "read_only"}}},
      .min_backoff = options.min_retry,
      .max_backoff = options.max_retry,
      .tls = options.tls,
      // Writes go to the leader: a follower would forward them, and one cut off from the
      // cluster would hold them until it is back.
      .cluster = ovs::OvsdbClient::Cluster::kLeader,
      .inactivity_probe = options.probe_interval,
      .request_timeout = options.request_timeout};
}

std::int64_t UnixMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

}  // namespace

PolicyPublisher::PolicyPublisher(boost::asio::io_context& io, PublisherOptions options,
                                 Clock& clock)
    : io_(io),
      options_(std::move(options)),
      clock_(clock),
      client_(io, Remotes(options_), ClientOptions(options_)),
      retry_timer_(clock.MakeTimer()),
      retry_after_(options_.min_retry),
      binding_index_(std::make_unique<KeyIndex>("Binding", "vm")),
      group_index_(std::make_unique<KeyIndex>("Group", "name")) {
  desired_.host_listeners.insert(options_.host_listeners.begin(), options_.host_listeners.end());
}

PolicyPublisher::~PolicyPublisher() {
  // The client's callbacks and the posted passes check it.
  alive_.reset();
}

void PolicyPublisher::Start(std::vector<PublishedBinding> bindings,
                            std::vector<PublishedGroup> groups) {
  if (started_) throw std::logic_error("the policy publisher was started already");
  started_ = true;
  for (auto& binding : bindings) {
    auto vm = binding.vm;
    desired_.bindings.insert_or_assign(std::move(vm), std::move(binding));
  }
  for (auto& group : groups) {
    auto name = group.name;
    desired_.groups.insert_or_assign(std::move(name), std::move(group));
  }
  // The store's contents are the first change: WhenPublished waits for them.
  ++accepted_;
  accepted_at_.emplace(accepted_, clock_.Now());
  spdlog::info("policy: publishing {} bindings, {} groups and {} host listeners to {}",
               desired_.bindings.size(), desired_.groups.size(), desired_.host_listeners.size(),
               ovs::ToString(options_.remotes.front()));
  subscription_ = client_.Subscribe([this] {
    if (awaiting_own_update_ && (!client_.synced() || PolicyChangedSincePlan())) {
      awaiting_own_update_ = false;
    }
    if (!client_.synced()) {
      in_sync_ = false;
      binding_index_->Reset();
      group_index_->Reset();
      full_pending_ = true;
    }
    Schedule();
  });
  client_.Start();
}

void PolicyPublisher::Stop() {
  stopped_ = true;
  subscription_ = {};
  retry_timer_->Cancel();
  waiting_.clear();
  client_.Stop();
}

void PolicyPublisher::Bind(const PublishedBinding& binding) {
  desired_.bindings.insert_or_assign(binding.vm, binding);
  Accepted(changed_bindings_, changed_while_in_flight_bindings_, binding.vm);
}

void PolicyPublisher::Unbind(const std::string& vm) {
  desired_.bindings.erase(vm);
  Accepted(changed_bindings_, changed_while_in_flight_bindings_, vm);
}

void PolicyPublisher::SetGroup(const PublishedGroup& group) {
  desired_.groups.insert_or_assign(group.name, group);
  Accepted(changed_groups_, changed_while_in_flight_groups_, group.name);
}

void PolicyPublisher::RemoveGroup(const std::string& name) {
  desired_.groups.erase(name);
  Accepted(changed_groups_, changed_while_in_flight_groups_, name);
}

void PolicyPublisher::Accepted(std::set<std::string>& changed, std::set<std::string>& in_flight,
                               const std::string& key) {
  changed.insert(key);
  if (in_flight_) in_flight.insert(key);
  ++accepted_;
  // One start per batch: the first change after the last plan.
  if (accepted_at_.empty() || accepted_at_.rbegin()->first <= planned_) {
    accepted_at_.emplace(accepted_, clock_.Now());
  }
  Schedule();
}

PolicyPublisher::Status PolicyPublisher::status() const {
  auto status = counters_;
  status.connected = client_.synced();
  status.remote = ovs::ToString(client_.remote());
  status.in_sync = in_sync_ && !in_flight_ && published_ == accepted_;
  status.generation = static_cast<std::uint64_t>(Generation());
  return status;
}

void PolicyPublisher::WhenPublished(std::function<void()> done) {
  if (published_ < accepted_) {
    waiting_.emplace(accepted_, std::move(done));
    return;
  }
  boost::asio::post(io_, [alive = std::weak_ptr<bool>(alive_), done = std::move(done)] {
    if (alive.lock()) done();
  });
}

std::int64_t PolicyPublisher::Generation() const {
  const auto& rows = client_.rows("Policy");
  if (rows.empty()) return 0;
  auto generation = rows.begin()->second.value("generation", nlohmann::json(0));
  return generation.is_number_integer() ? generation.get<std::int64_t>() : 0;
}

bool PolicyPublisher::PolicyChangedSincePlan() const {
  const auto& rows = client_.rows("Policy");
  if (rows.empty()) return !policy_at_plan_.empty();
  const auto& uuid = rows.begin()->first;
  return uuid != policy_at_plan_ || client_.version("Policy", uuid) != policy_version_at_plan_;
}

void PolicyPublisher::Schedule() {
  if (pass_posted_) return;
  pass_posted_ = true;
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.lock()) return;
    pass_posted_ = false;
    Pass();
  });
}

void PolicyPublisher::Pass() {
  if (!started_ || stopped_ || !client_.synced() || in_flight_ || retrying_ ||
      awaiting_own_update_) {
    return;
  }
  last_generation_ = std::max(last_generation_, Generation());
  if (!first_pass_done_) {
    first_pass_done_ = true;
    rebuilding_ = client_.rows("Policy").empty();
    if (rebuilding_) {
      spdlog::info("policy: the database holds no Policy row: rebuilding it from the store");
      noteworthy_ = true;
    }
  }
  bool bindings_followed = binding_index_->Follow(client_, dirty_bindings_);
  bool groups_followed = group_index_->Follow(client_, dirty_groups_);
  if (!bindings_followed || !groups_followed) full_pending_ = true;
  bool full = full_pending_;
  // Otherwise the keys changed on either side, with their desired and cached rows.
  PolicyContents scoped;
  ovs::OvsdbClient::Rows binding_rows, group_rows;
  if (!full) {
    scoped.host_listeners = desired_.host_listeners;
    auto scope = [](const std::set<std::string>& dirty, const std::set<std::string>& changed,
                    const auto& desired, auto& into) {
      std::set<std::string> keys = dirty;
      keys.insert(changed.begin(), changed.end());
      for (const auto& key : keys) {
        if (auto it = desired.find(key); it != desired.end()) into.insert(*it);
      }
      return keys;
    };
    binding_rows = binding_index_->RowsOf(
        client_, scope(dirty_bindings_, changed_bindings_, desired_.bindings, scoped.bindings));
    group_rows = group_index_->RowsOf(
        client_, scope(dirty_groups_, changed_groups_, desired_.groups, scoped.groups));
  }
  CachedRows rows = [&](const std::string& table) -> const ovs::OvsdbClient::Rows& {
    if (!full && table == "Binding") return binding_rows;
    if (!full && table == "Group") return group_rows;
    return client_.rows(table);
  };
  auto plan = PlanPublish({.desired = full ? desired_ : scoped,
                           .rows = rows,
                           .changed_bindings = changed_bindings_,
                           .changed_groups = changed_groups_,
                           .chunk_rows = options_.chunk_rows,
                           .published_at_ms = UnixMs(clock_.WallNow()),
                           .last_generation = last_generation_});
  if (plan.empty()) {
    // Whatever was accepted and not yet committed equals what the database holds.
    changed_bindings_.clear();
    changed_groups_.clear();
    dirty_bindings_.clear();
    dirty_groups_.clear();
    full_pending_ = false;
    counters_.pending_rows = 0;
    rebuilding_ = false;
    if (!in_sync_ && noteworthy_) {
      spdlog::info("policy: the database equals the store at generation {}", Generation());
      noteworthy_ = false;
    }
    in_sync_ = true;
    MarkPublished(accepted_, false);
    return;
  }
  in_sync_ = false;
  Send(std::move(plan));
}

void PolicyPublisher::Send(PublishPlan plan) {
  in_flight_ = true;
  planned_ = accepted_;
  // The plan compared its whole scope: what is left of the difference is what the next
  // passes compare, and the rows this one writes come back as changed rows of the cache. A
  // failure compares everything again.
  full_pending_ = false;
  dirty_bindings_ = {plan.left_bindings.begin(), plan.left_bindings.end()};
  dirty_groups_ = {plan.left_groups.begin(), plan.left_groups.end()};
  const auto& policies = client_.rows("Policy");
  policy_at_plan_ = policies.empty() ? std::string() : policies.begin()->first;
  policy_version_at_plan_ = client_.version("Policy", policy_at_plan_);
  counters_.pending_rows = plan.rows() + plan.remaining;
  auto operations = std::move(plan.operations);
  client_.Transact(std::move(operations),
                   [this, alive = std::weak_ptr<bool>(alive_),
                    plan = std::move(plan)](const ovs::OvsdbClient::TransactionResult& result) {
                     if (!alive.lock() || stopped_) return;
                     in_flight_ = false;
                     if (result.ok()) {
                       Committed(plan);
                     } else {
                       Failed(plan, result.error);
                     }
                     changed_while_in_flight_bindings_.clear();
                     changed_while_in_flight_groups_.clear();
                     Schedule();
                   });
}

void PolicyPublisher::Committed(const PublishPlan& plan) {
  ++counters_.transactions;
  retry_after_ = options_.min_retry;
  last_generation_ = std::max(last_generation_, plan.generation);
  if (rebuilding_) {
    counters_.rebuild_rows += plan.unexplained;
  } else {
    counters_.repairs += plan.unexplained;
  }
  // The keys this transaction wrote are settled unless changed again meanwhile; with nothing
  // remaining, every other accepted key was found equal when it was planned.
  auto settle = [&](std::set<std::string>& changed, const std::set<std::string>& in_flight,
                    const std::vector<std::string>& written) {
    if (plan.remaining == 0) {
      std::erase_if(changed, [&](const std::string& key) { return !in_flight.contains(key); });
      return;
    }
    for (const auto& key : written) {
      if (!in_flight.contains(key)) changed.erase(key);
    }
  };
  for (const auto& uuid : plan.deleted_rows) {
    binding_index_->Forget(uuid, dirty_bindings_);
    group_index_->Forget(uuid, dirty_groups_);
  }
  settle(changed_bindings_, changed_while_in_flight_bindings_, plan.bindings);
  settle(changed_groups_, changed_while_in_flight_groups_, plan.groups);
  counters_.pending_rows = plan.remaining;
  if (rebuilding_) {
    spdlog::info("policy: generation {} committed, rebuilding: {} rows written, {} operations left",
                 plan.generation, plan.rows(), plan.remaining);
  } else if (plan.unexplained > 0) {
    noteworthy_ = true;
    spdlog::warn(
        "policy: generation {} committed, repairing the database: {} inserted, {} updated, {} "
        "deleted, of which {} differed from the store without a change of netd's; {} operations "
        "left",
        plan.generation, plan.inserted, plan.updated, plan.deleted, plan.unexplained,
        plan.remaining);
  } else {
    spdlog::debug("policy: generation {} committed: {} inserted, {} updated, {} deleted",
                  plan.generation, plan.inserted, plan.updated, plan.deleted);
  }
  if (plan.remaining == 0) MarkPublished(planned_, true);
  // Planning before the cache shows this transaction would plan it again.
  awaiting_own_update_ = !PolicyChangedSincePlan();
}

void PolicyPublisher::Failed(const PublishPlan& plan, const std::string& error) {
  ++counters_.failed_transactions;
  full_pending_ = true;
  noteworthy_ = true;
  spdlog::warn(
      "policy: transaction for generation {} ({} rows) failed, planning again in {} ms: {}",
      plan.generation, plan.rows(), retry_after_.count(), error);
  retrying_ = true;
  retry_timer_->Start(retry_after_, [this] {
    retrying_ = false;
    Pass();
  });
  retry_after_ = std::min(retry_after_ * 2, options_.max_retry);
}

void PolicyPublisher::MarkPublished(std::uint64_t accepted, bool by_transaction) {
  if (accepted <= published_) return;
  published_ = accepted;
  auto first = accepted_at_.begin();
  if (by_transaction && first != accepted_at_.end() && first->first <= accepted) {
    counters_.last_publish_latency = clock_.Now() - first->second;
  }
  accepted_at_.erase(accepted_at_.begin(), accepted_at_.upper_bound(accepted));
  auto due = waiting_.upper_bound(accepted);
  std::vector<std::function<void()>> done;
  for (auto it = waiting_.begin(); it != due; ++it) done.push_back(std::move(it->second));
  waiting_.erase(waiting_.begin(), due);
  // Posted: a callback may change or end the publisher.
  for (auto& callback : done) {
    boost::asio::post(io_, [alive = std::weak_ptr<bool>(alive_), callback = std::move(callback)] {
      if (alive.lock()) callback();
    });
  }
}

}  // namespace netd::policy
