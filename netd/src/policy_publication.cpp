#include "netd/daemon/policy_publication.hpp"

#include <spdlog/spdlog.h>

namespace netd {
namespace {

policy::PublishedBinding Published(const dhcp::VmBinding& binding) {
  return {binding.vm, binding.network, binding.mac, binding.ip};
}

policy::PublisherOptions PublisherOptionsOf(const Config& config) {
  policy::PublisherOptions options;
  options.remotes = config.policy->remotes;
  options.tls = config.policy->tls;
  options.host_listeners = config.policy->host_listeners;
  options.probe_interval = config.policy->timeouts.probe_interval;
  options.request_timeout = config.policy->timeouts.request_timeout;
  return options;
}

}  // namespace

PolicyPublication::PolicyPublication(boost::asio::io_context& io, const Config& config,
                                     Clock& clock)
    : publisher_(io, PublisherOptionsOf(config), clock) {}

void PolicyPublication::Start(const dhcp::Ipam& ipam, std::vector<policy::PublishedGroup> groups) {
  std::vector<policy::PublishedBinding> bindings;
  for (const auto& binding : ipam.List()) bindings.push_back(Published(binding));
  spdlog::info("policy: publishing {} bindings and {} groups", bindings.size(), groups.size());
  publisher_.Start(std::move(bindings), std::move(groups));
}

void PolicyPublication::Stop() {
  publisher_.Stop();
}

// After the commit: the database is a view of the store, never ahead of it.
std::function<void()> PolicyPublication::PlanBind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, published = Published(binding)] { publisher_.Bind(published); };
}

std::function<void()> PolicyPublication::PlanUnbind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, vm = binding.vm] { publisher_.Unbind(vm); };
}

std::function<void()> PolicyPublication::PlanSetGroup(const policy::PublishedGroup& group,
                                                      Mutation&) {
  return [this, group] { publisher_.SetGroup(group); };
}

std::function<void()> PolicyPublication::PlanRemoveGroup(const std::string& name, Mutation&) {
  return [this, name] { publisher_.RemoveGroup(name); };
}

void PolicyPublication::Report(StatusReport& report) const {
  static constexpr Metric kConnected{
      "netd_policy_publisher_connected", MetricType::kGauge,
      "Whether the gateway is connected to the policy database's leader (1) or not (0)."};
  static constexpr Metric kInSync{
      "netd_policy_publisher_in_sync", MetricType::kGauge,
      "Whether the policy database holds what the store does (1) or changes are pending (0)."};
  static constexpr Metric kGeneration{"netd_policy_generation", MetricType::kGauge,
                                      "The policy database's generation last written."};
  static constexpr Metric kPending{"netd_policy_pending_rows", MetricType::kGauge,
                                   "Rows of the store not yet in the policy database."};
  static constexpr Metric kRepairs{
      "netd_policy_repairs_total", MetricType::kCounter,
      "Rows of the policy database found different from the store, with no change of the "
      "store to explain it, and repaired."};
  static constexpr Metric kTransactions{"netd_policy_transactions_total", MetricType::kCounter,
                                        "Transactions sent to the policy database."};
  static constexpr Metric kFailures{
      "netd_policy_failed_transactions_total", MetricType::kCounter,
      "Transactions the policy database refused or whose answer was lost (retried)."};
  auto status = publisher_.status();
  nlohmann::json latency = nullptr;
  if (status.last_publish_latency) {
    latency = std::chrono::duration<double, std::milli>(*status.last_publish_latency).count();
  }
  report.Status("/policy", {{"remote", status.remote},
                            {"rebuild_rows", status.rebuild_rows},
                            {"last_publish_ms", latency}});
  report.Flag("/policy/connected", kConnected, status.connected);
  report.Flag("/policy/in_sync", kInSync, status.in_sync);
  report.Figure("/policy/generation", kGeneration, status.generation);
  report.Figure("/policy/pending_rows", kPending, status.pending_rows);
  report.Figure("/policy/repairs", kRepairs, status.repairs);
  report.Figure("/policy/transactions", kTransactions, status.transactions);
  report.Figure("/policy/failed_transactions", kFailures, status.failed_transactions);
}

}  // namespace netd
