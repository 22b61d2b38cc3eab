#pragma once

// The objects of `inet ticrypt` by name, and what more than one piece of the table builder
// (set declarations, set elements, chains) needs to agree on.

#include <linux/netfilter.h>

#include <array>
#include <cstdint>
#include <string>

#include "netd/firewall/packet_filter.hpp"

namespace netd::firewall {

inline constexpr const char* kTableName = "ticrypt";
inline constexpr std::uint32_t kFamily = NFPROTO_INET;

inline constexpr const char* kSetAllow = "allow4";
inline constexpr const char* kSetAllowRanges = "allow4_ranges";
inline constexpr const char* kSetBindings = "vm_bind4";
inline constexpr const char* kSetDhcpClients = "dhcp_clients4";
inline constexpr const char* kMapGuard = "guard_networks";
inline constexpr const char* kMapInput = "input_networks";
inline constexpr const char* kMapForward = "forward_networks";
inline constexpr const char* kMapInbound = "inbound_networks";
inline constexpr const char* kMapForwards = "fwd4";

// Named counters: what netd drops, readable with `nft list counter inet ticrypt NAME`.
inline constexpr const char* kCounterIpv6 = "ipv6_dropped";
inline constexpr const char* kCounterSpoofedInput = "spoofed_input";
inline constexpr const char* kCounterSpoofedForward = "spoofed_forward";
inline constexpr const char* kCounterInputDenied = "input_denied";
inline constexpr const char* kCounterSecureDenied = "secure_egress_denied";
inline constexpr const char* kCounterCrossNetwork = "cross_network_denied";
inline constexpr const char* kCounterInbound = "inbound_denied";
inline constexpr const char* kCounterForward = "forward_denied";
inline constexpr const char* kCounterDhcp = "dhcp_denied";
inline constexpr const char* kCounterDhcpMisdirected = "dhcp_misdirected";
inline constexpr const char* kCounterGatewayAddress = "gateway_address_denied";
inline constexpr std::array kCounters = {
    kCounterIpv6,         kCounterSpoofedInput,    kCounterSpoofedForward, kCounterInputDenied,
    kCounterSecureDenied, kCounterCrossNetwork,    kCounterInbound,        kCounterForward,
    kCounterDhcp,         kCounterDhcpMisdirected, kCounterGatewayAddress};

inline constexpr const char* kChainInbound = "inbound";
inline constexpr const char* kChainGuard = "guard";
inline constexpr const char* kChainGuardToNetworks = "guard_to_networks";

// Each network's own chains, which the verdict maps jump to.
inline std::string InputChain(const FilteredNetwork& network) {
  return "input_" + network.name;
}
inline std::string ForwardChain(const FilteredNetwork& network) {
  return "forward_" + network.name;
}
inline std::string GuardChain(const FilteredNetwork& network) {
  return "guard_" + network.name;
}

// DHCP (BOOTP) fields, as offsets from the start of the UDP header: read by the input chains'
// rules and named in dhcp_clients4's declaration.
inline constexpr std::uint32_t kBootpHardwareType = 8 + 1;     // htype and hlen: 1 (Ethernet), 6
inline constexpr std::uint32_t kBootpClientAddress = 8 + 12;   // ciaddr
inline constexpr std::uint32_t kBootpRelayAddress = 8 + 24;    // giaddr
inline constexpr std::uint32_t kBootpClientHardware = 8 + 28;  // chaddr, its first 6 bytes a MAC

}  // namespace netd::firewall
