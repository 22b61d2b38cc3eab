#include "netd/dhcp/ipam.hpp"

#include <fmt/format.h>

#include <cassert>

namespace netd::dhcp {

Ipam::Ipam(const std::vector<IpamNetwork>& networks) {
  for (const auto& network : networks) {
    pools_.emplace(network.name, AddressPool(network.dhcp_first, network.dhcp_last));
  }
}

std::optional<std::string> Ipam::Restore(const VmBinding& binding) {
  auto pool = pools_.find(binding.network);
  if (pool == pools_.end()) {
    return fmt::format("VM {} is bound to network \"{}\", which is not configured", binding.vm,
                       binding.network);
  }
  if (!pool->second.Contains(binding.ip)) {
    return fmt::format("VM {} has {} outside the DHCP range {}-{} of network {}", binding.vm,
                       binding.ip.ToString(), pool->second.first().ToString(),
                       pool->second.last().ToString(), binding.network);
  }
  if (!pool->second.Take(binding.ip)) {
    return fmt::format("VM {} has {}, which another VM already holds", binding.vm,
                       binding.ip.ToString());
  }
  bindings_.emplace(binding.vm, binding);
  return std::nullopt;
}

const VmBinding* Ipam::Find(std::string_view vm) const {
  auto it = bindings_.find(vm);
  return it == bindings_.end() ? nullptr : &it->second;
}

bool Ipam::HasNetwork(std::string_view network) const {
  return pools_.contains(network);
}

std::optional<VmBinding> Ipam::Propose(std::string_view vm, std::string_view network) const {
  auto address = pool(network).LowestFree();
  if (!address) return std::nullopt;
  return VmBinding{std::string(vm), std::string(network),
                   *address,        MacAddress::ForVmAddress(*address),
                   std::nullopt,    0};
}

void Ipam::Add(const VmBinding& binding) {
  auto pool = pools_.find(binding.network);
  assert(pool != pools_.end());
  [[maybe_unused]] bool taken = pool->second.Take(binding.ip);
  assert(taken);
  bindings_.emplace(binding.vm, binding);
}

void Ipam::SetHostname(std::string_view vm, std::optional<std::string> hostname) {
  auto it = bindings_.find(vm);
  assert(it != bindings_.end());
  it->second.hostname = std::move(hostname);
}

void Ipam::Remove(std::string_view vm) {
  auto it = bindings_.find(vm);
  if (it == bindings_.end()) return;
  pools_.find(it->second.network)->second.Release(it->second.ip);
  bindings_.erase(it);
}

std::vector<VmBinding> Ipam::List(std::optional<std::string_view> network) const {
  std::vector<VmBinding> result;
  for (const auto& [vm, binding] : bindings_) {
    if (!network || binding.network == *network) result.push_back(binding);
  }
  return result;
}

const AddressPool& Ipam::pool(std::string_view network) const {
  auto it = pools_.find(network);
  assert(it != pools_.end());
  return it->second;
}

}  // namespace netd::dhcp
