#include "netd/daemon/gateway_bindings.hpp"

#include <spdlog/spdlog.h>

namespace netd {

GatewayBindings::GatewayBindings(const dhcp::Ipam& ipam,
                                 const std::vector<policy::PublishedGroup>& groups) {
  for (const auto& binding : ipam.List()) {
    index_.Bind(binding.network, binding.mac, {binding.vm, binding.ip});
  }
  for (const auto& group : groups) SetGroup(group);
}

void GatewayBindings::SetGroup(const policy::PublishedGroup& group) {
  auto allowance = ovs::GroupAllowanceOf(group.protocol, group.ports);
  if (!allowance) {
    // GroupApi stores only the protocols the allowance knows; a group that is none opens nothing.
    spdlog::error("group {}: protocol {} opens nothing on the host side", group.name,
                  group.protocol);
    index_.RemoveGroup(group.name);
    return;
  }
  index_.SetGroup({group.name, group.network, group.members, std::move(*allowance)});
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

std::function<void()> GatewayBindings::PlanSetGroup(const policy::PublishedGroup& group,
                                                    Mutation&) {
  return [this, group] {
    SetGroup(group);
    if (on_change_) on_change_();
  };
}

std::function<void()> GatewayBindings::PlanRemoveGroup(const std::string& name, Mutation&) {
  return [this, name] {
    index_.RemoveGroup(name);
    if (on_change_) on_change_();
  };
}

}  // namespace netd
