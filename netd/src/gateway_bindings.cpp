#include "netd/daemon/gateway_bindings.hpp"

namespace netd {

GatewayBindings::GatewayBindings(const dhcp::Ipam& ipam) {
  for (const auto& binding : ipam.List()) {
    bound_[{binding.network, binding.mac}] = {binding.vm, binding.ip};
  }
}

std::optional<ovs::BoundPort> GatewayBindings::Find(std::string_view network,
                                                    MacAddress mac) const {
  auto it = bound_.find({std::string(network), mac});
  if (it == bound_.end()) return std::nullopt;
  return it->second;
}

std::function<void()> GatewayBindings::PlanBind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, binding] {
    bound_[{binding.network, binding.mac}] = {binding.vm, binding.ip};
    if (on_change_) on_change_();
  };
}

std::function<void()> GatewayBindings::PlanUnbind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, binding] {
    bound_.erase({binding.network, binding.mac});
    if (on_change_) on_change_();
  };
}

}  // namespace netd
