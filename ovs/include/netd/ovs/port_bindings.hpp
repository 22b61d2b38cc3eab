#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::ovs {

// A VM the gateway bound on a network, as a host learns it from the policy database.
struct BoundPort {
  std::string vm;
  Ipv4Address address;
  friend bool operator==(const BoundPort&, const BoundPort&) = default;
};

// What a group opens between two of its members: every protocol (ip_proto nullopt), or one
// protocol on the listed destination ports (tcp and udp; every port where empty).
struct GroupAllowance {
  std::optional<std::uint8_t> ip_proto{};
  std::set<std::uint16_t> ports{};
  friend bool operator==(const GroupAllowance&, const GroupAllowance&) = default;
  friend auto operator<=>(const GroupAllowance&, const GroupAllowance&) = default;
};

// A group of VMs on a network whose members may reach each other as `allowance` says.
struct GroupRule {
  std::string name;
  std::string network;
  std::set<std::string> members;
  GroupAllowance allowance;
  friend bool operator==(const GroupRule&, const GroupRule&) = default;
};

// The allowance of a group whose protocol is `protocol` ("all", "tcp", "udp", "icmp") and
// whose ports are `ports`; nullopt for another protocol.
std::optional<GroupAllowance> GroupAllowanceOf(std::string_view protocol,
                                               std::set<std::uint16_t> ports);

// A bound VM that shares at least one group with another VM on a network, and what the groups
// they share open between the two (in both directions).
struct GroupPeer {
  std::string vm;
  MacAddress mac;
  Ipv4Address address;
  std::vector<GroupAllowance> allowances;  // sorted, without repeats; {all} where one is all
  friend bool operator==(const GroupPeer&, const GroupPeer&) = default;
};

// The gateway's bindings and groups as this host knows them: port security pins a VM port of a
// network that requires a binding only when its MAC is bound there, and lets it reach the peers
// its groups name (policy/'s PolicyFeed, or the gateway's own state where both roles run in one
// netd).
class PortBindings {
 public:
  enum class State {
    kAwaiting,  // never heard from the source since start: nothing is known
    kCurrent,   // the source's current bindings
    kStale,     // the source went away: the last bindings known, kept until it answers again
  };
  virtual ~PortBindings() = default;
  virtual State state() const = 0;
  virtual std::optional<BoundPort> Find(std::string_view network, MacAddress mac) const = 0;
  // The bound VMs that share a group with `vm` on `network`, by vm.
  virtual std::vector<GroupPeer> PeersOf(std::string_view network, std::string_view vm) const = 0;
};

std::string_view ToString(PortBindings::State state);

// Bindings and groups indexed the ways port security asks for them; what every PortBindings
// source keeps. A VM has at most one binding per network.
class BindingIndex {
 public:
  void Bind(const std::string& network, MacAddress mac, BoundPort bound);
  void Unbind(const std::string& network, MacAddress mac);
  void SetGroup(GroupRule group);
  void RemoveGroup(const std::string& name);

  std::optional<BoundPort> Find(std::string_view network, MacAddress mac) const;
  std::vector<GroupPeer> PeersOf(std::string_view network, std::string_view vm) const;
  std::size_t bindings() const { return by_mac_.size(); }
  std::size_t groups() const { return groups_.size(); }

 private:
  using NetworkVm = std::pair<std::string, std::string>;
  std::map<std::pair<std::string, MacAddress>, BoundPort> by_mac_;
  std::map<NetworkVm, MacAddress> by_vm_;
  std::map<std::string, GroupRule> groups_;
  std::map<NetworkVm, std::set<std::string>> groups_of_;  // group names
};

}  // namespace netd::ovs
