#include "set_declarations.hpp"

#include <fmt/format.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <new>
#include <vector>

#include "nft_objects.hpp"
#include "table_objects.hpp"

namespace netd::firewall {
namespace {

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

void PutUserData(nftnl_set* set, const SetSpec& spec) {
  UserDataPtr userdata(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
  if (!userdata) throw std::bad_alloc();
  nftnl_udata_put_u32(userdata.get(), NFTNL_UDATA_SET_KEYBYTEORDER,
                      spec.host_order_key ? kByteorderHost : 0);
  if (spec.dhcp_clients_typeof) PutDhcpClientsTypeof(userdata.get());
  nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(userdata.get()),
                     nftnl_udata_buf_len(userdata.get()));
}

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
    if (spec.host_order_key || spec.dhcp_clients_typeof) PutUserData(set.get(), spec);
    auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWSET, kFamily, NLM_F_CREATE, seq);
    nftnl_set_nlmsg_build_payload(header, set.get());
    return header;
  });
}

}  // namespace

void AddSetDeclarations(NftBatch& batch) {
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
}

}  // namespace netd::firewall
