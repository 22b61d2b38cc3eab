#pragma once

#include <libnftnl/set.h>

#include <string>
#include <vector>

#include "netd/firewall/packet_filter.hpp"
#include "nft_batch.hpp"

namespace netd::firewall {

enum class ElementOperation { kAdd, kDelete };

// Each set's elements as the kernel keys them: every field of a concatenation padded to 32 bits,
// addresses and ports in network byte order. A deletion names an element by its key alone, so
// timeouts and map data go with additions only.
void EncodeExactAllow(nftnl_set_elem* element, const ExactAllow& allow, ElementOperation operation);
// allow4_ranges: the key is the box's first corner, the key end its last (inclusive).
void EncodeRangeAllow(nftnl_set_elem* element, const RangeAllow& range);
void EncodeBinding(nftnl_set_elem* element, const BoundAddress& binding);
// dhcp_clients4: MAC . chaddr (the same MAC) . ciaddr.
void EncodeDhcpClient(nftnl_set_elem* element, const MacAddress& mac, Ipv4Address ciaddr);
void EncodeForward(nftnl_set_elem* element, const ForwardElement& forward,
                   ElementOperation operation);
// A verdict map's element: the interface's name → jump to `chain`.
void EncodeNetworkJump(nftnl_set_elem* element, const std::string& interface,
                       const std::string& chain);

// The verdict maps' elements: which chain judges a packet, by the interface it came in on (or
// goes to).
void AddNetworkMapElements(NftBatch& batch, const std::vector<FilteredNetwork>& networks);

// The elements of allow4, allow4_ranges, vm_bind4, dhcp_clients4 (two for each binding) and
// fwd4, in messages that each fit a netlink attribute.
void AddElements(NftBatch& batch, ElementOperation operation, const TableElements& elements);

// Appends element deletions, then additions.
void AddElementChanges(NftBatch& batch, const ElementChanges& changes);

}  // namespace netd::firewall
