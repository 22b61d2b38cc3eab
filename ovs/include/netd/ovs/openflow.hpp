#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netd/common/address.hpp"

// The part of OpenFlow 1.3 (ONF TS-012) netd speaks to ovs-vswitchd: hello, echo, error,
// flow_mod with OXM matches and an OUTPUT:NORMAL action, port_mod, port descriptions, barrier.
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
inline constexpr std::uint8_t kIpProtoUdp = 17;

// The fields a flow matches; an absent field matches anything. The caller supplies the
// prerequisites OpenFlow asks for (eth_type before IPv4/ARP fields, ip_proto before UDP ports).
struct Match {
  std::optional<std::uint32_t> in_port{};
  std::optional<MacAddress> eth_dst{};
  std::optional<MacAddress> eth_src{};
  // OFPVID_PRESENT | VID of the frame's 802.1Q tag; 0 (OFPVID_NONE) matches untagged frames.
  std::optional<std::uint16_t> vlan_vid{};
  std::optional<std::uint16_t> eth_type{};
  std::optional<std::uint8_t> ip_proto{};
  std::optional<Ipv4Cidr> ipv4_src{};
  std::optional<Ipv4Address> ipv4_dst{};
  std::optional<std::uint16_t> udp_src{};
  std::optional<std::uint16_t> udp_dst{};
  std::optional<Ipv4Cidr> arp_spa{};
  std::optional<MacAddress> arp_sha{};

  friend bool operator==(const Match&, const Match&) = default;
};

// A flow of table 0: packets matching it are forwarded as a learning switch would
// (OUTPUT:NORMAL) or dropped.
struct Flow {
  std::uint16_t priority = 0;
  Match match;
  bool forward = false;

  friend bool operator==(const Flow&, const Flow&) = default;
};

// OFPP_LOCAL: the bridge's own internal port.
inline constexpr std::uint32_t kPortLocal = 0xfffffffe;
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
std::vector<std::uint8_t> EncodeBarrierRequest(std::uint32_t xid);
// OFPFC_ADD of `flow` in table 0 with `cookie`.
std::vector<std::uint8_t> EncodeAddFlow(std::uint32_t xid, const Flow& flow, std::uint64_t cookie);
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
// The flow count of an OFPMP_AGGREGATE reply; nullopt for any other message.
std::optional<std::uint32_t> ParseFlowCountReply(std::span<const std::uint8_t> message);

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
