// The forward decision taken before routing (docs/firewall.md, "Failing closed"): what may be
// routed from or into a VM network gets the route mark, what may not is counted and dropped
// here, and policy routing drops whatever lacks the mark, so that nothing of a VM network is
// routed without this table, nor with a deleted or flushed chain of it: the forward chains
// decide again after routing.

// clang-format off
// netinet/in.h before the linux headers, which then skip their own definitions.
#include <netinet/in.h>
// clang-format on
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

#include "chains.hpp"
#include "nft_bytes.hpp"
#include "table_objects.hpp"

namespace netd::firewall {
namespace {

// guard: the fewest rules first, since every packet the gateway receives passes here. A flow
// is judged by its first packet; the rest of it (and its replies) follow, as in the forward
// chains, which also check every packet's source again.
void AddGuardDispatchRules(RuleWriter& rules, const TableLayout& layout) {
  {
    auto rule = rules.Start(kChainGuard);
    MatchEstablished(rule);
    SetRouteMark(rule, layout.route_mark);
    rule.Verdict(NFT_RETURN).Comment("established");
    rules.Add(rule, kChainGuard, "established");
  }
  for (const auto& network : layout.networks) {
    auto rule = rules.Start(kChainGuard);
    MatchIpv4DestinationIn(rule, network.cidr, /*inside=*/true);
    rule.Verdict(NFT_GOTO, kChainGuardToNetworks).Comment(fmt::format("into {}", network.name));
    rules.Add(rule, kChainGuard, fmt::format("into {}", network.name));
  }
  auto rule = rules.Start(kChainGuard);
  rule.MetaLoad(NFT_META_IIFNAME).VerdictMap(kMapGuard);
  rules.Add(rule, kChainGuard, "from networks");
}

// guard_to_networks after its source pinning: forwards in, the gateway's own traffic to the
// input chain, everything else dropped.
void AddGuardToNetworksRules(RuleWriter& rules, const TableLayout& layout) {
  const auto* chain = kChainGuardToNetworks;
  for (auto port : layout.forward_vm_ports) {
    auto rule = rules.Start(chain);
    MatchForwardedTo(rule, port);
    SetRouteMark(rule, layout.route_mark);
    rule.Verdict(NFT_RETURN).Comment("port forward");
    rules.Add(rule, chain, fmt::format("forward to port {}", port));
  }
  {
    auto rule = rules.Start(chain);
    MatchNotRouted(rule);
    rule.Verdict(NFT_RETURN).Comment("to the gateway");
    rules.Add(rule, chain, "not routed");
  }
  for (const auto& network : layout.networks) {
    auto rule = rules.Start(chain);
    rule.InterfaceIs(/*input=*/true, network.interface)
        .NamedCounter(kCounterCrossNetwork)
        .Verdict(NF_DROP)
        .Comment(fmt::format("from {}", network.name));
    rules.Add(rule, chain, fmt::format("no routing from {}", network.name));
  }
  auto rule = rules.Start(chain);
  rule.NamedCounter(kCounterInbound).Verdict(NF_DROP);
  rules.Add(rule, chain, "default drop");
}

}  // namespace

void AddNetworkGuardRules(RuleWriter& rules, const TableLayout& layout,
                          const FilteredNetwork& network) {
  auto chain = GuardChain(network);
  if (network.allowlist_egress) {
    for (const char* set : {kSetAllow, kSetAllowRanges}) {
      auto rule = rules.Start(chain);
      MatchSpoofed(rule, /*bound=*/true);
      MatchAllowed(rule, set);
      SetRouteMark(rule, layout.route_mark);
      rule.Verdict(NFT_RETURN).Comment("allowlist");
      rules.Add(rule, chain, fmt::format("allowlist {}", set));
    }
  } else {
    auto rule = rules.Start(chain);
    MatchIpv4Source(rule, network.cidr, /*inside=*/true);
    SetRouteMark(rule, layout.route_mark);
    rule.Verdict(NFT_RETURN).Comment("open egress");
    rules.Add(rule, chain, "open egress");
  }
  {
    auto rule = rules.Start(chain);
    MatchNotRouted(rule);
    rule.Verdict(NFT_RETURN).Comment("to the gateway");
    rules.Add(rule, chain, "not routed");
  }
  AddIpv6Drop(rules, chain);
  auto rule = rules.Start(chain);
  if (!network.allowlist_egress) {
    rule.NamedCounter(kCounterSpoofedForward)
        .Verdict(NF_DROP)
        .Comment("source outside the network");
    rules.Add(rule, chain, "anti-spoofing");
    return;
  }
  MatchSpoofed(rule);
  rule.NamedCounter(kCounterSpoofedForward).Verdict(NF_DROP).Comment("MAC and IP not bound");
  rules.Add(rule, chain, "anti-spoofing");
  AddSecureEgressDenied(rules, layout, network, chain);
}

void AddGuardRules(RuleWriter& rules, const TableLayout& layout) {
  AddGuardDispatchRules(rules, layout);
  // As in the forward chain: a network's addresses come only through its interface (from the
  // networks' own interfaces their chains drop them). What is not routed is the input chain's.
  for (const auto& network : layout.networks) {
    for (const char* chain : {kChainGuard, kChainGuardToNetworks}) {
      AddSourcePinning(rules, chain, network, kCounterSpoofedForward, [](RuleBuilder& rule) {
        rule.FibDestinationType().Compare(NFT_CMP_EQ, HostU32(RTN_UNICAST));
      });
    }
  }
  AddGuardToNetworksRules(rules, layout);
}

}  // namespace netd::firewall
