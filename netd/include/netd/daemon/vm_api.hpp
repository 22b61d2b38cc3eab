#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/store.hpp"
#include "netd/dhcp/ipam.hpp"

namespace netd {

struct Mutation;

// A capability's part in the bindings: what binding or unbinding a VM changes in it (inside
// the one mutation that stores the binding), what follows the commit, and what it shows
// about a bound VM.
class BindingObserver {
 public:
  virtual ~BindingObserver() = default;
  // Adds this capability's rows, kernel changes and undo to `mutation`; returns what to do once
  // it is committed and the bindings in memory hold the change (may be empty).
  virtual std::function<void()> PlanBind(const dhcp::VmBinding& binding, Mutation& mutation);
  virtual std::function<void()> PlanUnbind(const dhcp::VmBinding& binding, Mutation& mutation);
  virtual void HostnameChanged(const dhcp::VmBinding& binding);
  // Adds its view of a bound VM to GET /v1/vms/{vm}.
  virtual void Describe(const dhcp::VmBinding& binding, nlohmann::json& body) const;
};

// The VM bindings: /v1/networks and /v1/vms, each VM's network, address and MAC (the IPAM) in
// the store; how many are bound, per network.
class VmApi final : public Capability {
 public:
  VmApi(const Config& config, Store& store, AuditChain& audit, dhcp::Ipam& ipam);

  // Capabilities that take part in binding, in the order they are told.
  void AddObserver(BindingObserver& observer) { observers_.push_back(&observer); }

  static std::span<const RouteOf<VmApi>> Routes();
  void Report(StatusReport& report) const override;

 private:
  ApiResponse Networks(const ApiCall& call);
  ApiResponse ListVms(const ApiCall& call);
  ApiResponse GetVm(const ApiCall& call);
  ApiResponse BindVm(const ApiCall& call);
  ApiResponse UnbindVm(const ApiCall& call);

  const Config& config_;
  Store& store_;
  AuditChain& audit_;
  dhcp::Ipam& ipam_;
  std::vector<BindingObserver*> observers_;
};

}  // namespace netd
