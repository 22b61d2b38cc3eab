// The base chains, which judge by interface and send each VM network's traffic to its own
// chains through the verdict maps, and inbound, which forward's map sends traffic into the
// networks to.

// clang-format off
// netinet/in.h before the linux headers, which then skip their own definitions.
#include <netinet/in.h>
// clang-format on
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "chains.hpp"
#include "nft_bytes.hpp"
#include "table_objects.hpp"

namespace netd::firewall {

// What the gateway's DHCP server sends: only by the bridge of the network whose gateway
// address it answers from, and only to that network (or broadcast): a request cannot make it
// write elsewhere.
void AddOutputRules(RuleWriter& rules, const TableLayout& layout) {
  auto dhcp_reply = [](RuleBuilder& rule) {
    rule.L4protoIs(IPPROTO_UDP)
        .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2)
        .Compare(NFT_CMP_EQ, Be16(67));
  };
  for (const auto& network : layout.networks) {
    {
      auto rule = rules.Start("output");
      MatchIpv4Source(rule, network.gateway);
      dhcp_reply(rule);
      rule.InterfaceIs(/*input=*/false, network.interface, /*equal=*/false)
          .NamedCounter(kCounterDhcpMisdirected)
          .Verdict(NF_DROP)
          .Comment(fmt::format("{} DHCP leaves by {} only", network.name, network.interface));
      rules.Add(rule, "output", fmt::format("{} DHCP interface", network.name));
    }
    {
      auto rule = rules.Start("output");
      rule.InterfaceIs(/*input=*/false, network.interface);
      dhcp_reply(rule);
      MatchIpv4DestinationIn(rule, network.cidr, /*inside=*/false);
      rule.PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 16, 4)
          .Compare(NFT_CMP_NEQ, Be32(0xffffffff))
          .NamedCounter(kCounterDhcpMisdirected)
          .Verdict(NF_DROP)
          .Comment(fmt::format("{} DHCP to {} only", network.name, network.name));
      rules.Add(rule, "output", fmt::format("{} DHCP destination", network.name));
    }
  }
}

void AddInboundRules(RuleWriter& rules, const TableLayout& layout) {
  {
    auto rule = rules.Start(kChainInbound);
    MatchEstablished(rule);
    rule.Verdict(NF_ACCEPT).Comment("replies only");
    rules.Add(rule, kChainInbound, "established");
  }
  for (auto port : layout.forward_vm_ports) {
    // Only fwd4's DNAT makes a new flow into a VM network.
    auto rule = rules.Start(kChainInbound);
    MatchForwardedTo(rule, port);
    rule.Verdict(NF_ACCEPT).Comment("port forward");
    rules.Add(rule, kChainInbound, fmt::format("forward to port {}", port));
  }
  auto rule = rules.Start(kChainInbound);
  rule.NamedCounter(kCounterInbound).Verdict(NF_DROP);
  rules.Add(rule, kChainInbound, "default drop");
}

void AddPreroutingRules(RuleWriter& rules, const TableLayout& layout) {
  // ip saddr . tcp dport -> ip daddr . tcp dport through fwd4, from the external interface.
  auto rule = rules.Start("prerouting");
  rule.InterfaceIs(/*input=*/true, layout.external_interface);
  MatchForwardPorts(rule, layout.forward_ports);
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, kReg1)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kReg32First + 1)
      .MapLookup(kMapForwards, kReg1, kReg1)
      .DestinationNat(kReg1, kReg32First + 1)
      .Comment("port forwards");
  rules.Add(rule, "prerouting", "port forwards");
}

// A packet with a network's source on any other interface (another network, the external one,
// a switch port the kernel answered ARP on) would bypass that network's chains.
void AddSourcePinningRules(RuleWriter& rules, const TableLayout& layout) {
  for (const auto& network : layout.networks) {
    // The gateway talking to its own address on that network comes in on lo.
    AddSourcePinning(rules, "input", network, kCounterSpoofedInput,
                     [](RuleBuilder& rule) { rule.InterfaceIs(/*input=*/true, "lo", false); });
  }
  for (const auto& network : layout.networks) {
    AddSourcePinning(rules, "forward", network, kCounterSpoofedForward, [](RuleBuilder&) {});
  }
}

void AddInputRules(RuleWriter& rules, const TableLayout& layout) {
  for (const auto& network : layout.networks) {
    // The weak host model would let any interface reach the gateway's address on a VM
    // network (its DNS, its backend ports): only that network's bridge may.
    auto rule = rules.Start("input");
    MatchIpv4Destination(rule, network.gateway);
    rule.InterfaceIs(/*input=*/true, network.interface, /*equal=*/false)
        .InterfaceIs(/*input=*/true, "lo", /*equal=*/false)
        .NamedCounter(kCounterGatewayAddress)
        .Verdict(NF_DROP)
        .Comment(fmt::format("{} gateway from another interface", network.name));
    rules.Add(rule, "input",
              fmt::format("{} gateway address pinned to {}", network.name, network.interface));
  }
  {
    // A forward's port reached the gateway itself: not from that forward's client.
    auto rule = rules.Start("input");
    rule.InterfaceIs(/*input=*/true, layout.external_interface);
    MatchForwardPorts(rule, layout.forward_ports);
    rule.NamedCounter(kCounterForward)
        .Verdict(NF_DROP)
        .Comment("forward ports: pinned clients only");
    rules.Add(rule, "input", "forward ports");
  }
  auto rule = rules.Start("input");
  rule.MetaLoad(NFT_META_IIFNAME).VerdictMap(kMapInput);
  rules.Add(rule, "input", "networks");
}

void AddForwardRules(RuleWriter& rules) {
  {
    auto rule = rules.Start("forward");
    rule.MetaLoad(NFT_META_IIFNAME).VerdictMap(kMapForward);
    rules.Add(rule, "forward", "from networks");
  }
  auto rule = rules.Start("forward");
  rule.MetaLoad(NFT_META_OIFNAME).VerdictMap(kMapInbound);
  rules.Add(rule, "forward", "into networks");
}

void AddPostroutingRules(RuleWriter& rules, const TableLayout& layout) {
  for (const auto& network : layout.networks) {
    auto rule = rules.Start("postrouting");
    rule.InterfaceIs(/*input=*/false, layout.external_interface);
    MatchIpv4Source(rule, network.cidr, /*inside=*/true);
    rule.Masquerade().Comment(network.name);
    rules.Add(rule, "postrouting", fmt::format("masquerade {}", network.name));
  }
}

}  // namespace netd::firewall
