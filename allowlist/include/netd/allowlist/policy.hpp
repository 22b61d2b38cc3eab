#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netd/allowlist/elements.hpp"
#include "netd/allowlist/qtypes.hpp"
#include "netd/common/address.hpp"
#include "netd/common/port_range.hpp"

namespace netd::allowlist {

enum class AllowProtocol { kTcp, kUdp, kBoth };

// Addresses learned from DNS answers are opened port by port, so a rule naming host names
// keeps its port ranges this narrow.
constexpr std::uint32_t kMaxLearnedPortsPerRange = 1024;
std::string_view ToString(AllowProtocol protocol);
// IPPROTO_TCP, IPPROTO_UDP or both.
std::vector<std::uint8_t> ProtocolNumbers(AllowProtocol protocol);

// A superadmin's egress rule: which secure VMs may open connections to which destinations.
struct AllowlistRule {
  std::string name;
  std::vector<std::string> destinations;  // as given: IPv4 addresses, CIDRs and host names
  std::vector<Ipv4Cidr> networks;         // the address and CIDR destinations (an address is /32)
  std::vector<std::string> hosts;         // the host name destinations, lower case (`*.` allowed)
  AllowProtocol protocol = AllowProtocol::kTcp;
  std::vector<PortRange> ports;
  // The DNS query types the filtered DNS forwards for the rule's host names, sorted (type
  // numbers; A and AAAA unless the rule says otherwise).
  std::vector<std::uint16_t> qtypes{kQtypeA, kQtypeAaaa};
  bool all_vms = false;          // "*": every secure VM, also those bound later
  std::vector<std::string> vms;  // sorted, unique; empty when all_vms
  std::string comment;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;

  bool AppliesTo(std::string_view vm) const;
  // Whether one of the rule's host names matches `name` (canonical: lower case, no trailing
  // dot).
  bool Names(std::string_view name) const;
  // Whether one of its host names is `name` itself, not a wildcard that matches it.
  bool NamesExactly(std::string_view name) const;
  bool AllowsQtype(std::uint16_t qtype) const;
  // Whether the rule opens this protocol and port (whatever the destination).
  bool OpensPort(std::uint8_t protocol, std::uint16_t port) const;
  friend bool operator==(const AllowlistRule&, const AllowlistRule&) = default;
};

// A bound VM of a network whose egress is allowlisted.
struct SecureVm {
  std::string id;
  Ipv4Address ip;
  MacAddress mac;
};

// What the kernel must hold for the allowlist rules and the bound secure VMs: `allow4`,
// `allow4_ranges` and `vm_bind4`. Every change returns the element changes that bring the
// kernel from the previous state to the new one; applying the reverse operation undoes it.
class AllowlistPolicy {
 public:
  SetChanges PutRule(const AllowlistRule& rule);
  SetChanges RemoveRule(std::string_view name);
  SetChanges AddVm(const SecureVm& vm);
  SetChanges RemoveVm(std::string_view vm);

  const AllowlistRule* FindRule(std::string_view name) const;
  const std::map<std::string, AllowlistRule, std::less<>>& rules() const { return rules_; }
  const SecureVm* FindVm(std::string_view vm) const;
  const SecureVm* FindVmAt(Ipv4Address ip) const;
  // Whether allow4 holds this element because of a rule's address destinations.
  bool HoldsExact(const ExactAllow& element) const;
  // The rules that apply to `vm` and name `name` among their host names.
  std::vector<const AllowlistRule*> RulesNaming(std::string_view vm, std::string_view name) const;
  // Whether a rule that applies to `vm` has an address or CIDR destination holding `address`.
  bool NamesAddress(std::string_view vm, Ipv4Address address) const;
  // The bound secure VMs a rule opens destinations for, sorted.
  std::vector<std::string> BoundVmsOf(const AllowlistRule& rule) const;

  // Every element, for a full table apply.
  SetElements Elements() const;
  // Elements in allow4 and allow4_ranges.
  std::size_t allow_elements() const { return allow_elements_; }
  // Whether the VM's current elements let this flow start (conntrack revocation keeps these).
  bool Allows(const FlowTuple& flow) const;

  // What one VM may start: its elements, copied out of the policy so that a flow check can
  // run on another thread.
  struct VmElements {
    std::set<ExactAllow> exact;
    std::set<RangeAllow> ranges;
    bool Allows(const FlowTuple& flow) const;
  };
  // The current elements of these VMs by address; a VM without any (or unknown) maps to none.
  std::map<Ipv4Address, VmElements> ElementsOf(const std::set<Ipv4Address>& vms) const;

 private:
  // Drops a rule from the indexes that say which rules apply to which VMs.
  void Unindex(const AllowlistRule& rule);
  VmElements Desired(const SecureVm& vm) const;
  void Recompute(const SecureVm& vm, SetChanges& changes);
  void RecomputeAffected(const AllowlistRule* before, const AllowlistRule* after,
                         SetChanges& changes);

  std::map<std::string, AllowlistRule, std::less<>> rules_;
  std::set<std::string, std::less<>> all_vm_rules_;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> rules_by_vm_;
  std::map<std::string, SecureVm, std::less<>> vms_;
  std::map<Ipv4Address, std::string> vm_by_ip_;
  std::map<std::string, VmElements, std::less<>> current_;
  std::size_t allow_elements_ = 0;
};

}  // namespace netd::allowlist
