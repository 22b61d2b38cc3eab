#include "netd/ovs/port_bindings.hpp"

#include <algorithm>

namespace netd::ovs {

std::string_view ToString(PortBindings::State state) {
  switch (state) {
    case PortBindings::State::kAwaiting:
      return "awaiting";
    case PortBindings::State::kCurrent:
      return "current";
    case PortBindings::State::kStale:
      return "stale";
  }
  return "unknown";
}

std::optional<GroupAllowance> GroupAllowanceOf(std::string_view protocol,
                                               std::set<std::uint16_t> ports) {
  GroupAllowance allowance{std::nullopt, std::move(ports)};
  if (protocol == "tcp") {
    allowance.ip_proto = 6;
  } else if (protocol == "udp") {
    allowance.ip_proto = 17;
  } else if (protocol == "icmp") {
    allowance.ip_proto = 1;
  } else if (protocol != "all") {
    return std::nullopt;
  }
  return allowance;
}

void BindingIndex::Bind(const std::string& network, MacAddress mac, BoundPort bound) {
  auto [previous, fresh] = by_vm_.try_emplace({network, bound.vm}, mac);
  if (!fresh && previous->second != mac) {
    by_mac_.erase({network, previous->second});
    previous->second = mac;
  }
  auto [old, inserted] = by_mac_.try_emplace({network, mac}, bound);
  if (!inserted && old->second.vm != bound.vm) {
    // The MAC moved to another VM: the VM that had it is no longer bound here.
    by_vm_.erase({network, old->second.vm});
  }
  old->second = std::move(bound);
}

void BindingIndex::Unbind(const std::string& network, MacAddress mac) {
  auto it = by_mac_.find({network, mac});
  if (it == by_mac_.end()) return;
  auto vm = by_vm_.find({network, it->second.vm});
  if (vm != by_vm_.end() && vm->second == mac) by_vm_.erase(vm);
  by_mac_.erase(it);
}

void BindingIndex::SetGroup(GroupRule group) {
  RemoveGroup(group.name);
  for (const auto& member : group.members) {
    groups_of_[{group.network, member}].insert(group.name);
  }
  auto name = group.name;
  groups_.emplace(std::move(name), std::move(group));
}

void BindingIndex::RemoveGroup(const std::string& name) {
  auto it = groups_.find(name);
  if (it == groups_.end()) return;
  for (const auto& member : it->second.members) {
    auto of = groups_of_.find({it->second.network, member});
    if (of == groups_of_.end()) continue;
    of->second.erase(name);
    if (of->second.empty()) groups_of_.erase(of);
  }
  groups_.erase(it);
}

std::optional<BoundPort> BindingIndex::Find(std::string_view network, MacAddress mac) const {
  auto it = by_mac_.find({std::string(network), mac});
  if (it == by_mac_.end()) return std::nullopt;
  return it->second;
}

std::vector<GroupPeer> BindingIndex::PeersOf(std::string_view network, std::string_view vm) const {
  std::string network_name(network);
  auto of = groups_of_.find({network_name, std::string(vm)});
  if (of == groups_of_.end()) return {};
  std::map<std::string, std::set<GroupAllowance>> allowed;
  for (const auto& name : of->second) {
    const auto& group = groups_.at(name);
    for (const auto& member : group.members) {
      if (member != vm) allowed[member].insert(group.allowance);
    }
  }
  std::vector<GroupPeer> peers;
  for (auto& [member, allowances] : allowed) {
    auto mac = by_vm_.find({network_name, member});
    if (mac == by_vm_.end()) continue;  // not bound on the network: nothing to reach
    GroupPeer peer{member, mac->second, by_mac_.at({network_name, mac->second}).address, {}};
    if (std::any_of(allowances.begin(), allowances.end(),
                    [](const GroupAllowance& a) { return !a.ip_proto; })) {
      peer.allowances = {GroupAllowance{}};
    } else {
      peer.allowances.assign(allowances.begin(), allowances.end());
    }
    peers.push_back(std::move(peer));
  }
  return peers;
}

}  // namespace netd::ovs
