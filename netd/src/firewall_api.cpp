// The gateway's firewall in the control API: its routes, its figures, its part in bindings.
#include "netd/daemon/firewall_api.hpp"

#include <memory>
#include <optional>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/daemon/gateway_options.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

namespace {

constexpr Metric kRules{"netd_allowlist_rules", MetricType::kGauge, "Allowlist rules."};
constexpr Metric kAllowElements{"netd_allowlist_elements", MetricType::kGauge,
                                "Elements in allow4 and allow4_ranges from rules."};
constexpr Metric kElementUpdates{"netd_firewall_element_updates_total", MetricType::kCounter,
                                 "Set elements added or deleted."};
constexpr Metric kFlowsCut{"netd_firewall_flows_cut_total", MetricType::kCounter,
                           "Conntrack entries deleted on revocation."};
constexpr Metric kKernelFailures{"netd_firewall_kernel_failures_total", MetricType::kCounter,
                                 "Changes the kernel or store refused."};
constexpr Metric kFullApplies{"netd_firewall_full_applies_total", MetricType::kCounter,
                              "Whole-table applies."};
constexpr Metric kForwards{"netd_forwards", MetricType::kGauge, "Open kernel port forwards."};
constexpr Metric kForwardSessionsCut{"netd_forward_sessions_cut_total", MetricType::kCounter,
                                     "Conntrack entries deleted when forwards ended."};
constexpr Metric kDriftDetected{"netd_firewall_drift_detected_total", MetricType::kCounter,
                                "Times the table may have been changed by another process."};
constexpr Metric kDriftRepairs{"netd_firewall_drift_repairs_total", MetricType::kCounter,
                               "Whole-table applies that repaired drift."};
constexpr Metric kRepairFailures{"netd_firewall_repair_failures_total", MetricType::kCounter,
                                 "Repairs the kernel refused (retried)."};

}  // namespace

FirewallApi::FirewallApi(const Config& config, Store& store, AuditChain& audit,
                         const dhcp::Ipam& ipam, firewall::GatewayFirewall& firewall, Clock& clock)
    : config_(config),
      store_(store),
      audit_(audit),
      ipam_(ipam),
      firewall_(firewall),
      clock_(clock),
      forward_lifecycle_(ForwardOptionsOf(config)),
      forward_expiry_(clock, firewall.forwards(), forward_lifecycle_,
                      [this](const std::vector<proxy::DueForward>& due) { ExpireForwards(due); }) {}

std::span<const RouteOf<FirewallApi>> FirewallApi::Routes() {
  static constexpr RouteOf<FirewallApi> kRoutes[] = {
      {"GET", "/v1/allowlist", AccessLevel::kService, "", "", &FirewallApi::ListRules},
      {"GET", "/v1/allowlist/{rule}", AccessLevel::kService, "", "", &FirewallApi::GetRule},
      {"PUT", "/v1/allowlist/{rule}", AccessLevel::kAdmin, "allowlist.put", "allowlist/{}",
       &FirewallApi::PutRule},
      {"DELETE", "/v1/allowlist/{rule}", AccessLevel::kAdmin, "allowlist.delete", "allowlist/{}",
       &FirewallApi::DeleteRule},
      {"PUT", "/v1/allowlist/{rule}/vms/{vm}", AccessLevel::kAdmin, "allowlist.assign",
       "allowlist/{}/vm/{}", &FirewallApi::AssignRule},
      {"DELETE", "/v1/allowlist/{rule}/vms/{vm}", AccessLevel::kAdmin, "allowlist.unassign",
       "allowlist/{}/vm/{}", &FirewallApi::UnassignRule},
      {"POST", "/v1/forwards", AccessLevel::kService, "forward.open", "forward",
       &FirewallApi::OpenForward},
      {"GET", "/v1/forwards", AccessLevel::kService, "", "", &FirewallApi::ListForwards},
      {"GET", "/v1/forwards/{id}", AccessLevel::kService, "", "", &FirewallApi::GetForward},
      {"POST", "/v1/forwards/{id}/renew", AccessLevel::kService, "forward.renew", "forward/{}",
       &FirewallApi::RenewForward},
      {"DELETE", "/v1/forwards/{id}", AccessLevel::kService, "forward.close", "forward/{}",
       &FirewallApi::CloseForward},
  };
  return kRoutes;
}

void FirewallApi::Report(StatusReport& report) const {
  const auto& policy = firewall_.policy();
  auto counters = firewall_.counters();
  report.Figure("/firewall/rules", kRules, policy.rules().size());
  report.Figure("/firewall/allow_elements", kAllowElements, policy.allow_elements());
  report.Figure("/firewall/element_updates", kElementUpdates, counters.element_updates);
  report.Figure("/firewall/flows_cut", kFlowsCut, counters.flows_cut);
  report.Figure("/firewall/kernel_failures", kKernelFailures, counters.kernel_failures);
  report.Figure("/firewall/full_applies", kFullApplies, counters.full_applies);
  report.Status("/firewall/last_apply_ms", firewall_.last_apply_ms());
  report.Figure("/firewall/forwards", kForwards, firewall_.forwards().all().size());
  report.Figure("/firewall/forward_sessions_cut", kForwardSessionsCut, counters.forward_flows_cut);
  report.Status("/firewall/table_protection", ToString(firewall_.protection()));
  // The route guard reports itself here when this netd runs it.
  report.Status("/firewall/route_guard", nullptr);
  auto last_reconcile = firewall_.last_reconcile();
  report.Status("/last_reconcile", last_reconcile ? nlohmann::json(IsoTime(ToMs(*last_reconcile)))
                                                  : nlohmann::json(nullptr));
  report.Figure("/drift/detected", kDriftDetected, counters.drift_detected);
  report.Figure("/drift/repairs", kDriftRepairs, counters.drift_repairs);
  report.Figure("/drift/repair_failures", kRepairFailures, counters.repair_failures);
}

std::function<void()> FirewallApi::PlanBind(const dhcp::VmBinding& binding, Mutation& mutation) {
  if (!firewall_.IsAllowlisted(binding.network)) return {};
  // The VM's MAC/IP pair and the destinations of its rules enter the kernel with the binding.
  auto& policy = firewall_.policy();
  mutation.kernel = policy.AddVm(firewall_.SecureVmOf(BoundVmOf(binding)));
  mutation.firewall = &firewall_;
  mutation.UndoAlso([&policy, vm = binding.vm] { policy.RemoveVm(vm); });
  return {};
}

std::function<void()> FirewallApi::PlanUnbind(const dhcp::VmBinding& binding, Mutation& mutation) {
  // Its allowlist elements, its binding's anti-spoofing element and its forwards go together.
  struct Removed {
    std::optional<allowlist::SecureVm> secure_vm;
    std::vector<proxy::Forward> forwards;
  };
  auto removed = std::make_shared<Removed>();
  auto& policy = firewall_.policy();
  auto& forwards = firewall_.forwards();
  firewall::ElementChanges changes;
  if (const auto* found = policy.FindVm(binding.vm)) {
    removed->secure_vm = *found;
    changes = policy.RemoveVm(binding.vm);
  }
  auto now = WallNowMs();
  for (const auto& id : forwards.OfVm(binding.vm)) {
    removed->forwards.push_back(*forwards.Remove(id));
    changes.remove.forwards.push_back(
        firewall::GatewayFirewall::ElementOf(removed->forwards.back(), now));
  }
  mutation.WriteFirst([this, removed] {
    for (const auto& forward : removed->forwards) store_.DeleteForward(forward.id);
  });
  mutation.kernel = std::move(changes);
  mutation.firewall = &firewall_;
  mutation.UndoAlso([&policy, &forwards, removed] {
    if (removed->secure_vm) policy.AddVm(*removed->secure_vm);
    for (const auto& forward : removed->forwards) forwards.Add(forward);
  });
  return [this, removed] {
    for (const auto& forward : removed->forwards) firewall_.CutForwardFlows(forward);
    if (!removed->forwards.empty()) forward_expiry_.Rearm();
  };
}

}  // namespace netd
