#include "netd/daemon/gateway_bindings.hpp"

namespace netd {

GatewayBindings::GatewayBindings(const dhcp::Ipam& ipam) {
  for (const auto& binding : ipam.List()) {
    index_.Bind(binding.network, binding.mac, {binding.vm, binding.ip});
  }
}

std::function<void()> GatewayBindings::PlanBind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, binding] {
    index_.Bind(binding.network, binding.mac, {binding.vm, binding.ip});
    if (on_change_) on_change_();
  };
}

std::function<void()> GatewayBindings::PlanUnbind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, binding] {
    index_.Unbind(binding.network, binding.mac);
    if (on_change_) on_change_();
  };
}

}  // namespace netd
