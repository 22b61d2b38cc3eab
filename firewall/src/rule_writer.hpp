#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "netd/firewall/packet_filter.hpp"
#include "nft_batch.hpp"
#include "nft_objects.hpp"

namespace netd::firewall {

// Writes the rules of every chain, numbering them per chain for error reports.
class RuleWriter {
 public:
  explicit RuleWriter(NftBatch& batch) : batch_(batch) {}

  RuleBuilder Start(const std::string& chain);
  void Add(RuleBuilder& rule, const std::string& chain, const std::string& what);

 private:
  NftBatch& batch_;
  std::map<std::string, int> rules_per_chain_;
};

// Matches more than one chain uses, in the expressions nft generates for them.

void MatchIpv4Source(RuleBuilder& rule, Ipv4Address address);
void MatchIpv4Destination(RuleBuilder& rule, Ipv4Address address);
// The IPv4 address at `offset` of payload `base` is inside `cidr` (or, with !inside, not).
void MatchAddressIn(RuleBuilder& rule, std::uint32_t base, std::uint32_t offset,
                    const Ipv4Cidr& cidr, bool inside);
void MatchIpv4Source(RuleBuilder& rule, const Ipv4Cidr& cidr, bool inside);
void MatchIpv4DestinationIn(RuleBuilder& rule, const Ipv4Cidr& cidr, bool inside);
void MatchDestinationPort(RuleBuilder& rule, std::uint8_t protocol, std::uint16_t port);
void MatchForwardPorts(RuleBuilder& rule, PortRange ports);
// A new flow fwd4's DNAT translated to `port` of a VM.
void MatchForwardedTo(RuleBuilder& rule, std::uint16_t port);
void MatchEstablished(RuleBuilder& rule);
// Not routed: to one of the gateway's own addresses, a broadcast or a multicast group. Such
// packets are judged by the input chain.
void MatchNotRouted(RuleBuilder& rule);
// ether saddr . ip saddr != @vm_bind4 (or, with `bound`, == ).
void MatchSpoofed(RuleBuilder& rule, bool bound = false);
// ip saddr . ip daddr . meta l4proto . th dport @set
void MatchAllowed(RuleBuilder& rule, const char* set);
// meta mark set meta mark | route_mark
void SetRouteMark(RuleBuilder& rule, std::uint32_t route_mark);

// Rule groups of the networks' chains.

// Every chain of a VM network starts with this: no IPv6 exists on VM networks.
void AddIpv6Drop(RuleWriter& rules, const std::string& chain);
void AddEstablishedAccept(RuleWriter& rules, const std::string& chain);
// The end of an allowlisted network's egress: logged (rate-limited) and dropped.
void AddSecureEgressDenied(RuleWriter& rules, const TableLayout& layout,
                           const FilteredNetwork& network, const std::string& chain);

// A network's addresses arrive only through its interface: with `network`'s source from any
// other interface, and whatever `narrow` adds, dropped and counted in `counter`.
void AddSourcePinning(RuleWriter& rules, const std::string& chain, const FilteredNetwork& network,
                      const char* counter, const std::function<void(RuleBuilder&)>& narrow);

}  // namespace netd::firewall
