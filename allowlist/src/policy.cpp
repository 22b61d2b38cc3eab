#include "netd/allowlist/policy.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <iterator>

#include "netd/allowlist/name_pattern.hpp"

namespace netd::allowlist {

std::vector<std::uint8_t> ProtocolNumbers(AllowProtocol protocol) {
  switch (protocol) {
    case AllowProtocol::kTcp:
      return {IPPROTO_TCP};
    case AllowProtocol::kUdp:
      return {IPPROTO_UDP};
    case AllowProtocol::kBoth:
      break;
  }
  return {IPPROTO_TCP, IPPROTO_UDP};
}

namespace {

std::vector<PortRange> MergePorts(std::vector<PortRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const PortRange& a, const PortRange& b) { return a.first < b.first; });
  std::vector<PortRange> merged;
  for (const auto& range : ranges) {
    if (!merged.empty() && std::uint32_t{range.first} <= std::uint32_t{merged.back().last} + 1) {
      merged.back().last = std::max(merged.back().last, range.last);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

struct Box {
  std::uint64_t first;  // addresses, widened so that last + 1 never wraps
  std::uint64_t last;
  PortRange ports;
};

// The union of `boxes` (destination range x port range) as boxes that do not overlap: the
// kernel's interval set refuses an element whose start lies inside another element.
std::vector<Box> DisjointCover(const std::vector<Box>& boxes) {
  std::vector<std::uint64_t> points;
  for (const auto& box : boxes) {
    points.push_back(box.first);
    points.push_back(box.last + 1);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  std::vector<Box> cover;
  std::vector<PortRange> previous_ports;
  std::size_t group_start = 0;
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    std::vector<PortRange> ports;
    for (const auto& box : boxes) {
      if (box.first <= points[i] && points[i] <= box.last) ports.push_back(box.ports);
    }
    ports = MergePorts(std::move(ports));
    bool extends = !ports.empty() && ports == previous_ports && group_start < cover.size() &&
                   cover.back().last + 1 == points[i];
    if (extends) {
      for (auto j = group_start; j < cover.size(); ++j) cover[j].last = points[i + 1] - 1;
    } else {
      group_start = cover.size();
      for (const auto& range : ports) cover.push_back({points[i], points[i + 1] - 1, range});
    }
    previous_ports = std::move(ports);
  }
  return cover;
}

template <typename T>
void Diff(const std::set<T>& before, const std::set<T>& after, std::vector<T>& removed,
          std::vector<T>& added) {
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(removed));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
}

}  // namespace

std::string_view ToString(AllowProtocol protocol) {
  switch (protocol) {
    case AllowProtocol::kTcp:
      return "tcp";
    case AllowProtocol::kUdp:
      return "udp";
    case AllowProtocol::kBoth:
      break;
  }
  return "both";
}

bool AllowlistRule::AppliesTo(std::string_view vm) const {
  return all_vms || std::binary_search(vms.begin(), vms.end(), vm);
}

bool AllowlistRule::Names(std::string_view name) const {
  return std::any_of(hosts.begin(), hosts.end(),
                     [&](const std::string& host) { return CanonicalNameMatches(host, name); });
}

bool AllowlistRule::NamesExactly(std::string_view name) const {
  return std::find(hosts.begin(), hosts.end(), name) != hosts.end();
}

bool AllowlistRule::AllowsQtype(std::uint16_t qtype) const {
  return std::binary_search(qtypes.begin(), qtypes.end(), qtype);
}

bool AllowlistRule::OpensPort(std::uint8_t protocol_number, std::uint16_t port) const {
  auto protocols = ProtocolNumbers(protocol);
  if (std::find(protocols.begin(), protocols.end(), protocol_number) == protocols.end()) {
    return false;
  }
  return std::any_of(ports.begin(), ports.end(),
                     [&](const PortRange& range) { return range.Contains(port); });
}

const SecureVm* AllowlistPolicy::FindVmAt(Ipv4Address ip) const {
  auto it = vm_by_ip_.find(ip);
  return it == vm_by_ip_.end() ? nullptr : FindVm(it->second);
}

bool AllowlistPolicy::HoldsExact(const ExactAllow& element) const {
  auto vm = vm_by_ip_.find(element.vm);
  if (vm == vm_by_ip_.end()) return false;
  auto current = current_.find(vm->second);
  return current != current_.end() && current->second.exact.contains(element);
}

std::vector<const AllowlistRule*> AllowlistPolicy::RulesNaming(std::string_view vm,
                                                               std::string_view name) const {
  std::vector<const AllowlistRule*> naming;
  for (const auto& [rule_name, rule] : rules_) {
    if (!rule.hosts.empty() && rule.AppliesTo(vm) && rule.Names(name)) naming.push_back(&rule);
  }
  return naming;
}

bool AllowlistPolicy::NamesAddress(std::string_view vm, Ipv4Address address) const {
  auto holds = [&](const std::string& rule_name) {
    const auto& networks = rules_.find(rule_name)->second.networks;
    return std::any_of(networks.begin(), networks.end(),
                       [&](const Ipv4Cidr& network) { return network.Contains(address); });
  };
  if (std::any_of(all_vm_rules_.begin(), all_vm_rules_.end(), holds)) return true;
  auto own = rules_by_vm_.find(vm);
  return own != rules_by_vm_.end() && std::any_of(own->second.begin(), own->second.end(), holds);
}

const AllowlistRule* AllowlistPolicy::FindRule(std::string_view name) const {
  auto it = rules_.find(name);
  return it == rules_.end() ? nullptr : &it->second;
}

const SecureVm* AllowlistPolicy::FindVm(std::string_view vm) const {
  auto it = vms_.find(vm);
  return it == vms_.end() ? nullptr : &it->second;
}

std::vector<std::string> AllowlistPolicy::BoundVmsOf(const AllowlistRule& rule) const {
  std::vector<std::string> bound;
  if (rule.all_vms) {
    for (const auto& [id, vm] : vms_) bound.push_back(id);
  } else {
    for (const auto& id : rule.vms) {
      if (vms_.contains(id)) bound.push_back(id);
    }
  }
  return bound;
}

AllowlistPolicy::VmElements AllowlistPolicy::Desired(const SecureVm& vm) const {
  VmElements elements;
  std::map<std::uint8_t, std::vector<Box>> boxes;
  auto add_rule = [&](const AllowlistRule& rule) {
    for (auto protocol : ProtocolNumbers(rule.protocol)) {
      for (const auto& network : rule.networks) {
        for (const auto& ports : rule.ports) {
          if (network.prefix_length() == 32 && ports.first == ports.last) {
            elements.exact.insert({vm.ip, network.base(), protocol, ports.first});
          } else {
            boxes[protocol].push_back({network.first().value(), network.last().value(), ports});
          }
        }
      }
    }
  };
  for (const auto& name : all_vm_rules_) add_rule(rules_.find(name)->second);
  if (auto it = rules_by_vm_.find(vm.id); it != rules_by_vm_.end()) {
    for (const auto& name : it->second) add_rule(rules_.find(name)->second);
  }
  for (const auto& [protocol, protocol_boxes] : boxes) {
    for (const auto& box : DisjointCover(protocol_boxes)) {
      elements.ranges.insert({vm.ip, Ipv4Address(static_cast<std::uint32_t>(box.first)),
                              Ipv4Address(static_cast<std::uint32_t>(box.last)), protocol,
                              box.ports});
    }
  }
  return elements;
}

void AllowlistPolicy::Recompute(const SecureVm& vm, SetChanges& changes) {
  auto desired = Desired(vm);
  auto& current = current_[vm.id];
  Diff(current.exact, desired.exact, changes.remove.exact, changes.add.exact);
  Diff(current.ranges, desired.ranges, changes.remove.ranges, changes.add.ranges);
  allow_elements_ -= current.exact.size() + current.ranges.size();
  allow_elements_ += desired.exact.size() + desired.ranges.size();
  current = std::move(desired);
}

void AllowlistPolicy::RecomputeAffected(const AllowlistRule* before, const AllowlistRule* after,
                                        SetChanges& changes) {
  // A rule whose destinations, protocol and ports stay the same changes only the VMs that
  // joined or left it: assigning one VM to a rule of thousands recomputes one VM.
  if (before && after && before->networks == after->networks && before->ports == after->ports &&
      before->protocol == after->protocol && before->all_vms == after->all_vms) {
    if (after->all_vms) return;
    std::vector<std::string> moved;
    std::set_symmetric_difference(before->vms.begin(), before->vms.end(), after->vms.begin(),
                                  after->vms.end(), std::back_inserter(moved));
    for (const auto& id : moved) {
      if (auto it = vms_.find(id); it != vms_.end()) Recompute(it->second, changes);
    }
    return;
  }
  bool everyone = (before && before->all_vms) || (after && after->all_vms);
  if (everyone) {
    for (const auto& [id, vm] : vms_) Recompute(vm, changes);
    return;
  }
  std::set<std::string_view> affected;
  for (const auto* rule : {before, after}) {
    if (rule) affected.insert(rule->vms.begin(), rule->vms.end());
  }
  for (auto id : affected) {
    if (auto it = vms_.find(id); it != vms_.end()) Recompute(it->second, changes);
  }
}

void AllowlistPolicy::Unindex(const AllowlistRule& rule) {
  all_vm_rules_.erase(rule.name);
  for (const auto& vm : rule.vms) {
    auto names = rules_by_vm_.find(vm);
    names->second.erase(rule.name);
    if (names->second.empty()) rules_by_vm_.erase(names);
  }
}

SetChanges AllowlistPolicy::PutRule(const AllowlistRule& rule) {
  SetChanges changes;
  std::optional<AllowlistRule> before;
  if (auto it = rules_.find(rule.name); it != rules_.end()) {
    before = std::move(it->second);
    rules_.erase(it);
    Unindex(*before);
  }
  const auto& stored = rules_.emplace(rule.name, rule).first->second;
  if (stored.all_vms) all_vm_rules_.insert(stored.name);
  for (const auto& vm : stored.vms) rules_by_vm_[vm].insert(stored.name);
  RecomputeAffected(before ? &*before : nullptr, &stored, changes);
  return changes;
}

SetChanges AllowlistPolicy::RemoveRule(std::string_view name) {
  SetChanges changes;
  auto it = rules_.find(name);
  if (it == rules_.end()) return changes;
  auto before = std::move(it->second);
  rules_.erase(it);
  Unindex(before);
  RecomputeAffected(&before, nullptr, changes);
  return changes;
}

SetChanges AllowlistPolicy::AddVm(const SecureVm& vm) {
  SetChanges changes;
  if (vms_.contains(vm.id)) changes = RemoveVm(vm.id);
  vms_.emplace(vm.id, vm);
  vm_by_ip_[vm.ip] = vm.id;
  changes.add.bindings.push_back({vm.mac, vm.ip});
  Recompute(vm, changes);
  return changes;
}

SetChanges AllowlistPolicy::RemoveVm(std::string_view id) {
  SetChanges changes;
  auto it = vms_.find(id);
  if (it == vms_.end()) return changes;
  const auto& vm = it->second;
  changes.remove.bindings.push_back({vm.mac, vm.ip});
  if (auto current = current_.find(id); current != current_.end()) {
    const auto& elements = current->second;
    changes.remove.exact.assign(elements.exact.begin(), elements.exact.end());
    changes.remove.ranges.assign(elements.ranges.begin(), elements.ranges.end());
    allow_elements_ -= elements.exact.size() + elements.ranges.size();
    current_.erase(current);
  }
  vm_by_ip_.erase(vm.ip);
  vms_.erase(it);
  return changes;
}

SetElements AllowlistPolicy::Elements() const {
  SetElements elements;
  for (const auto& [id, vm] : vms_) elements.bindings.push_back({vm.mac, vm.ip});
  for (const auto& [id, current] : current_) {
    elements.exact.insert(elements.exact.end(), current.exact.begin(), current.exact.end());
    elements.ranges.insert(elements.ranges.end(), current.ranges.begin(), current.ranges.end());
  }
  return elements;
}

bool AllowlistPolicy::Allows(const FlowTuple& flow) const {
  auto vm = vm_by_ip_.find(flow.source);
  if (vm == vm_by_ip_.end()) return false;
  auto current = current_.find(vm->second);
  return current != current_.end() && current->second.Allows(flow);
}

bool AllowlistPolicy::VmElements::Allows(const FlowTuple& flow) const {
  if (exact.contains({flow.source, flow.destination, flow.protocol, flow.destination_port})) {
    return true;
  }
  return std::any_of(ranges.begin(), ranges.end(), [&](const RangeAllow& range) {
    return range.protocol == flow.protocol && range.first <= flow.destination &&
           flow.destination <= range.last && range.ports.Contains(flow.destination_port);
  });
}

std::map<Ipv4Address, AllowlistPolicy::VmElements> AllowlistPolicy::ElementsOf(
    const std::set<Ipv4Address>& vms) const {
  std::map<Ipv4Address, VmElements> out;
  for (auto address : vms) {
    auto& elements = out[address];
    auto vm = vm_by_ip_.find(address);
    if (vm == vm_by_ip_.end()) continue;
    if (auto current = current_.find(vm->second); current != current_.end()) {
      elements = current->second;
    }
  }
  return out;
}

}  // namespace netd::allowlist
