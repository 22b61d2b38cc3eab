#include "netd/firewall/gateway_firewall.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>
#include <tuple>

#include "flow_cutter.hpp"

namespace netd::firewall {
namespace {

ElementChanges Inverse(const ElementChanges& changes) {
  ElementChanges inverse;
  inverse.add = changes.remove;
  inverse.remove = changes.add;
  return inverse;
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Learned elements live on the monotonic clock, as the kernel's timeouts do: a step of the
// wall clock changes neither.
std::int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

GatewayFirewall::GatewayFirewall(GatewayFirewallOptions options, PacketFilter& filter)
    : layout_(std::move(options.layout)),
      filter_(filter),
      forwards_(layout_.forward_ports),
      max_allow_elements_(options.max_allow_elements),
      table_mode_(options.table_mode) {}

GatewayFirewall::~GatewayFirewall() = default;

bool GatewayFirewall::IsAllowlisted(std::string_view network) const {
  for (const auto& filtered : layout_.networks) {
    if (filtered.name == network) return filtered.allowlist_egress;
  }
  return false;
}

allowlist::SecureVm GatewayFirewall::SecureVmOf(const BoundVm& binding) const {
  return {binding.vm, binding.ip, binding.mac};
}

bool GatewayFirewall::InsideEnclave(Ipv4Address address) const {
  for (const auto& network : layout_.networks) {
    if (network.cidr.Contains(address)) return true;
  }
  return address == Ipv4Address(0xffffffff);
}

std::pair<allowlist::AllowlistPolicy, proxy::ForwardTable> GatewayFirewall::Build(
    const StoredState& stored) const {
  proxy::ForwardTable forwards(forwards_.listen_ports());
  for (const auto& forward : stored.forwards) forwards.Add(forward);
  allowlist::AllowlistPolicy policy;
  for (const auto& rule : stored.rules) policy.PutRule(rule);
  for (const auto& binding : stored.bindings) {
    if (IsAllowlisted(binding.network)) policy.AddVm(SecureVmOf(binding));
  }
  return {std::move(policy), std::move(forwards)};
}

void GatewayFirewall::Start(const StoredState& stored) {
  std::tie(policy_, forwards_) = Build(stored);
  // What DNS answers opened before a restart stays open for the rest of its time.
  try {
    learned_.Restore(filter_.TimedAllowElements(), MonotonicMs(), policy_);
  } catch (const std::exception& failure) {
    spdlog::warn("firewall: cannot read the DNS-learned elements of the previous run: {}",
                 failure.what());
  }
  if (!learned_.entries().empty()) {
    spdlog::info("firewall: kept {} DNS-learned elements of the previous run",
                 learned_.entries().size());
  }
  layout_.protection = ResolveProtection();
  ApplyWholeTable();
}

TableProtection GatewayFirewall::ResolveProtection() {
  if (table_mode_ == TableMode::kGuard) {
    spdlog::info("firewall: table mode guard: an ordinary table, repaired when changed");
    return TableProtection::kGuard;
  }
  bool supported = filter_.SupportsOwnedTables();
  if (supported) {
    spdlog::info("firewall: table mode {}: flags owner,persist", ToString(table_mode_));
    return TableProtection::kOwned;
  }
  if (table_mode_ == TableMode::kOwner) {
    throw std::runtime_error(
        "gateway.table_mode is \"owner\" but the kernel refuses tables with flags owner,persist "
        "(Linux 6.9 or later has them); use \"auto\" or \"guard\"");
  }
  spdlog::warn(
      "firewall: table mode auto: the kernel lacks flags owner,persist (EOPNOTSUPP); using guard: "
      "an ordinary table, repaired when changed, with the route guard closing the VM networks "
      "while it is missing");
  return TableProtection::kGuard;
}

void GatewayFirewall::ApplyWholeTable() {
  auto started = std::chrono::steady_clock::now();
  TableElements elements{policy_.Elements(), {}};
  // A forward past its expiry but within its grace goes in for the rest of the grace, so that
  // netd's own expiry finds it there to delete.
  auto now = NowMs();
  auto learned = learned_.KernelElements(MonotonicMs(), policy_);
  elements.exact.insert(elements.exact.end(), learned.begin(), learned.end());
  for (const auto& [id, forward] : forwards_.all()) {
    if (forward.expires_ms + kForwardGraceMs > now) {
      elements.forwards.push_back(ElementOf(forward, now));
    }
  }
  filter_.ApplyTable(layout_, elements);
  last_apply_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  ++counters_.full_applies;
  last_reconcile_ = std::chrono::system_clock::now();
  spdlog::info(
      "firewall: applied table inet ticrypt in {:.1f} ms: networks={} rules={} "
      "allow_elements={} bound_secure_vms={} forwards={}",
      last_apply_ms_, layout_.networks.size(), policy_.rules().size(),
      elements.exact.size() + elements.ranges.size(), elements.bindings.size(),
      elements.forwards.size());
}

void GatewayFirewall::CheckForeignChanges() {
  bool changed = false;
  try {
    changed = filter_.TakeForeignChanges();
  } catch (const std::exception& failure) {
    spdlog::error("firewall: cannot read nftables events, assuming drift: {}", failure.what());
    changed = true;
  }
  if (!changed) return;
  ++counters_.drift_detected;
  spdlog::warn("firewall: table inet ticrypt may have been changed by another process");
  if (drift_listener_) drift_listener_();
}

void GatewayFirewall::Repair(const StoredState& stored) {
  auto [policy, forwards] = Build(stored);
  auto elements = policy.Elements();
  auto held = policy_.Elements();
  if (forwards.all() != forwards_.all() || policy.rules() != policy_.rules() ||
      elements.exact != held.exact || elements.ranges != held.ranges ||
      elements.bindings != held.bindings) {
    policy_ = std::move(policy);
    forwards_ = std::move(forwards);
    spdlog::error(
        "firewall: the policy in memory differed from the store (rules={} forwards={} in the "
        "store); the table is rebuilt from the store",
        stored.rules.size(), stored.forwards.size());
  }
  try {
    ApplyWholeTable();
  } catch (...) {
    ++counters_.repair_failures;
    throw;
  }
  ++counters_.drift_repairs;
  CheckForeignChanges();
}

void GatewayFirewall::Apply(const ElementChanges& policy_changes,
                            const std::function<void()>& undo_policy, const Persist& persist) {
  auto plan = learned_.Adjust(allowlist::SetChanges{policy_changes.add, policy_changes.remove},
                              MonotonicMs(), policy_);
  ElementChanges changes = plan.changes;
  changes.add.forwards = policy_changes.add.forwards;
  changes.remove.forwards = policy_changes.remove.forwards;
  bool kernel_applied = false;
  try {
    persist([&] {
      filter_.Update(changes);
      kernel_applied = true;
    });
  } catch (...) {
    ++counters_.kernel_failures;
    if (kernel_applied) {
      // The store refused after the kernel took the change: take it back out.
      try {
        filter_.Update(Inverse(changes));
      } catch (const std::exception& failure) {
        spdlog::error("firewall: cannot undo {} element changes after a store failure: {}",
                      changes.size(), failure.what());
      }
    }
    undo_policy();
    CheckForeignChanges();
    throw;
  }
  counters_.element_updates += changes.size();
  // Learned elements a rule change deleted count as revoked too.
  auto revoked = plan.changes;
  learned_.Commit(std::move(plan));
  CutRevokedFlows(revoked);
  CheckForeignChanges();
}

void GatewayFirewall::OpenLearned(const allowlist::SecureVm& vm,
                                  const std::vector<const allowlist::AllowlistRule*>& rules,
                                  const std::string& name,
                                  const std::vector<Ipv4Address>& addresses,
                                  std::int64_t lifetime_ms) {
  auto now = MonotonicMs();
  auto plan = learned_.Learn(vm, rules, name, addresses, now + lifetime_ms, now, policy_);
  auto after = policy_.allow_elements() + learned_.entries().size() +
               plan.changes.add.exact.size() - plan.changes.remove.exact.size();
  if (after > max_allow_elements_) {
    throw std::runtime_error(
        fmt::format("{} allow elements would exceed gateway.max_allowlist_elements ({})", after,
                    max_allow_elements_));
  }
  if (!plan.changes.empty()) {
    try {
      filter_.Update(plan.changes);
    } catch (...) {
      ++counters_.kernel_failures;
      CheckForeignChanges();
      throw;
    }
    counters_.element_updates += plan.changes.size();
    counters_.learned_inserts += plan.changes.add.exact.size();
  }
  learned_.Commit(std::move(plan));
}

void GatewayFirewall::ExpireLearned() {
  auto plan = learned_.Expire(MonotonicMs(), policy_);
  if (!plan.changes.empty()) {
    try {
      filter_.Update(plan.changes);
      counters_.element_updates += plan.changes.size();
    } catch (const std::exception& failure) {
      // Only if the kernel dropped one already (netd stalled past the backstop): the kernel's
      // timeouts end the rest within kBackstopMs.
      ++counters_.kernel_failures;
      spdlog::error("firewall: cannot delete {} expired DNS-learned elements: {}",
                    plan.changes.size(), failure.what());
    }
  }
  learned_.Commit(std::move(plan));
}

void GatewayFirewall::CutFlowsInBackground() {
  cutter_ = std::make_unique<FlowCutter>(
      filter_, [this](Ipv4Address address) { return InsideEnclave(address); });
}

void GatewayFirewall::CutRevokedFlows(const allowlist::SetChanges& changes) {
  std::set<Ipv4Address> vms;
  for (const auto& exact : changes.remove.exact) vms.insert(exact.vm);
  for (const auto& range : changes.remove.ranges) vms.insert(range.vm);
  for (const auto& binding : changes.remove.bindings) vms.insert(binding.ip);
  if (vms.empty()) return;
  auto revoked = policy_.ElementsOf(vms);
  // Addresses the VMs learned from DNS still count as allowed.
  for (const auto& [key, entry] : learned_.entries()) {
    if (auto it = revoked.find(key.vm); it != revoked.end()) it->second.exact.insert(key);
  }
  if (cutter_) {
    cutter_->Cut(revoked);
  } else {
    flows_cut_here_ += firewall::CutRevokedFlows(
        filter_, revoked, [this](Ipv4Address address) { return InsideEnclave(address); });
  }
}

ForwardElement GatewayFirewall::ElementOf(const proxy::Forward& forward, std::int64_t now_ms) {
  auto remaining = std::max<std::int64_t>(1, forward.expires_ms + kForwardGraceMs - now_ms);
  return {forward.client, forward.listen_port, forward.vm_ip, forward.vm_port,
          static_cast<std::uint64_t>(remaining)};
}

std::size_t GatewayFirewall::CutForwardFlows(const proxy::Forward& forward) {
  try {
    auto cut = filter_.CutForwardFlows(forward.client, forward.listen_port);
    counters_.forward_flows_cut += cut;
    if (cut > 0) spdlog::info("forward {}: cut {} sessions", forward.id, cut);
    return cut;
  } catch (const std::exception& failure) {
    spdlog::error("forward {}: cannot cut its sessions: {}", forward.id, failure.what());
    return 0;
  }
}

GatewayFirewall::Counters GatewayFirewall::counters() const {
  auto counters = counters_;
  counters.flows_cut = flows_cut_here_ + (cutter_ ? cutter_->flows_cut() : 0);
  return counters;
}

}  // namespace netd::firewall
