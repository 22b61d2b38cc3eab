#include "set_elements.hpp"

// clang-format off
// netinet/in.h before the linux headers, which then skip their own definitions.
#include <netinet/in.h>
// clang-format on
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>

#include "nft_bytes.hpp"
#include "nft_objects.hpp"
#include "table_objects.hpp"

namespace netd::firewall {
namespace {

// A message's element list is one netlink attribute, whose length field has 16 bits: longer
// lists wrap around and the kernel silently reads only the first elements. Messages are cut
// well below that, by an upper bound of each set's element size.
constexpr std::size_t kMaxElementListBytes = 60 * 1024;
constexpr std::size_t kExactElementBytes = 44;    // list entry, key nest, 16-byte key, timeout
constexpr std::size_t kRangeElementBytes = 64;    // list entry, key and key-end nests
constexpr std::size_t kBindElementBytes = 32;     // list entry, key nest, 12-byte key
constexpr std::size_t kDhcpClientBytes = 40;      // list entry, key nest, 20-byte key
constexpr std::size_t kMapElementBytes = 320;     // ifname key, verdict with a chain name
constexpr std::size_t kForwardElementBytes = 64;  // 8-byte key and data, timeout

void PutMac(std::uint8_t* out, const MacAddress& mac) {
  for (int i = 0; i < 6; ++i) out[i] = static_cast<std::uint8_t>(mac.value() >> (40 - 8 * i));
}

// vm . destination . protocol . port
using AllowKey = std::array<std::uint8_t, 16>;
AllowKey MakeAllowKey(Ipv4Address vm, Ipv4Address destination, std::uint8_t protocol,
                      std::uint16_t port) {
  AllowKey key{};
  PutBe32(key.data(), vm.value());
  PutBe32(key.data() + 4, destination.value());
  key[8] = protocol;
  PutBe16(key.data() + 12, port);
  return key;
}

// address . port, as fwd4's key (client . listen port) and data (VM . VM port).
using EndpointBytes = std::array<std::uint8_t, 8>;
EndpointBytes MakeEndpoint(Ipv4Address address, std::uint16_t port) {
  EndpointBytes bytes{};
  PutBe32(bytes.data(), address.value());
  PutBe16(bytes.data() + 4, port);
  return bytes;
}

template <std::size_t N>
void SetKey(nftnl_set_elem* element, std::uint16_t attribute,
            const std::array<std::uint8_t, N>& key) {
  nftnl_set_elem_set(element, attribute, key.data(), key.size());
}

// The element list is the message's last attribute; its length must cover the message's end.
void CheckElementListLength(const nlmsghdr* header) {
  const auto* attribute = FindAttribute(header, sizeof(nfgenmsg), NFTA_SET_ELEM_LIST_ELEMENTS);
  const auto* end = reinterpret_cast<const char*>(header) + header->nlmsg_len;
  if (attribute && reinterpret_cast<const char*>(attribute) + mnl_attr_get_len(attribute) != end) {
    throw std::logic_error(fmt::format("an element list of {} bytes overflows its attribute",
                                       end - reinterpret_cast<const char*>(attribute)));
  }
}

// Element messages of at most kMaxElementListBytes / element_bytes elements each; `fill`
// sets element i.
void AddElementMessages(NftBatch& batch, ElementOperation operation, const char* set_name,
                        std::size_t count, std::size_t element_bytes,
                        const std::function<void(std::size_t, nftnl_set_elem*)>& fill,
                        const std::function<std::string(std::size_t)>& describe) {
  const std::size_t per_message = kMaxElementListBytes / element_bytes;
  const bool adding = operation == ElementOperation::kAdd;
  for (std::size_t start = 0; start < count; start += per_message) {
    auto end = std::min(count, start + per_message);
    auto label = end - start == 1 ? fmt::format("element {} of set {}", describe(start), set_name)
                                  : fmt::format("elements {}-{} of set {} (first: {})", start + 1,
                                                end, set_name, describe(start));
    batch.Add(std::move(label), [&](char* buffer, std::uint32_t seq) {
      SetPtr set(nftnl_set_alloc());
      nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, kTableName);
      nftnl_set_set_str(set.get(), NFTNL_SET_NAME, set_name);
      for (auto i = start; i < end; ++i) {
        SetElementPtr element(nftnl_set_elem_alloc());
        if (!element) throw std::bad_alloc();
        fill(i, element.get());
        nftnl_set_elem_add(set.get(), element.release());  // the set owns it from here
      }
      auto* header = nftnl_nlmsg_build_hdr(buffer, adding ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                                           kFamily, adding ? NLM_F_CREATE : 0, seq);
      nftnl_set_elems_nlmsg_build_payload(header, set.get());
      CheckElementListLength(header);
      return header;
    });
  }
}

std::string ProtocolName(std::uint8_t protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    default:
      return std::to_string(protocol);
  }
}

// How an error report names an element.
std::string Describe(const ExactAllow& allow) {
  return fmt::format("{} . {} . {} . {}", allow.vm.ToString(), allow.destination.ToString(),
                     ProtocolName(allow.protocol), allow.port);
}

std::string Describe(const RangeAllow& range) {
  return fmt::format("{} . {}-{} . {} . {}", range.vm.ToString(), range.first.ToString(),
                     range.last.ToString(), ProtocolName(range.protocol), range.ports.ToString());
}

std::string Describe(const BoundAddress& binding) {
  return fmt::format("{} . {}", binding.mac.ToString(), binding.ip.ToString());
}

std::string Describe(const ForwardElement& forward) {
  return fmt::format("{} . {} : {} . {}", forward.client.ToString(), forward.listen_port,
                     forward.vm.ToString(), forward.vm_port);
}

// One element of `set_name` for each item, which `encode` fills.
template <typename Item, typename Encode>
void AddItemElements(NftBatch& batch, ElementOperation operation, const char* set_name,
                     std::size_t element_bytes, const std::vector<Item>& items,
                     const Encode& encode) {
  AddElementMessages(
      batch, operation, set_name, items.size(), element_bytes,
      [&](std::size_t i, nftnl_set_elem* element) { encode(element, items[i]); },
      [&](std::size_t i) { return Describe(items[i]); });
}

// What the bound VMs may say in DHCP: chaddr their own MAC, ciaddr their own address or none.
void AddDhcpClientElements(NftBatch& batch, ElementOperation operation,
                           const std::vector<BoundAddress>& bindings) {
  AddElementMessages(
      batch, operation, kSetDhcpClients, 2 * bindings.size(), kDhcpClientBytes,
      [&](std::size_t i, nftnl_set_elem* element) {
        const auto& binding = bindings[i / 2];
        EncodeDhcpClient(element, binding.mac, i % 2 ? binding.ip : Ipv4Address(0));
      },
      [&](std::size_t i) {
        const auto& binding = bindings[i / 2];
        return fmt::format("{} . {} . {}", binding.mac.ToString(), binding.mac.ToString(),
                           i % 2 ? binding.ip.ToString() : "0.0.0.0");
      });
}

}  // namespace

void EncodeExactAllow(nftnl_set_elem* element, const ExactAllow& allow,
                      ElementOperation operation) {
  SetKey(element, NFTNL_SET_ELEM_KEY,
         MakeAllowKey(allow.vm, allow.destination, allow.protocol, allow.port));
  if (operation == ElementOperation::kAdd && allow.timeout_ms > 0) {
    nftnl_set_elem_set_u64(element, NFTNL_SET_ELEM_TIMEOUT, allow.timeout_ms);
  }
}

void EncodeRangeAllow(nftnl_set_elem* element, const RangeAllow& range) {
  SetKey(element, NFTNL_SET_ELEM_KEY,
         MakeAllowKey(range.vm, range.first, range.protocol, range.ports.first));
  SetKey(element, NFTNL_SET_ELEM_KEY_END,
         MakeAllowKey(range.vm, range.last, range.protocol, range.ports.last));
}

void EncodeBinding(nftnl_set_elem* element, const BoundAddress& binding) {
  std::array<std::uint8_t, 12> key{};  // MAC (two registers) . IP
  PutMac(key.data(), binding.mac);
  PutBe32(key.data() + 8, binding.ip.value());
  SetKey(element, NFTNL_SET_ELEM_KEY, key);
}

void EncodeDhcpClient(nftnl_set_elem* element, const MacAddress& mac, Ipv4Address ciaddr) {
  std::array<std::uint8_t, 20> key{};
  PutMac(key.data(), mac);
  PutMac(key.data() + 8, mac);
  PutBe32(key.data() + 16, ciaddr.value());
  SetKey(element, NFTNL_SET_ELEM_KEY, key);
}

void EncodeForward(nftnl_set_elem* element, const ForwardElement& forward,
                   ElementOperation operation) {
  SetKey(element, NFTNL_SET_ELEM_KEY, MakeEndpoint(forward.client, forward.listen_port));
  if (operation == ElementOperation::kDelete) return;
  SetKey(element, NFTNL_SET_ELEM_DATA, MakeEndpoint(forward.vm, forward.vm_port));
  if (forward.timeout_ms > 0) {
    nftnl_set_elem_set_u64(element, NFTNL_SET_ELEM_TIMEOUT, forward.timeout_ms);
  }
}

void EncodeNetworkJump(nftnl_set_elem* element, const std::string& interface,
                       const std::string& chain) {
  std::array<std::uint8_t, 16> key{};  // IFNAMSIZ, NUL-padded
  std::memcpy(key.data(), interface.data(), std::min(interface.size(), key.size() - 1));
  SetKey(element, NFTNL_SET_ELEM_KEY, key);
  nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, static_cast<std::uint32_t>(NFT_JUMP));
  nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, chain.c_str());
}

void AddNetworkMapElements(NftBatch& batch, const std::vector<FilteredNetwork>& networks) {
  auto add_map = [&](const char* map,
                     const std::function<std::string(const FilteredNetwork&)>& target) {
    AddElementMessages(
        batch, ElementOperation::kAdd, map, networks.size(), kMapElementBytes,
        [&](std::size_t i, nftnl_set_elem* element) {
          EncodeNetworkJump(element, networks[i].interface, target(networks[i]));
        },
        [&](std::size_t i) { return networks[i].interface; });
  };
  add_map(kMapInput, InputChain);
  add_map(kMapForward, ForwardChain);
  add_map(kMapInbound, [](const FilteredNetwork&) { return std::string(kChainInbound); });
  add_map(kMapGuard, GuardChain);
}

void AddElements(NftBatch& batch, ElementOperation operation, const TableElements& elements) {
  AddItemElements(batch, operation, kSetAllow, kExactElementBytes, elements.exact,
                  [&](nftnl_set_elem* element, const ExactAllow& allow) {
                    EncodeExactAllow(element, allow, operation);
                  });
  AddItemElements(batch, operation, kSetAllowRanges, kRangeElementBytes, elements.ranges,
                  EncodeRangeAllow);
  AddItemElements(batch, operation, kSetBindings, kBindElementBytes, elements.bindings,
                  EncodeBinding);
  AddDhcpClientElements(batch, operation, elements.bindings);
  AddItemElements(batch, operation, kMapForwards, kForwardElementBytes, elements.forwards,
                  [&](nftnl_set_elem* element, const ForwardElement& forward) {
                    EncodeForward(element, forward, operation);
                  });
}

void AddElementChanges(NftBatch& batch, const ElementChanges& changes) {
  AddElements(batch, ElementOperation::kDelete, changes.remove);
  AddElements(batch, ElementOperation::kAdd, changes.add);
}

}  // namespace netd::firewall
