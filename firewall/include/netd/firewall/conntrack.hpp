#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "netd/allowlist/elements.hpp"
#include "netd/common/address.hpp"
#include "netd/common/port_range.hpp"

// libmnl's socket, declared at global scope: an elaborated `struct mnl_socket*` inside the
// namespace would declare a different, netd::firewall::mnl_socket.
struct mnl_socket;

namespace netd::firewall {

using allowlist::FlowTuple;

// Which IPv4 conntrack entries to delete, matched on the original direction of the flow
// (the direction the first packet went, before NAT).
struct ConntrackFilter {
  std::optional<Ipv4Address> source;           // exact original source address
  std::optional<Ipv4Cidr> destination;         // original destination inside this CIDR
  std::optional<std::uint8_t> protocol;        // IPPROTO_TCP, IPPROTO_UDP, ...; any if empty
  std::optional<PortRange> destination_ports;  // original destination port (TCP/UDP only)
  // Entries the fields above match but this accepts are kept: a revocation deletes only the
  // flows the remaining policy no longer allows.
  std::function<bool(const FlowTuple&)> keep;
};

// Deletes conntrack entries through ctnetlink (libmnl), in the caller's network namespace.
// Revoking an allowlist entry or a forward deletes its flows so that established
// connections stop, not only new ones.
class ConntrackTable {
 public:
  ConntrackTable();
  ~ConntrackTable();
  ConntrackTable(const ConntrackTable&) = delete;
  ConntrackTable& operator=(const ConntrackTable&) = delete;

  // Deletes every entry the filter matches; returns how many were deleted. Entries that
  // vanish while this runs are not errors. Throws std::system_error on netlink failure.
  std::size_t Delete(const ConntrackFilter& filter);

 private:
  void Open();
  std::size_t DeleteOnce(const ConntrackFilter& filter);

  mnl_socket* socket_ = nullptr;
  std::uint32_t port_id_ = 0;
  std::uint32_t sequence_ = 0;
};

}  // namespace netd::firewall
