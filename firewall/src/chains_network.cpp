// clang-format off
// netinet/in.h before the linux headers, which then skip their own definitions.
#include <netinet/in.h>
// clang-format on
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <net/if_arp.h>

#include <array>

#include "chains.hpp"
#include "nft_bytes.hpp"
#include "table_objects.hpp"

namespace netd::firewall {
namespace {

void MatchDhcpRequest(RuleBuilder& rule) {
  rule.L4protoIs(IPPROTO_UDP)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2)
      .Compare(NFT_CMP_EQ, Be16(68))
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)
      .Compare(NFT_CMP_EQ, Be16(67));
}

// ether saddr . chaddr . ciaddr @dhcp_clients4: a bound VM asking for itself (an Ethernet
// chaddr, its own MAC) with its own address or none.
void MatchOwnRequest(RuleBuilder& rule) {
  rule.PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, kBootpHardwareType, 2)
      .Compare(NFT_CMP_EQ, std::array<std::uint8_t, 2>{1, 6})
      .MetaLoad(NFT_META_IIFTYPE)
      .Compare(NFT_CMP_EQ, HostU16(ARPHRD_ETHER))
      .PayloadLoad(NFT_PAYLOAD_LL_HEADER, 6, 6, kReg1)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, kBootpClientHardware, 6, kReg32First + 2)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, kBootpClientAddress, 4, kReg32First + 4)
      .Lookup(kSetDhcpClients, kReg1);
}

// A VM with its address: RENEW to the gateway, REBIND broadcast, INFORM, RELEASE.
void AddDhcpFromAddressRule(RuleWriter& rules, const FilteredNetwork& network,
                            Ipv4Address destination) {
  auto chain = InputChain(network);
  auto rule = rules.Start(chain);
  MatchDhcpRequest(rule);
  MatchIpv4Destination(rule, destination);
  if (network.allowlist_egress) {
    MatchSpoofed(rule, /*bound=*/true);
    MatchOwnRequest(rule);
  } else {
    MatchIpv4Source(rule, network.cidr, /*inside=*/true);
    MatchAddressIn(rule, NFT_PAYLOAD_TRANSPORT_HEADER, kBootpClientAddress, network.cidr,
                   /*inside=*/true);
  }
  rule.Verdict(NF_ACCEPT).Comment("DHCP from a bound address");
  rules.Add(rule, chain, destination == network.gateway ? "DHCP to the gateway" : "DHCP broadcast");
}

// DHCP before anti-spoofing, since a VM asks for its lease from 0.0.0.0. What dnsmasq answers
// goes to the request's ciaddr or giaddr, or to chaddr's lease: so no relay (giaddr) on any
// network, ciaddr inside the network, and on allowlisted networks only a bound VM asking for
// itself (chaddr the frame's source, ciaddr its own bound address or none).
void AddDhcpInputRules(RuleWriter& rules, const FilteredNetwork& network) {
  auto chain = InputChain(network);
  {
    auto rule = rules.Start(chain);
    MatchDhcpRequest(rule);
    rule.PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, kBootpRelayAddress, 4)
        .Compare(NFT_CMP_NEQ, Be32(0))
        .NamedCounter(kCounterDhcp)
        .Verdict(NF_DROP)
        .Comment("DHCP through a relay (giaddr)");
    rules.Add(rule, chain, "DHCP relay");
  }
  {
    // Discovery: DISCOVER, and REQUEST or DECLINE while the VM has no address.
    auto rule = rules.Start(chain);
    MatchDhcpRequest(rule);
    MatchIpv4Source(rule, Ipv4Address(0));
    MatchIpv4Destination(rule, Ipv4Address(0xffffffff));
    rule.PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, kBootpClientAddress, 4)
        .Compare(NFT_CMP_EQ, Be32(0));
    if (network.allowlist_egress) MatchOwnRequest(rule);
    rule.Verdict(NF_ACCEPT).Comment("DHCP discovery");
    rules.Add(rule, chain, "DHCP discovery");
  }
  for (auto destination : {network.gateway, Ipv4Address(0xffffffff)}) {
    AddDhcpFromAddressRule(rules, network, destination);
  }
  {
    auto rule = rules.Start(chain);
    MatchDhcpRequest(rule);
    rule.NamedCounter(kCounterDhcp).Verdict(NF_DROP).Comment("DHCP not from the asking VM");
    rules.Add(rule, chain, "DHCP denied");
  }
}

// What a VM may reach on its gateway address: ping, the filtered DNS (allowlisted networks),
// the backend ports.
void AddGatewayServiceRules(RuleWriter& rules, const TableLayout& layout,
                            const FilteredNetwork& network) {
  auto chain = InputChain(network);
  {
    auto rule = rules.Start(chain);
    MatchIpv4Destination(rule, network.gateway);
    rule.L4protoIs(IPPROTO_ICMP)
        .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1)
        .Compare(NFT_CMP_EQ, std::array<std::uint8_t, 1>{8})
        .Verdict(NF_ACCEPT)
        .Comment("ping the gateway");
    rules.Add(rule, chain, "ping");
  }
  if (network.allowlist_egress) {
    for (auto protocol : {IPPROTO_UDP, IPPROTO_TCP}) {
      auto rule = rules.Start(chain);
      MatchIpv4Destination(rule, network.gateway);
      MatchDestinationPort(rule, static_cast<std::uint8_t>(protocol), 53);
      rule.Verdict(NF_ACCEPT).Comment("filtered DNS");
      rules.Add(rule, chain, "DNS");
    }
  }
  for (auto port : layout.backend_tcp_ports) {
    auto rule = rules.Start(chain);
    MatchIpv4Destination(rule, network.gateway);
    MatchDestinationPort(rule, IPPROTO_TCP, port);
    rule.Verdict(NF_ACCEPT).Comment("backend service");
    rules.Add(rule, chain, fmt::format("backend port {}", port));
  }
}

}  // namespace

void AddNetworkInputRules(RuleWriter& rules, const TableLayout& layout,
                          const FilteredNetwork& network) {
  auto chain = InputChain(network);
  AddIpv6Drop(rules, chain);
  AddDhcpInputRules(rules, network);
  if (network.allowlist_egress) {
    auto rule = rules.Start(chain);
    MatchSpoofed(rule);
    rule.NamedCounter(kCounterSpoofedInput).Verdict(NF_DROP).Comment("MAC and IP not bound");
    rules.Add(rule, chain, "anti-spoofing");
  }
  AddEstablishedAccept(rules, chain);
  AddGatewayServiceRules(rules, layout, network);
  auto rule = rules.Start(chain);
  rule.NamedCounter(kCounterInputDenied).Verdict(NF_DROP);
  rules.Add(rule, chain, "default drop");
}

void AddNetworkForwardRules(RuleWriter& rules, const TableLayout& layout,
                            const FilteredNetwork& network) {
  auto chain = ForwardChain(network);
  AddIpv6Drop(rules, chain);
  {
    auto rule = rules.Start(chain);
    if (network.allowlist_egress) {
      MatchSpoofed(rule);
      rule.Comment("MAC and IP not bound");
    } else {
      MatchIpv4Source(rule, network.cidr, /*inside=*/false);
      rule.Comment("source outside the network");
    }
    rule.NamedCounter(kCounterSpoofedForward).Verdict(NF_DROP);
    rules.Add(rule, chain, "anti-spoofing");
  }
  {
    auto rule = rules.Start(chain);
    rule.InterfaceIs(/*input=*/false, layout.external_interface, /*equal=*/false)
        .NamedCounter(kCounterCrossNetwork)
        .Verdict(NF_DROP)
        .Comment("only out of the external interface");
    rules.Add(rule, chain, "no routing between networks");
  }
  if (!network.allowlist_egress) {
    auto rule = rules.Start(chain);
    rule.Verdict(NF_ACCEPT).Comment("open egress");
    rules.Add(rule, chain, "open egress");
    return;
  }
  AddEstablishedAccept(rules, chain);
  for (const char* set : {kSetAllow, kSetAllowRanges}) {
    auto rule = rules.Start(chain);
    MatchAllowed(rule, set);
    rule.Verdict(NF_ACCEPT).Comment("allowlist");
    rules.Add(rule, chain, fmt::format("allowlist {}", set));
  }
  AddSecureEgressDenied(rules, layout, network, chain);
}

}  // namespace netd::firewall
