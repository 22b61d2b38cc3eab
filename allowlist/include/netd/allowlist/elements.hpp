#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/common/port_range.hpp"

namespace netd::allowlist {

// The original direction of a tracked IPv4 flow: what revocation checks against a VM's
// remaining elements.
struct FlowTuple {
  Ipv4Address source;
  Ipv4Address destination;
  std::uint8_t protocol = 0;
  std::uint16_t destination_port = 0;  // 0 for protocols without ports
};

// An `allow4` element: vm . destination . protocol . port, exactly.
struct ExactAllow {
  Ipv4Address vm;
  Ipv4Address destination;
  std::uint8_t protocol = 0;
  std::uint16_t port = 0;
  // The kernel drops the element after this long (0: never); set on additions of addresses
  // learned from DNS answers. Not part of the element's identity.
  std::uint64_t timeout_ms = 0;
  friend auto operator<=>(const ExactAllow& a, const ExactAllow& b) {
    return std::tie(a.vm, a.destination, a.protocol, a.port) <=>
           std::tie(b.vm, b.destination, b.protocol, b.port);
  }
  friend bool operator==(const ExactAllow& a, const ExactAllow& b) { return (a <=> b) == 0; }
};

// An `allow4_ranges` element: destination and port as inclusive ranges. Elements of one VM
// and protocol never overlap (the kernel's interval set refuses some overlaps).
struct RangeAllow {
  Ipv4Address vm;
  Ipv4Address first;
  Ipv4Address last;
  std::uint8_t protocol = 0;
  PortRange ports;
  friend auto operator<=>(const RangeAllow& a, const RangeAllow& b) {
    return std::tie(a.vm, a.protocol, a.first, a.last, a.ports.first, a.ports.last) <=>
           std::tie(b.vm, b.protocol, b.first, b.last, b.ports.first, b.ports.last);
  }
  friend bool operator==(const RangeAllow&, const RangeAllow&) = default;
};

// A `vm_bind4` element: a bound secure VM's MAC and IP.
struct BoundAddress {
  MacAddress mac;
  Ipv4Address ip;
  friend auto operator<=>(const BoundAddress&, const BoundAddress&) = default;
};

// What the allowlist puts in the gateway's sets (`allow4`, `allow4_ranges`, `vm_bind4`); the
// firewall adds its other sets' elements to these.
struct SetElements {
  std::vector<ExactAllow> exact;
  std::vector<RangeAllow> ranges;
  std::vector<BoundAddress> bindings;
};

// Element additions and deletions that bring the sets from one policy to the next; the kernel
// applies them in one transaction, deletions first.
struct SetChanges {
  SetElements add;
  SetElements remove;
  bool empty() const { return size() == 0; }
  std::size_t size() const;
};

}  // namespace netd::allowlist
