#include "netd/ovs/openflow.hpp"

#include <fmt/format.h>

#include <array>
#include <cassert>
#include <type_traits>

namespace netd::ovs::openflow {
namespace {

// OXM (OpenFlow Extensible Match) of the OpenFlow basic class.
constexpr std::uint16_t kOxmClassBasic = 0x8000;
enum OxmField : std::uint8_t {
  kInPort = 0,
  kEthDst = 3,
  kEthSrc = 4,
  kEthType = 5,
  kVlanVid = 6,
  kIpProto = 10,
  kIpv4Src = 11,
  kIpv4Dst = 12,
  kTcpDst = 14,
  kUdpSrc = 15,
  kUdpDst = 16,
  kArpOp = 21,
  kArpSpa = 22,
  kArpTpa = 23,
  kArpSha = 24,
  kArpTha = 25,
};
// Nicira's NXM_1 class, which OVS reads in OpenFlow 1.3 matches: NXM_NX_CT_STATE.
constexpr std::uint16_t kOxmClassNxm1 = 0x0001;
constexpr std::uint8_t kNxmCtState = 105;
constexpr std::uint16_t kMatchTypeOxm = 1;
constexpr std::uint16_t kInstructionGotoTable = 1;
constexpr std::uint16_t kInstructionApplyActions = 4;
constexpr std::uint16_t kActionOutput = 0;
constexpr std::uint16_t kActionPushVlan = 17;
constexpr std::uint16_t kActionPopVlan = 18;
constexpr std::uint16_t kActionSetField = 25;
constexpr std::uint16_t kActionExperimenter = 0xffff;
constexpr std::uint32_t kNiciraExperimenter = 0x00002320;
constexpr std::uint16_t kNxActionConntrack = 35;
constexpr std::uint16_t kNxConntrackCommit = 1;
constexpr std::uint8_t kNxConntrackNoRecirculation = 0xff;
constexpr std::uint16_t kEthTypeVlan = 0x8100;
constexpr std::uint16_t kVlanPresent = 0x1000;
constexpr std::uint32_t kPortAny = 0xffffffff;
constexpr std::uint32_t kGroupAny = 0xffffffff;
constexpr std::uint32_t kNoBuffer = 0xffffffff;
constexpr std::uint8_t kTableAll = 0xff;
constexpr std::uint8_t kFlowModAdd = 0;
constexpr std::uint8_t kFlowModDelete = 3;
constexpr std::uint8_t kFlowModDeleteStrict = 4;
constexpr std::uint16_t kMultipartAggregate = 2;
constexpr std::uint16_t kMultipartPortDescription = 13;
constexpr std::uint16_t kMultipartReplyMore = 1;
constexpr std::size_t kPortDescriptionSize = 64;  // struct ofp_port

class Writer {
 public:
  void U8(std::uint8_t value) { bytes_.push_back(value); }
  void U16(std::uint16_t value) {
    U8(value >> 8);
    U8(value & 0xff);
  }
  void U32(std::uint32_t value) {
    U16(value >> 16);
    U16(value & 0xffff);
  }
  void U64(std::uint64_t value) {
    U32(value >> 32);
    U32(value & 0xffffffff);
  }
  void Mac(MacAddress mac) {
    for (int shift = 40; shift >= 0; shift -= 8) U8((mac.value() >> shift) & 0xff);
  }
  void Zeros(std::size_t count) { bytes_.insert(bytes_.end(), count, 0); }
  void PadTo8() { Zeros((8 - bytes_.size() % 8) % 8); }
  std::size_t size() const { return bytes_.size(); }
  void PatchU16(std::size_t offset, std::uint16_t value) {
    bytes_[offset] = value >> 8;
    bytes_[offset + 1] = value & 0xff;
  }
  std::vector<std::uint8_t> Take() { return std::move(bytes_); }

 private:
  std::vector<std::uint8_t> bytes_;
};

void WriteHeader(Writer& out, MessageType type, std::uint32_t xid) {
  out.U8(kVersion);
  out.U8(static_cast<std::uint8_t>(type));
  out.U16(0);  // patched by Finish
  out.U32(xid);
}

std::vector<std::uint8_t> Finish(Writer& out) {
  assert(out.size() <= 0xffff);
  out.PatchU16(2, static_cast<std::uint16_t>(out.size()));
  return out.Take();
}

void OxmHeader(Writer& out, std::uint8_t field, bool has_mask, std::uint8_t length,
               std::uint16_t oxm_class = kOxmClassBasic) {
  out.U16(oxm_class);
  out.U8(static_cast<std::uint8_t>(field << 1 | (has_mask ? 1 : 0)));
  out.U8(has_mask ? 2 * length : length);
}

std::uint32_t Netmask(const Ipv4Cidr& cidr) {
  return cidr.prefix_length() == 0 ? 0 : ~std::uint32_t{0} << (32 - cidr.prefix_length());
}

void OxmIpv4(Writer& out, OxmField field, const Ipv4Cidr& cidr) {
  bool masked = cidr.prefix_length() < 32;
  OxmHeader(out, field, masked, 4);
  out.U32(cidr.base().value());
  if (masked) out.U32(Netmask(cidr));
}

// ofp_match with its OXM fields, in the order OpenFlow's prerequisites need.
void EncodeMatch(Writer& out, const Match& match) {
  auto start = out.size();
  out.U16(kMatchTypeOxm);
  out.U16(0);  // length without padding, patched below
  if (match.in_port) {
    OxmHeader(out, kInPort, false, 4);
    out.U32(*match.in_port);
  }
  if (match.eth_dst) {
    OxmHeader(out, kEthDst, match.eth_dst_mask.has_value(), 6);
    out.Mac(*match.eth_dst);
    if (match.eth_dst_mask) out.Mac(*match.eth_dst_mask);
  }
  if (match.eth_src) {
    OxmHeader(out, kEthSrc, false, 6);
    out.Mac(*match.eth_src);
  }
  if (match.vlan_vid) {
    OxmHeader(out, kVlanVid, false, 2);
    out.U16(*match.vlan_vid);
  }
  if (match.eth_type) {
    OxmHeader(out, kEthType, false, 2);
    out.U16(*match.eth_type);
  }
  if (match.ip_proto) {
    OxmHeader(out, kIpProto, false, 1);
    out.U8(*match.ip_proto);
  }
  if (match.ipv4_src) OxmIpv4(out, kIpv4Src, *match.ipv4_src);
  if (match.ipv4_dst) OxmIpv4(out, kIpv4Dst, *match.ipv4_dst);
  if (match.tcp_dst) {
    OxmHeader(out, kTcpDst, false, 2);
    out.U16(*match.tcp_dst);
  }
  if (match.udp_src) {
    OxmHeader(out, kUdpSrc, false, 2);
    out.U16(*match.udp_src);
  }
  if (match.udp_dst) {
    OxmHeader(out, kUdpDst, false, 2);
    out.U16(*match.udp_dst);
  }
  if (match.arp_op) {
    OxmHeader(out, kArpOp, false, 2);
    out.U16(*match.arp_op);
  }
  if (match.arp_spa) OxmIpv4(out, kArpSpa, *match.arp_spa);
  if (match.arp_tpa) OxmIpv4(out, kArpTpa, *match.arp_tpa);
  if (match.arp_sha) {
    OxmHeader(out, kArpSha, false, 6);
    out.Mac(*match.arp_sha);
  }
  if (match.ct_state) {
    OxmHeader(out, kNxmCtState, true, 4, kOxmClassNxm1);
    out.U32(match.ct_state->value);
    out.U32(match.ct_state->mask);
  }
  out.PatchU16(start + 2, static_cast<std::uint16_t>(out.size() - start));
  out.PadTo8();
}

// OFPAT_SET_FIELD: the OXM of one field, padded to 8 bytes.
void EncodeSetField(Writer& out, std::uint8_t field, std::uint8_t length, std::uint64_t value) {
  auto start = out.size();
  out.U16(kActionSetField);
  out.U16(0);  // patched below
  OxmHeader(out, field, false, length);
  for (int shift = 8 * (length - 1); shift >= 0; shift -= 8) out.U8((value >> shift) & 0xff);
  out.PadTo8();
  out.PatchU16(start + 2, static_cast<std::uint16_t>(out.size() - start));
}

void EncodeAction(Writer& out, const Action& action) {
  std::visit(
      [&out](const auto& act) {
        using Type = std::decay_t<decltype(act)>;
        if constexpr (std::is_same_v<Type, Output>) {
          out.U16(kActionOutput);
          out.U16(16);
          out.U32(act.port);
          out.U16(0);  // max_len: only for output to the controller
          out.Zeros(6);
        } else if constexpr (std::is_same_v<Type, PushVlan>) {
          out.U16(kActionPushVlan);
          out.U16(8);
          out.U16(kEthTypeVlan);
          out.Zeros(2);
          EncodeSetField(out, kVlanVid, 2, kVlanPresent | act.vid);
        } else if constexpr (std::is_same_v<Type, PopVlan>) {
          out.U16(kActionPopVlan);
          out.U16(8);
          out.Zeros(4);
        } else if constexpr (std::is_same_v<Type, SetField>) {
          switch (act.field) {
            case SetField::Field::kEthSrc:
              return EncodeSetField(out, kEthSrc, 6, act.value);
            case SetField::Field::kEthDst:
              return EncodeSetField(out, kEthDst, 6, act.value);
            case SetField::Field::kArpOp:
              return EncodeSetField(out, kArpOp, 2, act.value);
            case SetField::Field::kArpSpa:
              return EncodeSetField(out, kArpSpa, 4, act.value);
            case SetField::Field::kArpTpa:
              return EncodeSetField(out, kArpTpa, 4, act.value);
            case SetField::Field::kArpSha:
              return EncodeSetField(out, kArpSha, 6, act.value);
            case SetField::Field::kArpTha:
              return EncodeSetField(out, kArpTha, 6, act.value);
          }
        } else {
          static_assert(std::is_same_v<Type, Conntrack>);
          // struct nx_action_conntrack, without nested actions.
          out.U16(kActionExperimenter);
          out.U16(24);
          out.U32(kNiciraExperimenter);
          out.U16(kNxActionConntrack);
          out.U16(act.commit ? kNxConntrackCommit : 0);
          out.U32(0);  // zone_src: none, the zone is immediate
          out.U16(act.zone);
          out.U8(act.table.value_or(kNxConntrackNoRecirculation));
          out.Zeros(3);
          out.U16(0);  // alg: none
        }
      },
      action);
}

// The fixed part of ofp_flow_mod after the header.
struct FlowModFields {
  std::uint64_t cookie = 0;
  std::uint64_t cookie_mask = 0;
  std::uint8_t table_id = 0;
  std::uint8_t command = kFlowModAdd;
  std::uint16_t priority = 0;
};

std::uint32_t ReadU32(const std::uint8_t* bytes) {
  return static_cast<std::uint32_t>(bytes[0]) << 24 | static_cast<std::uint32_t>(bytes[1]) << 16 |
         static_cast<std::uint32_t>(bytes[2]) << 8 | bytes[3];
}

MacAddress ReadMac(const std::uint8_t* bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < 6; ++i) value = value << 8 | bytes[i];
  return MacAddress(value);
}

void FlowModHead(Writer& out, const FlowModFields& fields) {
  out.U64(fields.cookie);
  out.U64(fields.cookie_mask);
  out.U8(fields.table_id);
  out.U8(fields.command);
  out.U16(0);  // idle_timeout
  out.U16(0);  // hard_timeout
  out.U16(fields.priority);
  out.U32(kNoBuffer);
  out.U32(kPortAny);   // out_port: no filter on delete
  out.U32(kGroupAny);  // out_group: no filter on delete
  out.U16(0);          // flags
  out.Zeros(2);
}

}  // namespace

Header ParseHeader(std::span<const std::uint8_t> bytes) {
  assert(bytes.size() >= kHeaderSize);
  return {bytes[0], bytes[1], static_cast<std::uint16_t>(bytes[2] << 8 | bytes[3]),
          static_cast<std::uint32_t>(bytes[4]) << 24 | static_cast<std::uint32_t>(bytes[5]) << 16 |
              static_cast<std::uint32_t>(bytes[6]) << 8 | bytes[7]};
}

std::vector<std::uint8_t> EncodeHello(std::uint32_t xid) {
  Writer out;
  WriteHeader(out, MessageType::kHello, xid);
  return Finish(out);
}

std::vector<std::uint8_t> EncodeEchoReply(const openflow::Header& request,
                                          std::span<const std::uint8_t> payload) {
  Writer out;
  WriteHeader(out, MessageType::kEchoReply, request.xid);
  for (auto byte : payload) out.U8(byte);
  return Finish(out);
}

std::vector<std::uint8_t> EncodeEchoRequest(std::uint32_t xid) {
  Writer out;
  WriteHeader(out, MessageType::kEchoRequest, xid);
  return Finish(out);
}

std::vector<std::uint8_t> EncodeBarrierRequest(std::uint32_t xid) {
  Writer out;
  WriteHeader(out, MessageType::kBarrierRequest, xid);
  return Finish(out);
}

std::vector<std::uint8_t> EncodeAddFlow(std::uint32_t xid, const Flow& flow, std::uint64_t cookie) {
  Writer out;
  WriteHeader(out, MessageType::kFlowMod, xid);
  FlowModHead(out, {.cookie = cookie,
                    .table_id = flow.table,
                    .command = kFlowModAdd,
                    .priority = flow.priority});
  EncodeMatch(out, flow.match);
  // An empty instruction list drops.
  if (!flow.actions.empty()) {
    auto start = out.size();
    out.U16(kInstructionApplyActions);
    out.U16(0);  // patched below
    out.Zeros(4);
    for (const auto& action : flow.actions) EncodeAction(out, action);
    out.PatchU16(start + 2, static_cast<std::uint16_t>(out.size() - start));
  }
  if (flow.goto_table) {
    out.U16(kInstructionGotoTable);
    out.U16(8);
    out.U8(*flow.goto_table);
    out.Zeros(3);
  }
  return Finish(out);
}

std::vector<std::uint8_t> EncodeDeleteFlow(std::uint32_t xid, const Flow& flow,
                                           std::uint64_t cookie) {
  Writer out;
  WriteHeader(out, MessageType::kFlowMod, xid);
  FlowModHead(out, {.cookie = cookie,
                    .cookie_mask = ~std::uint64_t{0},
                    .table_id = flow.table,
                    .command = kFlowModDeleteStrict,
                    .priority = flow.priority});
  EncodeMatch(out, flow.match);
  return Finish(out);
}

std::vector<std::uint8_t> EncodeDeleteFlows(std::uint32_t xid, std::uint64_t cookie,
                                            std::uint64_t mask) {
  Writer out;
  WriteHeader(out, MessageType::kFlowMod, xid);
  FlowModHead(
      out,
      {.cookie = cookie, .cookie_mask = mask, .table_id = kTableAll, .command = kFlowModDelete});
  EncodeMatch(out, Match{});
  return Finish(out);
}

std::vector<std::uint8_t> EncodePortMod(std::uint32_t xid, const PortConfig& port) {
  Writer out;
  WriteHeader(out, MessageType::kPortMod, xid);
  out.U32(port.port_no);
  out.Zeros(4);
  out.Mac(port.hw_addr);
  out.Zeros(2);
  out.U32(port.config);
  out.U32(port.mask);
  out.U32(0);  // advertise: 0 leaves the port's advertised features alone
  out.Zeros(4);
  return Finish(out);
}

std::vector<std::uint8_t> EncodePortDescriptionRequest(std::uint32_t xid) {
  Writer out;
  WriteHeader(out, MessageType::kMultipartRequest, xid);
  out.U16(kMultipartPortDescription);
  out.U16(0);  // flags
  out.Zeros(4);
  return Finish(out);
}

std::optional<PortDescriptionReply> ParsePortDescriptionReply(
    std::span<const std::uint8_t> message) {
  constexpr std::size_t kBodyOffset = kHeaderSize + 8;  // multipart type, flags, padding
  if (message.size() < kBodyOffset ||
      message[1] != static_cast<std::uint8_t>(MessageType::kMultipartReply) ||
      (message[8] << 8 | message[9]) != kMultipartPortDescription ||
      (message.size() - kBodyOffset) % kPortDescriptionSize != 0) {
    return std::nullopt;
  }
  PortDescriptionReply reply;
  reply.more = ((message[10] << 8 | message[11]) & kMultipartReplyMore) != 0;
  for (auto offset = kBodyOffset; offset < message.size(); offset += kPortDescriptionSize) {
    // port_no, 4 bytes of padding, hw_addr, 2 of padding, name[16], config.
    const auto* port = message.data() + offset;
    reply.ports.push_back({ReadU32(port), ReadMac(port + 8), ReadU32(port + 32)});
  }
  return reply;
}

std::vector<std::uint8_t> EncodeFlowCountRequest(std::uint32_t xid, std::uint64_t cookie,
                                                 std::uint64_t mask) {
  Writer out;
  WriteHeader(out, MessageType::kMultipartRequest, xid);
  out.U16(kMultipartAggregate);
  out.U16(0);  // flags
  out.Zeros(4);
  out.U8(kTableAll);
  out.Zeros(3);
  out.U32(kPortAny);
  out.U32(kGroupAny);
  out.Zeros(4);
  out.U64(cookie);
  out.U64(mask);
  EncodeMatch(out, Match{});
  return Finish(out);
}

std::optional<AggregateStats> ParseAggregateReply(std::span<const std::uint8_t> message) {
  constexpr std::size_t kBodyOffset = kHeaderSize + 8;
  if (message.size() < kBodyOffset + 20 ||
      message[1] != static_cast<std::uint8_t>(MessageType::kMultipartReply) ||
      (message[8] << 8 | message[9]) != kMultipartAggregate) {
    return std::nullopt;
  }
  const auto* body = message.data() + kBodyOffset;
  auto u64 = [](const std::uint8_t* bytes) {
    return static_cast<std::uint64_t>(ReadU32(bytes)) << 32 | ReadU32(bytes + 4);
  };
  return AggregateStats{u64(body), u64(body + 8), ReadU32(body + 16)};
}

std::optional<Error> ParseError(std::span<const std::uint8_t> message) {
  if (message.size() < kHeaderSize + 4) return std::nullopt;
  Error error;
  error.type = static_cast<std::uint16_t>(message[8] << 8 | message[9]);
  error.code = static_cast<std::uint16_t>(message[10] << 8 | message[11]);
  error.data.assign(message.begin() + 12, message.end());
  return error;
}

std::string Describe(const Error& error) {
  static constexpr std::array<const char*, 8> kTypes = {
      "OFPET_HELLO_FAILED",     "OFPET_BAD_REQUEST",    "OFPET_BAD_ACTION",
      "OFPET_BAD_INSTRUCTION",  "OFPET_BAD_MATCH",      "OFPET_FLOW_MOD_FAILED",
      "OFPET_GROUP_MOD_FAILED", "OFPET_PORT_MOD_FAILED"};
  static constexpr std::array<const char*, 8> kFlowModCodes = {
      "OFPFMFC_UNKNOWN", "OFPFMFC_TABLE_FULL",  "OFPFMFC_BAD_TABLE_ID", "OFPFMFC_OVERLAP",
      "OFPFMFC_EPERM",   "OFPFMFC_BAD_TIMEOUT", "OFPFMFC_BAD_COMMAND",  "OFPFMFC_BAD_FLAGS"};
  std::string type = error.type < kTypes.size() ? kTypes[error.type] : std::to_string(error.type);
  static constexpr std::array<const char*, 5> kPortModCodes = {
      "OFPPMFC_BAD_PORT", "OFPPMFC_BAD_HW_ADDR", "OFPPMFC_BAD_CONFIG", "OFPPMFC_BAD_ADVERTISE",
      "OFPPMFC_EPERM"};
  if (error.type == 5 && error.code < kFlowModCodes.size()) {
    return type + "/" + kFlowModCodes[error.code];
  }
  if (error.type == 7 && error.code < kPortModCodes.size()) {
    return type + "/" + kPortModCodes[error.code];
  }
  return fmt::format("{}/{}", type, error.code);
}

}  // namespace netd::ovs::openflow
