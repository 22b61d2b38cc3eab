#include "rule_writer.hpp"

// clang-format off
// netinet/in.h before the linux headers, which then skip their own definitions.
#include <netinet/in.h>
// clang-format on
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>

#include <array>

#include "nft_bytes.hpp"
#include "table_objects.hpp"

namespace netd::firewall {

RuleBuilder RuleWriter::Start(const std::string& chain) {
  return RuleBuilder(kTableName, chain, kFamily);
}

void RuleWriter::Add(RuleBuilder& rule, const std::string& chain, const std::string& what) {
  auto index = ++rules_per_chain_[chain];
  batch_.Add(fmt::format("rule {} of chain {} ({})", index, chain, what),
             [&](char* buffer, std::uint32_t seq) {
               auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWRULE, kFamily,
                                                    NLM_F_APPEND | NLM_F_CREATE, seq);
               nftnl_rule_nlmsg_build_payload(header, rule.get());
               return header;
             });
}

void MatchIpv4Source(RuleBuilder& rule, Ipv4Address address) {
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4)
      .Compare(NFT_CMP_EQ, Be32(address.value()));
}

void MatchIpv4Destination(RuleBuilder& rule, Ipv4Address address) {
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 16, 4)
      .Compare(NFT_CMP_EQ, Be32(address.value()));
}

void MatchAddressIn(RuleBuilder& rule, std::uint32_t base, std::uint32_t offset,
                    const Ipv4Cidr& cidr, bool inside) {
  auto mask = cidr.prefix_length() == 0 ? 0u : ~0u << (32 - cidr.prefix_length());
  rule.PayloadLoad(base, offset, 4)
      .Bitwise(Be32(mask))
      .Compare(inside ? NFT_CMP_EQ : NFT_CMP_NEQ, Be32(cidr.base().value()));
}

void MatchIpv4Source(RuleBuilder& rule, const Ipv4Cidr& cidr, bool inside) {
  rule.NfprotoIs(NFPROTO_IPV4);
  MatchAddressIn(rule, NFT_PAYLOAD_NETWORK_HEADER, 12, cidr, inside);
}

void MatchIpv4DestinationIn(RuleBuilder& rule, const Ipv4Cidr& cidr, bool inside) {
  rule.NfprotoIs(NFPROTO_IPV4);
  MatchAddressIn(rule, NFT_PAYLOAD_NETWORK_HEADER, 16, cidr, inside);
}

void MatchDestinationPort(RuleBuilder& rule, std::uint8_t protocol, std::uint16_t port) {
  rule.L4protoIs(protocol)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)
      .Compare(NFT_CMP_EQ, Be16(port));
}

void MatchForwardPorts(RuleBuilder& rule, PortRange ports) {
  rule.L4protoIs(IPPROTO_TCP)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)
      .Compare(NFT_CMP_GTE, Be16(ports.first))
      .Compare(NFT_CMP_LTE, Be16(ports.last));
}

void MatchForwardedTo(RuleBuilder& rule, std::uint16_t port) {
  rule.CtLoad(NFT_CT_STATUS)
      .Bitwise(HostU32(IPS_DST_NAT))
      .Compare(NFT_CMP_NEQ, std::array<std::uint8_t, 4>{});
  MatchDestinationPort(rule, IPPROTO_TCP, port);
}

void MatchEstablished(RuleBuilder& rule) {
  rule.CtLoad(NFT_CT_STATE)
      .Bitwise(HostU32(NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED)))
      .Compare(NFT_CMP_NEQ, std::array<std::uint8_t, 4>{});
}

void MatchNotRouted(RuleBuilder& rule) {
  rule.FibDestinationType().Compare(NFT_CMP_NEQ, HostU32(RTN_UNICAST));
}

// The MAC takes two 32-bit registers, the IP the third.
void MatchSpoofed(RuleBuilder& rule, bool bound) {
  rule.MetaLoad(NFT_META_IIFTYPE)
      .Compare(NFT_CMP_EQ, HostU16(ARPHRD_ETHER))
      .NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_LL_HEADER, 6, 6, kReg1)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, kReg32First + 2)
      .Lookup(kSetBindings, kReg1, /*inverted=*/!bound);
}

void MatchAllowed(RuleBuilder& rule, const char* set) {
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, kReg1)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 16, 4, kReg32First + 1)
      .MetaLoad(NFT_META_L4PROTO, kReg32First + 2)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kReg32First + 3)
      .Lookup(set, kReg1);
}

void SetRouteMark(RuleBuilder& rule, std::uint32_t route_mark) {
  rule.MetaLoad(NFT_META_MARK)
      .Bitwise(HostU32(~route_mark), HostU32(route_mark))
      .MetaSet(NFT_META_MARK);
}

void AddIpv6Drop(RuleWriter& rules, const std::string& chain) {
  auto rule = rules.Start(chain);
  rule.NfprotoIs(NFPROTO_IPV6)
      .NamedCounter(kCounterIpv6)
      .Verdict(NF_DROP)
      .Comment("no IPv6 on VM networks");
  rules.Add(rule, chain, "IPv6 dropped");
}

void AddEstablishedAccept(RuleWriter& rules, const std::string& chain) {
  auto rule = rules.Start(chain);
  MatchEstablished(rule);
  rule.Verdict(NF_ACCEPT);
  rules.Add(rule, chain, "established");
}

void AddSecureEgressDenied(RuleWriter& rules, const TableLayout& layout,
                           const FilteredNetwork& network, const std::string& chain) {
  {
    auto rule = rules.Start(chain);
    rule.Limit(layout.log_rate_per_second, layout.log_rate_per_second)
        .Log(layout.log_group, fmt::format("ticrypt {} denied: ", network.name));
    rules.Add(rule, chain, "log denied");
  }
  {
    auto rule = rules.Start(chain);
    rule.NamedCounter(kCounterSecureDenied).Verdict(NF_DROP);
    rules.Add(rule, chain, "default drop");
  }
}

void AddSourcePinning(RuleWriter& rules, const std::string& chain, const FilteredNetwork& network,
                      const char* counter, const std::function<void(RuleBuilder&)>& narrow) {
  auto rule = rules.Start(chain);
  MatchIpv4Source(rule, network.cidr, /*inside=*/true);
  rule.InterfaceIs(/*input=*/true, network.interface, /*equal=*/false);
  narrow(rule);
  rule.NamedCounter(counter).Verdict(NF_DROP).Comment(
      fmt::format("{} addresses from another interface", network.name));
  rules.Add(rule, chain, fmt::format("{} source pinned to {}", network.name, network.interface));
}

}  // namespace netd::firewall
