#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netd/allowlist/policy.hpp"
#include "netd/common/clock.hpp"
#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/store.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/proxy/forward_expiry.hpp"
#include "netd/proxy/forward_lifecycle.hpp"
#include "netd/proxy/forward_table.hpp"

namespace netd {

namespace firewall {
class GatewayFirewall;
}  // namespace firewall

// The gateway's firewall as the control API serves it: allowlist rules (/v1/allowlist),
// kernel port forwards (/v1/forwards), the table's figures, and the kernel's part of binding
// and unbinding a VM (its anti-spoofing and allowlist elements, its forwards).
class FirewallApi final : public Capability, public BindingObserver {
 public:
  // `clock` times the forwards: their dates and their expiry.
  FirewallApi(const Config& config, Store& store, AuditChain& audit, const dhcp::Ipam& ipam,
              firewall::GatewayFirewall& firewall, Clock& clock);

  static std::span<const RouteOf<FirewallApi>> Routes();
  void Report(StatusReport& report) const override;

  std::function<void()> PlanBind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  std::function<void()> PlanUnbind(const dhcp::VmBinding& binding, Mutation& mutation) override;

 private:
  ApiResponse ListRules(const ApiCall& call);
  ApiResponse GetRule(const ApiCall& call);
  ApiResponse PutRule(const ApiCall& call);
  ApiResponse DeleteRule(const ApiCall& call);
  ApiResponse AssignRule(const ApiCall& call);
  ApiResponse UnassignRule(const ApiCall& call);
  ApiResponse OpenForward(const ApiCall& call);
  ApiResponse ListForwards(const ApiCall& call);
  ApiResponse GetForward(const ApiCall& call);
  ApiResponse RenewForward(const ApiCall& call);
  ApiResponse CloseForward(const ApiCall& call);

  // The rule named `name`, or a 404 (422 for a malformed name).
  const allowlist::AllowlistRule& RequireRule(std::string_view name);
  void RequireAssignableVm(std::string_view vm, const std::string& field);
  nlohmann::json RuleJson(const allowlist::AllowlistRule& rule) const;
  ApiResponse CommitRule(const ApiCall& call, allowlist::AllowlistRule rule,
                         const std::string& action, const nlohmann::json& request);
  const proxy::Forward& RequireForward(std::string_view id);
  nlohmann::json ForwardJson(const proxy::Forward& forward) const;
  // Store, audit and kernel in one transaction, then the forwards' sessions are cut.
  // `in_kernel`: whether their elements are still in the kernel to be deleted.
  void RemoveForwards(const std::vector<proxy::Forward>& closing, const AuditEvent& event,
                      bool in_kernel);
  // Closes the forwards whose time has come (store, audit, kernel, sessions), netd the caller; a
  // refused one stays open and is offered again.
  void ExpireForwards(const std::vector<proxy::DueForward>& due);
  // Unix ms on `clock_`: the forwards' dates.
  std::int64_t WallNowMs() const;

  const Config& config_;
  Store& store_;
  AuditChain& audit_;
  const dhcp::Ipam& ipam_;
  firewall::GatewayFirewall& firewall_;
  Clock& clock_;
  proxy::ForwardLifecycle forward_lifecycle_;
  // Last: it starts with the forwards the firewall holds, and calls back into this object.
  proxy::ForwardExpiry forward_expiry_;
};

}  // namespace netd
