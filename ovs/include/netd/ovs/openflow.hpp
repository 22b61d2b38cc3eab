#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "netd/common/address.hpp"

// The part of OpenFlow 1.3 (ONF TS-012) netd speaks to ovs-vswitchd: hello, echo, error,
// flow_mod with OXM matches, the actions below and goto_table, port_mod, port descriptions,
// aggregate statistics, barrier; and two Nicira extensions OVS reads: the connection-tracking
// state match (NXM_NX_CT_STATE) and the conntrack action (NXAST_CT).
namespace netd::ovs::openflow {

inline constexpr std::uint8_t kVersion = 0x04;  // OpenFlow 1.3
inline constexpr std::size_t kHeaderSize = 8;

enum class MessageType : std::uint8_t {
  kHello = 0,
  kError = 1,
  kEchoRequest = 2,
  kEchoReply = 3,
  kFlowMod = 14,
  kPortMod = 16,
  kMultipartRequest = 18,
  kMultipartReply = 19,
  kBarrierRequest = 20,
  kBarrierReply = 21,
};

struct Header {
  std::uint8_t version = kVersion;
  std::uint8_t type = 0;
  std::uint16_t length = 0;
  std::uint32_t xid = 0;
};

// A header from the first kHeaderSize bytes of `bytes` (which must hold that many).
Header ParseHeader(std::span<const std::uint8_t> bytes);

inline constexpr std::uint16_t kEthTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEthTypeArp = 0x0806;
inline constexpr std::uint16_t kEthTypeRarp = 0x8035;
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint16_t kArpRequest = 1;
inline constexpr std::uint16_t kArpReply = 2;

// Connection-tracking state bits (NXM_NX_CT_STATE), as after a ct action.
inline constexpr std::uint32_t kCtNew = 0x01;
inline constexpr std::uint32_t kCtEstablished = 0x02;
inline constexpr std::uint32_t kCtRelated = 0x04;
inline constexpr std::uint32_t kCtReply = 0x08;
inline constexpr std::uint32_t kCtInvalid = 0x10;
inline constexpr std::uint32_t kCtTracked = 0x20;
// The bits of `mask` must equal those of `value`.
struct CtState {
  std::uint32_t value = 0;
  std::uint32_t mask = 0;
  friend bool operator==(const CtState&, const CtState&) = default;
};

// The fields a flow matches; an absent field matches anything. The caller supplies the
// prerequisites OpenFlow asks for (eth_type before IPv4/ARP fields, ip_proto before UDP ports).
struct Match {
  std::optional<std::uint32_t> in_port{};
  std::optional<MacAddress> eth_dst{};
  // Where set, only these bits of eth_dst are compared (01:00:00:00:00:00: group addresses).
  std::optional<MacAddress> eth_dst_mask{};
  std::optional<MacAddress> eth_src{};
  // OFPVID_PRESENT | VID of the frame's 802.1Q tag; 0 (OFPVID_NONE) matches untagged frames.
  std::optional<std::uint16_t> vlan_vid{};
  std::optional<std::uint16_t> eth_type{};
  std::optional<std::uint8_t> ip_proto{};
  std::optional<Ipv4Cidr> ipv4_src{};
  std::optional<Ipv4Cidr> ipv4_dst{};
  std::optional<std::uint16_t> tcp_dst{};
  std::optional<std::uint16_t> udp_src{};
  std::optional<std::uint16_t> udp_dst{};
  std::optional<std::uint16_t> arp_op{};
  std::optional<Ipv4Cidr> arp_spa{};
  std::optional<Ipv4Cidr> arp_tpa{};
  std::optional<MacAddress> arp_sha{};
  std::optional<CtState> ct_state{};

  friend bool operator==(const Match&, const Match&) = default;
};

// OFPP_LOCAL: the bridge's own internal port.
inline constexpr std::uint32_t kPortLocal = 0xfffffffe;
// OFPP_NORMAL: on as a learning switch would, honouring the ports' VLAN configuration.
inline constexpr std::uint32_t kPortNormal = 0xfffffffa;
// OFPP_IN_PORT: back out of the port the packet came in on.
inline constexpr std::uint32_t kPortInPort = 0xfffffff8;

// OFPAT_OUTPUT to a port number or one of the reserved ports above.
struct Output {
  std::uint32_t port = 0;
  friend bool operator==(const Output&, const Output&) = default;
};
// OFPAT_PUSH_VLAN (802.1Q) and OFPAT_SET_FIELD of its VID: the frame leaves tagged `vid`.
struct PushVlan {
  std::uint16_t vid = 0;
  friend bool operator==(const PushVlan&, const PushVlan&) = default;
};
// OFPAT_POP_VLAN: the outer 802.1Q tag is removed.
struct PopVlan {
  friend bool operator==(const PopVlan&, const PopVlan&) = default;
};
// OFPAT_SET_FIELD of one field: a MAC (kEthSrc, kEthDst, kArpSha, kArpTha) or an IPv4 address
// (kArpSpa, kArpTpa) in the low bits of `value`, or the ARP opcode.
struct SetField {
  enum class Field { kEthSrc, kEthDst, kArpOp, kArpSpa, kArpTpa, kArpSha, kArpTha };
  Field field = Field::kEthDst;
  std::uint64_t value = 0;
  friend bool operator==(const SetField&, const SetField&) = default;
};
// NXAST_CT: the packet is sent through connection tracking in `zone`; `commit` stores its
// connection; with `table` the tracked packet continues in that table (a recirculation), the
// actions after this one apply to the untracked packet.
struct Conntrack {
  std::uint16_t zone = 0;
  bool commit = false;
  std::optional<std::uint8_t> table{};
  friend bool operator==(const Conntrack&, const Conntrack&) = default;
};
using Action = std::variant<Output, PushVlan, PopVlan, SetField, Conntrack>;

// A flow: packets of `table` matching it (at `priority`) get `actions` (an APPLY_ACTIONS
// instruction), then continue in `goto_table` if set. No actions and no goto_table: dropped.
struct Flow {
  std::uint16_t priority = 0;
  Match match;
  std::vector<Action> actions{};
  std::uint8_t table = 0;
  std::optional<std::uint8_t> goto_table{};

  friend bool operator==(const Flow&, const Flow&) = default;
};
// OFPPC_NO_FWD: the switch outputs nothing to the port, NORMAL's floods included.
inline constexpr std::uint32_t kPortConfigNoForward = 1U << 5;

// What an OFPT_PORT_MOD sets: the bits of `config` selected by `mask`, on the port numbered
// `port_no` whose MAC is `hw_addr` (the switch refuses a port_mod naming another MAC).
struct PortConfig {
  std::uint32_t port_no = 0;
  MacAddress hw_addr;
  std::uint32_t config = 0;
  std::uint32_t mask = 0;

  friend bool operator==(const PortConfig&, const PortConfig&) = default;
};

// A port as an OFPMP_PORT_DESC reply describes it.
struct PortDescription {
  std::uint32_t port_no = 0;
  MacAddress hw_addr;
  std::uint32_t config = 0;
};
// One message of an OFPMP_PORT_DESC reply: its ports, and whether more messages follow
// (OFPMPF_REPLY_MORE).
struct PortDescriptionReply {
  std::vector<PortDescription> ports;
  bool more = false;
};

// Messages, encoded with their header.
std::vector<std::uint8_t> EncodeHello(std::uint32_t xid);
std::vector<std::uint8_t> EncodeEchoReply(const Header& request,
                                          std::span<const std::uint8_t> payload);
std::vector<std::uint8_t> EncodeEchoRequest(std::uint32_t xid);
std::vector<std::uint8_t> EncodeBarrierRequest(std::uint32_t xid);
// OFPFC_ADD of `flow` in its table with `cookie`.
std::vector<std::uint8_t> EncodeAddFlow(std::uint32_t xid, const Flow& flow, std::uint64_t cookie);
// OFPFC_DELETE_STRICT of the flow of `flow`'s table with its priority and match exactly, if its
// cookie is `cookie`.
std::vector<std::uint8_t> EncodeDeleteFlow(std::uint32_t xid, const Flow& flow,
                                           std::uint64_t cookie);
// OFPFC_DELETE in every table of the flows whose cookie equals `cookie` in the bits of `mask`.
std::vector<std::uint8_t> EncodeDeleteFlows(std::uint32_t xid, std::uint64_t cookie,
                                            std::uint64_t mask);

// OFPT_PORT_MOD setting `port`; the port's advertised features are left as they are.
std::vector<std::uint8_t> EncodePortMod(std::uint32_t xid, const PortConfig& port);

// OFPMP_PORT_DESC: every port of the switch, with its configuration.
std::vector<std::uint8_t> EncodePortDescriptionRequest(std::uint32_t xid);
// One message of an OFPMP_PORT_DESC reply; nullopt for any other message or a truncated one.
std::optional<PortDescriptionReply> ParsePortDescriptionReply(
    std::span<const std::uint8_t> message);

// OFPMP_AGGREGATE over every table for the flows whose cookie equals `cookie` in the bits of
// `mask`: the switch answers with how many there are.
std::vector<std::uint8_t> EncodeFlowCountRequest(std::uint32_t xid, std::uint64_t cookie,
                                                 std::uint64_t mask);
// An OFPMP_AGGREGATE reply: packets and bytes the flows matched, and their count; nullopt for
// any other message.
struct AggregateStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint32_t flows = 0;
};
std::optional<AggregateStats> ParseAggregateReply(std::span<const std::uint8_t> message);

// An OFPT_ERROR message's body.
struct Error {
  std::uint16_t type = 0;
  std::uint16_t code = 0;
  // The start of the message that failed, as the switch echoed it.
  std::vector<std::uint8_t> data;
};
std::optional<Error> ParseError(std::span<const std::uint8_t> message);
// "OFPET_FLOW_MOD_FAILED/OFPFMFC_TABLE_FULL" where known, else the numbers.
std::string Describe(const Error& error);

}  // namespace netd::ovs::openflow
