#include "table_builder.hpp"

// clang-format off
// netinet/in.h before the linux headers, which then skip their own definitions.
#include <netinet/in.h>
// clang-format on
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>

#include <array>
#include <cstring>
#include <map>
#include <stdexcept>

#include "nft_batch.hpp"
#include "nft_objects.hpp"

namespace netd::firewall {
namespace {

constexpr std::uint32_t kFamily = NFPROTO_INET;
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

// nftables' datatype ids (nftables/include/datatype.h), for the key types `nft list` prints.
constexpr std::uint32_t kTypeIpv4Address = 7;
constexpr std::uint32_t kTypeEtherAddress = 9;
constexpr std::uint32_t kTypeInetProtocol = 12;
constexpr std::uint32_t kTypeInetService = 13;
constexpr std::uint32_t kTypeIfname = 41;
constexpr std::uint32_t kTypeInteger = 4;
constexpr std::uint32_t kTypeBits = 6;
constexpr std::uint32_t kByteorderHost = 1;  // BYTEORDER_HOST_ENDIAN

constexpr std::uint32_t ConcatType(std::initializer_list<std::uint32_t> types) {
  std::uint32_t id = 0;
  for (auto type : types) id = (id << kTypeBits) | type;
  return id;
}

// Named counters: what netd drops, readable with `nft list counter inet ticrypt NAME`.
constexpr const char* kCounterIpv6 = "ipv6_dropped";
constexpr const char* kCounterSpoofedInput = "spoofed_input";
constexpr const char* kCounterSpoofedForward = "spoofed_forward";
constexpr const char* kCounterInputDenied = "input_denied";
constexpr const char* kCounterSecureDenied = "secure_egress_denied";
constexpr const char* kCounterCrossNetwork = "cross_network_denied";
constexpr const char* kCounterInbound = "inbound_denied";
constexpr const char* kCounterForward = "forward_denied";
constexpr const char* kCounterDhcp = "dhcp_denied";
constexpr const char* kCounterDhcpMisdirected = "dhcp_misdirected";
constexpr const char* kCounterGatewayAddress = "gateway_address_denied";

constexpr const char* kSetAllow = "allow4";
constexpr const char* kSetAllowRanges = "allow4_ranges";
constexpr const char* kSetBindings = "vm_bind4";
constexpr const char* kSetDhcpClients = "dhcp_clients4";
constexpr const char* kMapGuard = "guard_networks";
constexpr const char* kMapInput = "input_networks";
constexpr const char* kMapForward = "forward_networks";
constexpr const char* kMapInbound = "inbound_networks";
constexpr const char* kMapForwards = "fwd4";

constexpr const char* kChainInbound = "inbound";
constexpr const char* kChainGuard = "guard";
constexpr const char* kChainGuardToNetworks = "guard_to_networks";

// DHCP (BOOTP) fields, as offsets from the start of the UDP header.
constexpr std::uint32_t kBootpHardwareType = 8 + 1;     // htype and hlen: 1 (Ethernet), 6
constexpr std::uint32_t kBootpClientAddress = 8 + 12;   // ciaddr
constexpr std::uint32_t kBootpRelayAddress = 8 + 24;    // giaddr
constexpr std::uint32_t kBootpClientHardware = 8 + 28;  // chaddr, its first 6 bytes a MAC

void PutBe32(std::uint8_t* out, std::uint32_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 24);
  out[1] = static_cast<std::uint8_t>(value >> 16);
  out[2] = static_cast<std::uint8_t>(value >> 8);
  out[3] = static_cast<std::uint8_t>(value);
}

std::array<std::uint8_t, 4> Be32(std::uint32_t value) {
  std::array<std::uint8_t, 4> out{};
  PutBe32(out.data(), value);
  return out;
}

// Conntrack state bits and interface types are compared in host byte order.
std::array<std::uint8_t, 4> HostU32(std::uint32_t value) {
  std::array<std::uint8_t, 4> out{};
  std::memcpy(out.data(), &value, sizeof(value));
  return out;
}

std::array<std::uint8_t, 2> HostU16(std::uint16_t value) {
  std::array<std::uint8_t, 2> out{};
  std::memcpy(out.data(), &value, sizeof(value));
  return out;
}

std::array<std::uint8_t, 2> Be16(std::uint16_t value) {
  return {static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}

// Keys laid out as the registers hold them: every field padded to 32 bits.
using AllowKey = std::array<std::uint8_t, 16>;
AllowKey MakeAllowKey(Ipv4Address vm, Ipv4Address destination, std::uint8_t protocol,
                      std::uint16_t port) {
  AllowKey key{};
  PutBe32(key.data(), vm.value());
  PutBe32(key.data() + 4, destination.value());
  key[8] = protocol;
  key[12] = static_cast<std::uint8_t>(port >> 8);
  key[13] = static_cast<std::uint8_t>(port);
  return key;
}

using BindKey = std::array<std::uint8_t, 12>;
BindKey MakeBindKey(const BoundAddress& binding) {
  BindKey key{};
  for (int i = 0; i < 6; ++i) {
    key[i] = static_cast<std::uint8_t>(binding.mac.value() >> (40 - 8 * i));
  }
  PutBe32(key.data() + 8, binding.ip.value());
  return key;
}

// dhcp_clients4: MAC . chaddr . ciaddr, each field padded to 32 bits.
using DhcpClientKey = std::array<std::uint8_t, 20>;
DhcpClientKey MakeDhcpClientKey(const MacAddress& mac, Ipv4Address ciaddr) {
  DhcpClientKey key{};
  for (int i = 0; i < 6; ++i) {
    key[i] = key[8 + i] = static_cast<std::uint8_t>(mac.value() >> (40 - 8 * i));
  }
  PutBe32(key.data() + 16, ciaddr.value());
  return key;
}

// The user data with which nft declares a set `typeof ether saddr . @th,288,48 . @th,160,32`
// (chaddr and ciaddr as raw payload): without it `nft list` would print the key as typed
// fields, and the rules' raw-payload lookups would not load back with `nft -f`. The layout is
// nftables' (src/expression.c, src/payload.c), stored in the kernel and read by every nft
// since 0.9.4; tested by loading `nft list` output back (tests/kernel/firewall_test.cpp).
void PutDhcpClientsTypeof(nftnl_udata_buf* userdata) {
  constexpr std::uint32_t kExprConcat = 13;            // nftables' EXPR_CONCAT
  constexpr std::uint32_t kExprPayload = 7;            // EXPR_PAYLOAD
  constexpr std::uint32_t kDescEther = 17;             // PROTO_DESC_ETHER
  constexpr std::uint32_t kEtherSaddr = 2;             // ETHHDR_SADDR
  constexpr std::uint32_t kBaseTransport = 3;          // PROTO_BASE_TRANSPORT_HDR
  enum : std::uint8_t { kSubType = 0, kSubData = 1 };  // NFTNL_UDATA_SET_KEY_CONCAT_SUB_*
  enum : std::uint8_t { kDesc = 0, kField = 1, kBase = 2, kOffset = 3, kLength = 4 };
  auto* typeof_nest = nftnl_udata_nest_start(userdata, NFTNL_UDATA_SET_KEY_TYPEOF);
  nftnl_udata_put_u32(userdata, NFTNL_UDATA_SET_TYPEOF_EXPR, kExprConcat);
  auto* data_nest = nftnl_udata_nest_start(userdata, NFTNL_UDATA_SET_TYPEOF_DATA);
  auto put_field = [&](std::uint8_t index, const std::function<void()>& payload) {
    auto* field = nftnl_udata_nest_start(userdata, index);
    nftnl_udata_put_u32(userdata, kSubType, kExprPayload);
    auto* sub = nftnl_udata_nest_start(userdata, kSubData);
    payload();
    nftnl_udata_nest_end(userdata, sub);
    nftnl_udata_nest_end(userdata, field);
  };
  put_field(0, [&] {
    nftnl_udata_put_u32(userdata, kDesc, kDescEther);
    nftnl_udata_put_u32(userdata, kField, kEtherSaddr);
  });
  auto raw = [&](std::uint32_t offset_bytes, std::uint32_t length_bytes) {
    nftnl_udata_put_u32(userdata, kDesc, 0);
    nftnl_udata_put_u32(userdata, kField, 0);
    nftnl_udata_put_u32(userdata, kBase, kBaseTransport);
    nftnl_udata_put_u32(userdata, kOffset, offset_bytes * 8);
    nftnl_udata_put_u32(userdata, kLength, length_bytes * 8);
  };
  put_field(1, [&] { raw(kBootpClientHardware, 6); });
  put_field(2, [&] { raw(kBootpClientAddress, 4); });
  nftnl_udata_nest_end(userdata, data_nest);
  nftnl_udata_nest_end(userdata, typeof_nest);
}

using IfnameKey = std::array<std::uint8_t, 16>;
IfnameKey MakeIfnameKey(const std::string& name) {
  IfnameKey key{};
  std::memcpy(key.data(), name.data(), std::min(name.size(), key.size() - 1));
  return key;
}

void AddTableMessage(NftBatch& batch, std::uint16_t type, std::uint16_t flags,
                     std::uint32_t table_flags = 0, const char* name = kTableName) {
  batch.Add(fmt::format("table inet {}", name), [&](char* buffer, std::uint32_t seq) {
    TablePtr table(nftnl_table_alloc());
    nftnl_table_set_u32(table.get(), NFTNL_TABLE_FAMILY, kFamily);
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, name);
    if (type == NFT_MSG_NEWTABLE) nftnl_table_set_u32(table.get(), NFTNL_TABLE_FLAGS, table_flags);
    auto* header = nftnl_nlmsg_build_hdr(buffer, type, kFamily, flags, seq);
    nftnl_table_nlmsg_build_payload(header, table.get());
    return header;
  });
}

void AddCounter(NftBatch& batch, const char* name) {
  batch.Add(fmt::format("counter {}", name), [&](char* buffer, std::uint32_t seq) {
    ObjectPtr object(nftnl_obj_alloc());
    nftnl_obj_set_u32(object.get(), NFTNL_OBJ_FAMILY, kFamily);
    nftnl_obj_set_str(object.get(), NFTNL_OBJ_TABLE, kTableName);
    nftnl_obj_set_str(object.get(), NFTNL_OBJ_NAME, name);
    nftnl_obj_set_u32(object.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWOBJ, kFamily, NLM_F_CREATE, seq);
    nftnl_obj_nlmsg_build_payload(header, object.get());
    return header;
  });
}

struct SetSpec {
  const char* name;
  std::uint32_t key_type;
  std::uint32_t key_length;
  std::uint32_t flags;
  std::vector<std::uint8_t> field_lengths;  // of a concatenation in an interval set
  bool host_order_key = false;              // tells `nft list` to print the key as a string
  std::uint32_t data_type = 0;              // of a data map (not a verdict map)
  std::uint32_t data_length = 0;
  bool dhcp_clients_typeof = false;  // PutDhcpClientsTypeof
};

void AddSet(NftBatch& batch, const SetSpec& spec) {
  batch.Add(fmt::format("set {}", spec.name), [&](char* buffer, std::uint32_t seq) {
    SetPtr set(nftnl_set_alloc());
    nftnl_set_set_u32(set.get(), NFTNL_SET_FAMILY, kFamily);
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, kTableName);
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, spec.name);
    // The kernel requires an id naming the set within the transaction; names are unique too.
    nftnl_set_set_u32(set.get(), NFTNL_SET_ID, seq);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, spec.key_type);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, spec.key_length);
    nftnl_set_set_u32(set.get(), NFTNL_SET_FLAGS, spec.flags);
    if (spec.flags & NFT_SET_MAP) {
      nftnl_set_set_u32(set.get(), NFTNL_SET_DATA_TYPE,
                        spec.data_type ? spec.data_type : NFT_DATA_VERDICT);
      if (spec.data_length) nftnl_set_set_u32(set.get(), NFTNL_SET_DATA_LEN, spec.data_length);
    }
    if (!spec.field_lengths.empty()) {
      nftnl_set_set_data(set.get(), NFTNL_SET_DESC_CONCAT, spec.field_lengths.data(),
                         static_cast<std::uint32_t>(spec.field_lengths.size()));
    }
    if (spec.host_order_key || spec.dhcp_clients_typeof) {
      auto* userdata = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
      if (!userdata) throw std::bad_alloc();
      nftnl_udata_put_u32(userdata, NFTNL_UDATA_SET_KEYBYTEORDER,
                          spec.host_order_key ? kByteorderHost : 0);
      if (spec.dhcp_clients_typeof) PutDhcpClientsTypeof(userdata);
      nftnl_set_set_data(set.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(userdata),
                         nftnl_udata_buf_len(userdata));
      nftnl_udata_buf_free(userdata);
    }
    auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWSET, kFamily, NLM_F_CREATE, seq);
    nftnl_set_nlmsg_build_payload(header, set.get());
    return header;
  });
}

void AddChain(NftBatch& batch, const std::string& name, const char* type = nullptr,
              std::uint32_t hook = 0, int priority = 0) {
  batch.Add(fmt::format("chain {}", name), [&](char* buffer, std::uint32_t seq) {
    ChainPtr chain(nftnl_chain_alloc());
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, kFamily);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, kTableName);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
    if (type) {
      nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, type);
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, hook);
      nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, priority);
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWCHAIN, kFamily, NLM_F_CREATE, seq);
    nftnl_chain_nlmsg_build_payload(header, chain.get());
    return header;
  });
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
void AddElementMessages(NftBatch& batch, std::uint16_t type, const char* set_name,
                        std::size_t count, std::size_t element_bytes,
                        const std::function<void(std::size_t, nftnl_set_elem*)>& fill,
                        const std::function<std::string(std::size_t)>& describe) {
  const std::size_t per_message = kMaxElementListBytes / element_bytes;
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
        auto* element = nftnl_set_elem_alloc();
        if (!element) throw std::bad_alloc();
        fill(i, element);
        nftnl_set_elem_add(set.get(), element);
      }
      auto flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;
      auto* header = nftnl_nlmsg_build_hdr(buffer, type, kFamily, flags, seq);
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

void AddAllowElements(NftBatch& batch, std::uint16_t type, const TableElements& elements) {
  const auto& exact = elements.exact;
  AddElementMessages(
      batch, type, kSetAllow, exact.size(), kExactElementBytes,
      [&](std::size_t i, nftnl_set_elem* element) {
        auto key =
            MakeAllowKey(exact[i].vm, exact[i].destination, exact[i].protocol, exact[i].port);
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
        if (type == NFT_MSG_NEWSETELEM && exact[i].timeout_ms > 0) {
          nftnl_set_elem_set_u64(element, NFTNL_SET_ELEM_TIMEOUT, exact[i].timeout_ms);
        }
      },
      [&](std::size_t i) {
        return fmt::format("{} . {} . {} . {}", exact[i].vm.ToString(),
                           exact[i].destination.ToString(), ProtocolName(exact[i].protocol),
                           exact[i].port);
      });
  const auto& ranges = elements.ranges;
  AddElementMessages(
      batch, type, kSetAllowRanges, ranges.size(), kRangeElementBytes,
      [&](std::size_t i, nftnl_set_elem* element) {
        const auto& range = ranges[i];
        auto key = MakeAllowKey(range.vm, range.first, range.protocol, range.ports.first);
        auto key_end = MakeAllowKey(range.vm, range.last, range.protocol, range.ports.last);
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY_END, key_end.data(), key_end.size());
      },
      [&](std::size_t i) {
        const auto& range = ranges[i];
        return fmt::format("{} . {}-{} . {} . {}", range.vm.ToString(), range.first.ToString(),
                           range.last.ToString(), ProtocolName(range.protocol),
                           range.ports.ToString());
      });
}

void AddForwardElements(NftBatch& batch, std::uint16_t type, const TableElements& elements) {
  const auto& forwards = elements.forwards;
  AddElementMessages(
      batch, type, kMapForwards, forwards.size(), kForwardElementBytes,
      [&](std::size_t i, nftnl_set_elem* element) {
        const auto& forward = forwards[i];
        std::array<std::uint8_t, 8> key{};
        std::array<std::uint8_t, 8> data{};
        PutBe32(key.data(), forward.client.value());
        key[4] = static_cast<std::uint8_t>(forward.listen_port >> 8);
        key[5] = static_cast<std::uint8_t>(forward.listen_port);
        PutBe32(data.data(), forward.vm.value());
        data[4] = static_cast<std::uint8_t>(forward.vm_port >> 8);
        data[5] = static_cast<std::uint8_t>(forward.vm_port);
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
        if (type == NFT_MSG_NEWSETELEM) {
          nftnl_set_elem_set(element, NFTNL_SET_ELEM_DATA, data.data(), data.size());
          if (forward.timeout_ms > 0) {
            nftnl_set_elem_set_u64(element, NFTNL_SET_ELEM_TIMEOUT, forward.timeout_ms);
          }
        }
      },
      [&](std::size_t i) {
        const auto& forward = forwards[i];
        return fmt::format("{} . {} : {} . {}", forward.client.ToString(), forward.listen_port,
                           forward.vm.ToString(), forward.vm_port);
      });
}

void AddBindingElements(NftBatch& batch, std::uint16_t type, const TableElements& elements) {
  const auto& bindings = elements.bindings;
  AddElementMessages(
      batch, type, kSetBindings, bindings.size(), kBindElementBytes,
      [&](std::size_t i, nftnl_set_elem* element) {
        auto key = MakeBindKey(bindings[i]);
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
      },
      [&](std::size_t i) {
        return fmt::format("{} . {}", bindings[i].mac.ToString(), bindings[i].ip.ToString());
      });
  // What the same VMs may say in DHCP: chaddr their own MAC, ciaddr their own address or none.
  AddElementMessages(
      batch, type, kSetDhcpClients, 2 * bindings.size(), kDhcpClientBytes,
      [&](std::size_t i, nftnl_set_elem* element) {
        const auto& binding = bindings[i / 2];
        auto key = MakeDhcpClientKey(binding.mac, i % 2 ? binding.ip : Ipv4Address(0));
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
      },
      [&](std::size_t i) {
        const auto& binding = bindings[i / 2];
        return fmt::format("{} . {} . {}", binding.mac.ToString(), binding.mac.ToString(),
                           i % 2 ? binding.ip.ToString() : "0.0.0.0");
      });
}

std::string InputChain(const FilteredNetwork& network) {
  return "input_" + network.name;
}
std::string ForwardChain(const FilteredNetwork& network) {
  return "forward_" + network.name;
}
std::string GuardChain(const FilteredNetwork& network) {
  return "guard_" + network.name;
}

// Writes the rules of every chain, numbering them per chain for error reports.
class RuleWriter {
 public:
  explicit RuleWriter(NftBatch& batch) : batch_(batch) {}

  RuleBuilder Start(const std::string& chain) { return RuleBuilder(kTableName, chain, kFamily); }

  void Add(RuleBuilder& rule, const std::string& chain, const std::string& what) {
    auto index = ++rules_per_chain_[chain];
    batch_.Add(fmt::format("rule {} of chain {} ({})", index, chain, what),
               [&](char* buffer, std::uint32_t seq) {
                 auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWRULE, kFamily,
                                                      NLM_F_APPEND | NLM_F_CREATE, seq);
                 nftnl_rule_nlmsg_build_payload(header, rule.get());
                 return header;
               });
  }

 private:
  NftBatch& batch_;
  std::map<std::string, int> rules_per_chain_;
};

void MatchIpv4Destination(RuleBuilder& rule, Ipv4Address address) {
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 16, 4)
      .Compare(NFT_CMP_EQ, Be32(address.value()));
}

// The IPv4 address at `offset` of payload `base` is inside `cidr` (or, with !inside, not).
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

void MatchEstablished(RuleBuilder& rule) {
  rule.CtLoad(NFT_CT_STATE)
      .Bitwise(HostU32(NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED)))
      .Compare(NFT_CMP_NEQ, std::array<std::uint8_t, 4>{});
}

void MatchIpv4DestinationIn(RuleBuilder& rule, const Ipv4Cidr& cidr, bool inside) {
  rule.NfprotoIs(NFPROTO_IPV4);
  MatchAddressIn(rule, NFT_PAYLOAD_NETWORK_HEADER, 16, cidr, inside);
}

// meta mark set meta mark | route_mark
void SetRouteMark(RuleBuilder& rule, std::uint32_t route_mark) {
  rule.MetaLoad(NFT_META_MARK)
      .Bitwise(HostU32(~route_mark), HostU32(route_mark))
      .MetaSet(NFT_META_MARK);
}

void MatchDhcpRequest(RuleBuilder& rule) {
  rule.L4protoIs(IPPROTO_UDP)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2)
      .Compare(NFT_CMP_EQ, Be16(68))
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)
      .Compare(NFT_CMP_EQ, Be16(67));
}

void MatchIpv4Source(RuleBuilder& rule, Ipv4Address address) {
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4)
      .Compare(NFT_CMP_EQ, Be32(address.value()));
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

// ether saddr . ip saddr != @vm_bind4 (or, with `bound`, == ): the MAC takes two 32-bit
// registers, the IP the third.
void MatchSpoofed(RuleBuilder& rule, bool bound = false) {
  rule.MetaLoad(NFT_META_IIFTYPE)
      .Compare(NFT_CMP_EQ, HostU16(ARPHRD_ETHER))
      .NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_LL_HEADER, 6, 6, kReg1)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, kReg32First + 2)
      .Lookup(kSetBindings, kReg1, /*inverted=*/!bound);
}

void MatchAllowed(RuleBuilder& rule, const char* set) {
  // ip saddr . ip daddr . meta l4proto . th dport @set
  rule.NfprotoIs(NFPROTO_IPV4)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, kReg1)
      .PayloadLoad(NFT_PAYLOAD_NETWORK_HEADER, 16, 4, kReg32First + 1)
      .MetaLoad(NFT_META_L4PROTO, kReg32First + 2)
      .PayloadLoad(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kReg32First + 3)
      .Lookup(set, kReg1);
}

// Both chains of a VM network start with this: no IPv6 exists on VM networks.
void AddIpv6Drop(RuleWriter& rules, const std::string& chain) {
  auto rule = rules.Start(chain);
  rule.NfprotoIs(NFPROTO_IPV6)
      .NamedCounter(kCounterIpv6)
      .Verdict(NF_DROP)
      .Comment("no IPv6 on VM networks");
  rules.Add(rule, chain, "IPv6 dropped");
}

// The end of an allowlisted network's egress: logged (rate-limited) and dropped.
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

void AddEstablishedAccept(RuleWriter& rules, const std::string& chain) {
  auto rule = rules.Start(chain);
  MatchEstablished(rule);
  rule.Verdict(NF_ACCEPT);
  rules.Add(rule, chain, "established");
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
    // A VM with its address: RENEW to the gateway, REBIND broadcast, INFORM, RELEASE.
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
    rules.Add(rule, chain,
              destination == network.gateway ? "DHCP to the gateway" : "DHCP broadcast");
  }
  {
    auto rule = rules.Start(chain);
    MatchDhcpRequest(rule);
    rule.NamedCounter(kCounterDhcp).Verdict(NF_DROP).Comment("DHCP not from the asking VM");
    rules.Add(rule, chain, "DHCP denied");
  }
}

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
  {
    auto rule = rules.Start(chain);
    rule.NamedCounter(kCounterInputDenied).Verdict(NF_DROP);
    rules.Add(rule, chain, "default drop");
  }
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

// Not routed: to one of the gateway's own addresses, a broadcast or a multicast group. Such
// packets are judged by the input chain.
void MatchNotRouted(RuleBuilder& rule) {
  rule.FibDestinationType().Compare(NFT_CMP_NEQ, HostU32(RTN_UNICAST));
}

// The forward decision taken before routing (docs/firewall.md, "Failing closed"): what may be
// routed from or into a VM network gets the route mark, what may not is counted and dropped
// here, and policy routing drops whatever lacks the mark, so that nothing of a VM network is
// routed without this table, nor with a deleted or flushed chain of it: the forward chains
// decide again after routing.
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
  if (!network.allowlist_egress) {
    auto rule = rules.Start(chain);
    rule.NamedCounter(kCounterSpoofedForward)
        .Verdict(NF_DROP)
        .Comment("source outside the network");
    rules.Add(rule, chain, "anti-spoofing");
    return;
  }
  {
    auto rule = rules.Start(chain);
    MatchSpoofed(rule);
    rule.NamedCounter(kCounterSpoofedForward).Verdict(NF_DROP).Comment("MAC and IP not bound");
    rules.Add(rule, chain, "anti-spoofing");
  }
  AddSecureEgressDenied(rules, layout, network, chain);
}

void AddGuardRules(RuleWriter& rules, const TableLayout& layout) {
  // Every packet the gateway receives passes here: the fewest rules first. A flow is judged
  // by its first packet; the rest of it (and its replies) follow, as in the forward chains,
  // which also check every packet's source again.
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
  {
    auto rule = rules.Start(kChainGuard);
    rule.MetaLoad(NFT_META_IIFNAME).VerdictMap(kMapGuard);
    rules.Add(rule, kChainGuard, "from networks");
  }
  for (const auto& network : layout.networks) {
    // As in the forward chain: a network's addresses come only through its interface (from
    // the networks' own interfaces their chains drop them).
    for (const char* chain : {kChainGuard, kChainGuardToNetworks}) {
      auto rule = rules.Start(chain);
      MatchIpv4Source(rule, network.cidr, /*inside=*/true);
      rule.InterfaceIs(/*input=*/true, network.interface, /*equal=*/false)
          .FibDestinationType()
          .Compare(NFT_CMP_EQ, HostU32(RTN_UNICAST))
          .NamedCounter(kCounterSpoofedForward)
          .Verdict(NF_DROP)
          .Comment(fmt::format("{} addresses from another interface", network.name));
      rules.Add(rule, chain,
                fmt::format("{} source pinned to {}", network.name, network.interface));
    }
  }
  const auto* chain = kChainGuardToNetworks;
  for (auto port : layout.forward_vm_ports) {
    auto rule = rules.Start(chain);
    rule.CtLoad(NFT_CT_STATUS)
        .Bitwise(HostU32(IPS_DST_NAT))
        .Compare(NFT_CMP_NEQ, std::array<std::uint8_t, 4>{});
    MatchDestinationPort(rule, IPPROTO_TCP, port);
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
  {
    auto rule = rules.Start(chain);
    rule.NamedCounter(kCounterInbound).Verdict(NF_DROP);
    rules.Add(rule, chain, "default drop");
  }
}

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

}  // namespace

void AddTableReplacement(NftBatch& batch, const TableLayout& layout, const TableElements& elements,
                         TableRemoval removal) {
  const std::uint32_t table_flags =
      layout.protection == TableProtection::kOwned ? kTableFlagOwner | kTableFlagPersist : 0;
  if (removal == TableRemoval::kDestroy) {
    AddTableMessage(batch, kMsgDestroyTable, 0);
  } else {
    AddTableMessage(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE);
    AddTableMessage(batch, NFT_MSG_DELTABLE, 0);
  }
  AddTableMessage(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table_flags);

  for (const char* counter :
       {kCounterIpv6, kCounterSpoofedInput, kCounterSpoofedForward, kCounterInputDenied,
        kCounterSecureDenied, kCounterCrossNetwork, kCounterInbound, kCounterForward, kCounterDhcp,
        kCounterDhcpMisdirected, kCounterGatewayAddress}) {
    AddCounter(batch, counter);
  }

  constexpr std::uint32_t kAllowType =
      ConcatType({kTypeIpv4Address, kTypeIpv4Address, kTypeInetProtocol, kTypeInetService});
  AddSet(batch, {kSetAllow, kAllowType, 16, NFT_SET_TIMEOUT, {}});
  AddSet(batch, {kSetAllowRanges,
                 kAllowType,
                 16,
                 NFT_SET_INTERVAL | NFT_SET_TIMEOUT | NFT_SET_CONCAT,
                 {4, 4, 1, 2}});
  AddSet(batch, {kSetBindings, ConcatType({kTypeEtherAddress, kTypeIpv4Address}), 12, 0, {}});
  {
    SetSpec dhcp_clients{
        kSetDhcpClients, ConcatType({kTypeEtherAddress, kTypeInteger, kTypeInteger}), 20, 0, {}};
    dhcp_clients.dhcp_clients_typeof = true;
    AddSet(batch, dhcp_clients);
  }
  for (const char* map : {kMapInput, kMapForward, kMapInbound, kMapGuard}) {
    AddSet(batch, {map, kTypeIfname, 16, NFT_SET_MAP, {}, /*host_order_key=*/true});
  }
  constexpr std::uint32_t kEndpointType = ConcatType({kTypeIpv4Address, kTypeInetService});
  AddSet(
      batch,
      {kMapForwards, kEndpointType, 8, NFT_SET_MAP | NFT_SET_TIMEOUT, {}, false, kEndpointType, 8});

  for (const auto& network : layout.networks) {
    AddChain(batch, InputChain(network));
    AddChain(batch, ForwardChain(network));
    AddChain(batch, GuardChain(network));
  }
  AddChain(batch, kChainInbound);
  AddChain(batch, kChainGuardToNetworks);
  AddChain(batch, "prerouting", "nat", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST);
  // After the forwards' DNAT, so that it sees the VM a forward goes to.
  AddChain(batch, kChainGuard, "filter", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST + 10);
  AddChain(batch, "input", "filter", NF_INET_LOCAL_IN, NF_IP_PRI_FILTER);
  AddChain(batch, "forward", "filter", NF_INET_FORWARD, NF_IP_PRI_FILTER);
  AddChain(batch, "output", "filter", NF_INET_LOCAL_OUT, NF_IP_PRI_FILTER);
  AddChain(batch, "postrouting", "nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);

  // Verdict maps: which chain judges a packet, by the interface it came in on (or goes to).
  auto add_map = [&](const char* map,
                     const std::function<std::string(const FilteredNetwork&)>& target) {
    const auto& networks = layout.networks;
    AddElementMessages(
        batch, NFT_MSG_NEWSETELEM, map, networks.size(), kMapElementBytes,
        [&](std::size_t i, nftnl_set_elem* element) {
          auto key = MakeIfnameKey(networks[i].interface);
          nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
          nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT,
                                 static_cast<std::uint32_t>(NFT_JUMP));
          nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, target(networks[i]).c_str());
        },
        [&](std::size_t i) { return networks[i].interface; });
  };
  add_map(kMapInput, InputChain);
  add_map(kMapForward, ForwardChain);
  add_map(kMapInbound, [](const FilteredNetwork&) { return std::string(kChainInbound); });
  add_map(kMapGuard, GuardChain);

  AddAllowElements(batch, NFT_MSG_NEWSETELEM, elements);
  AddBindingElements(batch, NFT_MSG_NEWSETELEM, elements);
  AddForwardElements(batch, NFT_MSG_NEWSETELEM, elements);

  RuleWriter rules(batch);
  for (const auto& network : layout.networks) {
    AddNetworkInputRules(rules, layout, network);
    AddNetworkForwardRules(rules, layout, network);
    AddNetworkGuardRules(rules, layout, network);
  }
  AddGuardRules(rules, layout);
  AddOutputRules(rules, layout);
  {
    auto rule = rules.Start(kChainInbound);
    MatchEstablished(rule);
    rule.Verdict(NF_ACCEPT).Comment("replies only");
    rules.Add(rule, kChainInbound, "established");
  }
  for (auto port : layout.forward_vm_ports) {
    // Only fwd4's DNAT makes a new flow into a VM network.
    auto rule = rules.Start(kChainInbound);
    rule.CtLoad(NFT_CT_STATUS)
        .Bitwise(HostU32(IPS_DST_NAT))
        .Compare(NFT_CMP_NEQ, std::array<std::uint8_t, 4>{});
    MatchDestinationPort(rule, IPPROTO_TCP, port);
    rule.Verdict(NF_ACCEPT).Comment("port forward");
    rules.Add(rule, kChainInbound, fmt::format("forward to port {}", port));
  }
  {
    auto rule = rules.Start(kChainInbound);
    rule.NamedCounter(kCounterInbound).Verdict(NF_DROP);
    rules.Add(rule, kChainInbound, "default drop");
  }
  {
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
  // A network's addresses arrive only through its interface: a packet with such a source on any
  // other interface (another network, the external one, a switch port the kernel answered ARP
  // on) would bypass that network's chains.
  for (const char* chain : {"input", "forward"}) {
    for (const auto& network : layout.networks) {
      auto rule = rules.Start(chain);
      MatchIpv4Source(rule, network.cidr, /*inside=*/true);
      rule.InterfaceIs(/*input=*/true, network.interface, /*equal=*/false);
      // The gateway talking to its own address on that network comes in on lo.
      if (std::string_view(chain) == "input") rule.InterfaceIs(/*input=*/true, "lo", false);
      rule.NamedCounter(std::string_view(chain) == "input" ? kCounterSpoofedInput
                                                           : kCounterSpoofedForward)
          .Verdict(NF_DROP)
          .Comment(fmt::format("{} addresses from another interface", network.name));
      rules.Add(rule, chain,
                fmt::format("{} source pinned to {}", network.name, network.interface));
    }
  }
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
  {
    auto rule = rules.Start("input");
    rule.MetaLoad(NFT_META_IIFNAME).VerdictMap(kMapInput);
    rules.Add(rule, "input", "networks");
  }
  {
    auto rule = rules.Start("forward");
    rule.MetaLoad(NFT_META_IIFNAME).VerdictMap(kMapForward);
    rules.Add(rule, "forward", "from networks");
  }
  {
    auto rule = rules.Start("forward");
    rule.MetaLoad(NFT_META_OIFNAME).VerdictMap(kMapInbound);
    rules.Add(rule, "forward", "into networks");
  }
  for (const auto& network : layout.networks) {
    auto rule = rules.Start("postrouting");
    rule.InterfaceIs(/*input=*/false, layout.external_interface);
    MatchIpv4Source(rule, network.cidr, /*inside=*/true);
    rule.Masquerade().Comment(network.name);
    rules.Add(rule, "postrouting", fmt::format("masquerade {}", network.name));
  }
}

void AddOwnedTableProbe(NftBatch& batch, const char* name) {
  AddTableMessage(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, kTableFlagOwner | kTableFlagPersist, name);
  AddTableMessage(batch, kMsgDestroyTable, 0, 0, name);
}

void AddElementChanges(NftBatch& batch, const ElementChanges& changes) {
  AddAllowElements(batch, NFT_MSG_DELSETELEM, changes.remove);
  AddBindingElements(batch, NFT_MSG_DELSETELEM, changes.remove);
  AddForwardElements(batch, NFT_MSG_DELSETELEM, changes.remove);
  AddAllowElements(batch, NFT_MSG_NEWSETELEM, changes.add);
  AddBindingElements(batch, NFT_MSG_NEWSETELEM, changes.add);
  AddForwardElements(batch, NFT_MSG_NEWSETELEM, changes.add);
}

}  // namespace netd::firewall
