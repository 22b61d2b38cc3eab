#include "netlink_replies.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>

namespace netd::firewall::netlink {
namespace {

// Every table-scoped nf_tables message names its table in attribute 1 (NFTA_TABLE_NAME,
// NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE,
// NFTA_FLOWTABLE_TABLE all equal 1).
constexpr std::uint16_t kTableAttribute = 1;
static_assert(NFTA_TABLE_NAME == kTableAttribute && NFTA_CHAIN_TABLE == kTableAttribute &&
              NFTA_RULE_TABLE == kTableAttribute && NFTA_SET_TABLE == kTableAttribute &&
              NFTA_SET_ELEM_LIST_TABLE == kTableAttribute && NFTA_OBJ_TABLE == kTableAttribute &&
              NFTA_FLOWTABLE_TABLE == kTableAttribute);

// The string of a NUL-terminated attribute; empty when it is not one.
std::string StringOf(const nlattr* attribute) {
  if (!attribute || mnl_attr_validate(attribute, MNL_TYPE_NUL_STRING) != 0) return {};
  return mnl_attr_get_str(attribute);
}

// The extended ack's text (NLMSGERR_ATTR_MSG) of a refusal, if the kernel gave one. With
// NETLINK_CAP_ACK the error carries only the request's header; the TLVs follow it.
std::string ExtendedAckMessage(const nlmsghdr* header, const nlmsgerr& error) {
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  std::size_t offset = MNL_ALIGN(sizeof(nlmsgerr));
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) {
    if (error.msg.nlmsg_len < sizeof(nlmsghdr)) return {};
    offset += error.msg.nlmsg_len - sizeof(nlmsghdr);
  }
  return StringOf(FindAttribute(header, offset, NLMSGERR_ATTR_MSG));
}

// One nest's attributes by type. Types above kMax (from a newer kernel) are skipped.
template <int kMax>
using AttributeTable = std::array<const nlattr*, kMax + 1>;

template <int kMax>
int StoreAttribute(const nlattr* attribute, void* data) {
  if (mnl_attr_type_valid(attribute, kMax) > 0) {
    (*static_cast<AttributeTable<kMax>*>(data))[mnl_attr_get_type(attribute)] = attribute;
  }
  return MNL_CB_OK;
}

// The attribute if present and of the expected type (and so of a size safe to read), else null.
const nlattr* Valid(const nlattr* attribute, mnl_attr_data_type type) {
  return attribute && mnl_attr_validate(attribute, type) == 0 ? attribute : nullptr;
}

// The elements of an NFT_MSG_NEWSETELEM message (NFTA_SET_ELEM_LIST_ELEMENTS: NFTA_LIST_ELEM
// nests, each a key (NFTA_SET_ELEM_KEY holding NFTA_DATA_VALUE) and, with a timeout, the
// milliseconds left (NFTA_SET_ELEM_EXPIRATION)), appended to `elements`; false when an
// attribute is malformed. Read here with libmnl's validation rather than by libnftnl, whose
// parser exits the process on an attribute it does not expect.
bool ReadElementList(const nlmsghdr* header, std::vector<NftSocket::ListedElement>& elements) {
  AttributeTable<NFTA_SET_ELEM_LIST_MAX> list{};
  if (mnl_attr_parse(header, sizeof(nfgenmsg), StoreAttribute<NFTA_SET_ELEM_LIST_MAX>, &list) < 0) {
    return false;
  }
  const nlattr* nested = list[NFTA_SET_ELEM_LIST_ELEMENTS];
  if (!nested) return true;
  if (!Valid(nested, MNL_TYPE_NESTED)) return false;
  bool ok = true;
  const auto* end =
      static_cast<const char*>(mnl_attr_get_payload(nested)) + mnl_attr_get_payload_len(nested);
  for (const auto* element = static_cast<const nlattr*>(mnl_attr_get_payload(nested));
       mnl_attr_ok(element, static_cast<int>(end - reinterpret_cast<const char*>(element)));
       element = mnl_attr_next(element)) {
    if (mnl_attr_get_type(element) != NFTA_LIST_ELEM) continue;
    AttributeTable<NFTA_SET_ELEM_MAX> fields{};
    if (!Valid(element, MNL_TYPE_NESTED) ||
        mnl_attr_parse_nested(element, StoreAttribute<NFTA_SET_ELEM_MAX>, &fields) < 0) {
      ok = false;
      continue;
    }
    NftSocket::ListedElement listed;
    if (const nlattr* key = fields[NFTA_SET_ELEM_KEY]) {
      AttributeTable<NFTA_DATA_MAX> data{};
      if (!Valid(key, MNL_TYPE_NESTED) ||
          mnl_attr_parse_nested(key, StoreAttribute<NFTA_DATA_MAX>, &data) < 0) {
        ok = false;
        continue;
      }
      if (const nlattr* value = data[NFTA_DATA_VALUE]) {
        const auto* bytes = static_cast<const std::uint8_t*>(mnl_attr_get_payload(value));
        listed.key.assign(bytes, bytes + mnl_attr_get_payload_len(value));
      }
    }
    if (const nlattr* expiration = fields[NFTA_SET_ELEM_EXPIRATION]) {
      if (!Valid(expiration, MNL_TYPE_U64)) {
        ok = false;
        continue;
      }
      listed.expires_in_ms = be64toh(mnl_attr_get_u64(expiration));
    }
    elements.push_back(std::move(listed));
  }
  return ok;
}

// The original-direction fields a conntrack filter looks at, in host byte order.
struct OriginalTuple {
  std::optional<Ipv4Address> source;
  std::optional<Ipv4Address> destination;
  std::optional<std::uint8_t> protocol;
  std::optional<std::uint16_t> destination_port;
};

OriginalTuple ParseOriginalTuple(const nlattr* tuple) {
  OriginalTuple parsed;
  AttributeTable<CTA_TUPLE_MAX> fields{};
  mnl_attr_parse_nested(tuple, StoreAttribute<CTA_TUPLE_MAX>, &fields);
  if (const nlattr* ip = Valid(fields[CTA_TUPLE_IP], MNL_TYPE_NESTED)) {
    AttributeTable<CTA_IP_MAX> addresses{};
    mnl_attr_parse_nested(ip, StoreAttribute<CTA_IP_MAX>, &addresses);
    if (const nlattr* source = Valid(addresses[CTA_IP_V4_SRC], MNL_TYPE_U32)) {
      parsed.source = Ipv4Address(ntohl(mnl_attr_get_u32(source)));
    }
    if (const nlattr* destination = Valid(addresses[CTA_IP_V4_DST], MNL_TYPE_U32)) {
      parsed.destination = Ipv4Address(ntohl(mnl_attr_get_u32(destination)));
    }
  }
  if (const nlattr* proto = Valid(fields[CTA_TUPLE_PROTO], MNL_TYPE_NESTED)) {
    AttributeTable<CTA_PROTO_MAX> protocol{};
    mnl_attr_parse_nested(proto, StoreAttribute<CTA_PROTO_MAX>, &protocol);
    if (const nlattr* number = Valid(protocol[CTA_PROTO_NUM], MNL_TYPE_U8)) {
      parsed.protocol = mnl_attr_get_u8(number);
    }
    if (const nlattr* port = Valid(protocol[CTA_PROTO_DST_PORT], MNL_TYPE_U16)) {
      parsed.destination_port = ntohs(mnl_attr_get_u16(port));
    }
  }
  return parsed;
}

bool Matches(const ConntrackFilter& filter, const OriginalTuple& tuple) {
  if (filter.source && tuple.source != filter.source) return false;
  if (filter.destination &&
      !(tuple.destination && filter.destination->Contains(*tuple.destination))) {
    return false;
  }
  if (filter.protocol && tuple.protocol != filter.protocol) return false;
  if (filter.destination_ports) {
    const bool has_ports = tuple.protocol == IPPROTO_TCP || tuple.protocol == IPPROTO_UDP;
    if (!has_ports || !tuple.destination_port ||
        !filter.destination_ports->Contains(*tuple.destination_port)) {
      return false;
    }
  }
  if (filter.keep && tuple.source && tuple.destination && tuple.protocol) {
    FlowTuple flow{*tuple.source, *tuple.destination, *tuple.protocol,
                   tuple.destination_port.value_or(0)};
    if (filter.keep(flow)) return false;
  }
  return true;
}

// Data callback of the conntrack dump. A malformed entry is remembered rather than aborting the
// run, so that the rest of the dump is still read off the socket and the next request starts
// clean.
int CollectEntry(const nlmsghdr* message, void* data) {
  auto& dump = *static_cast<ConntrackDump*>(data);
  if (mnl_nlmsg_get_payload_len(message) < sizeof(nfgenmsg)) {
    dump.malformed = true;
    return MNL_CB_OK;
  }
  const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(message));
  if (header->nfgen_family != AF_INET) return MNL_CB_OK;

  AttributeTable<CTA_MAX> attributes{};
  mnl_attr_parse(message, sizeof(nfgenmsg), StoreAttribute<CTA_MAX>, &attributes);
  const nlattr* original = Valid(attributes[CTA_TUPLE_ORIG], MNL_TYPE_NESTED);
  if (!original || mnl_attr_get_payload_len(original) > kMaxConntrackTupleBytes) {
    dump.malformed = true;
    return MNL_CB_OK;
  }
  if (!Matches(dump.filter, ParseOriginalTuple(original))) return MNL_CB_OK;

  const auto* payload = static_cast<const char*>(mnl_attr_get_payload(original));
  ConntrackEntry& entry = dump.matches.emplace_back();
  entry.tuple.assign(payload, payload + mnl_attr_get_payload_len(original));
  if (const nlattr* zone = Valid(attributes[CTA_ZONE], MNL_TYPE_U16)) {
    entry.zone = mnl_attr_get_u16(zone);
  }
  return MNL_CB_OK;
}

// Control callback for NLMSG_ERROR while reading delete acks: counts each ack and keeps going,
// where libmnl's default would stop at the first error and lose the acks behind it.
int CountAck(const nlmsghdr* message, void* data) {
  auto& acks = *static_cast<ConntrackAcks*>(data);
  const nlmsgerr* answer = ErrorOf(message);
  if (!answer || acks.pending == 0) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  const int error = ErrnoOf(*answer);
  --acks.pending;
  if (error == 0) {
    ++acks.deleted;
  } else if (error != ENOENT && acks.error == 0) {
    acks.error = error;
  }
  return MNL_CB_OK;
}

// mnl_attr_parse callback: keeps IFA_LOCAL and IFA_ADDRESS when they hold an IPv4 address.
int StoreAddressAttribute(const nlattr* attribute, void* data) {
  auto& attributes = *static_cast<std::array<const nlattr*, IFA_MAX + 1>*>(data);
  const auto type = mnl_attr_get_type(attribute);
  if ((type == IFA_LOCAL || type == IFA_ADDRESS) &&
      mnl_attr_validate(attribute, MNL_TYPE_U32) == 0) {
    attributes[type] = attribute;
  }
  return MNL_CB_OK;
}

int CollectAddress(const nlmsghdr* message, void* data) {
  auto& dump = *static_cast<AddressDump*>(data);
  if (mnl_nlmsg_get_payload_len(message) < sizeof(ifaddrmsg)) return MNL_CB_OK;
  const auto* header = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(message));
  if (header->ifa_family != AF_INET || header->ifa_index != dump.index ||
      header->ifa_prefixlen > 32) {
    return MNL_CB_OK;
  }
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a point-to-point
  // link, and the same as IFA_LOCAL elsewhere.
  std::array<const nlattr*, IFA_MAX + 1> attributes{};
  mnl_attr_parse(message, sizeof(ifaddrmsg), StoreAddressAttribute, &attributes);
  const nlattr* chosen = attributes[IFA_LOCAL] ? attributes[IFA_LOCAL] : attributes[IFA_ADDRESS];
  if (!chosen) return MNL_CB_OK;
  const int prefix = header->ifa_prefixlen;
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  dump.networks.emplace_back(Ipv4Address(ntohl(mnl_attr_get_u32(chosen)) & mask), prefix);
  return MNL_CB_OK;
}

// Walks the whole messages of `bytes` as ForEachMessage describes; returns where it stopped.
std::size_t Walk(std::span<const char> bytes, const std::function<void(const nlmsghdr*)>& each) {
  std::size_t offset = 0;
  while (bytes.size() - offset >= sizeof(nlmsghdr)) {
    const auto* header = reinterpret_cast<const nlmsghdr*>(bytes.data() + offset);
    if (header->nlmsg_len < sizeof(nlmsghdr) || header->nlmsg_len > bytes.size() - offset) break;
    if (each) each(header);
    offset += std::min<std::size_t>(NLMSG_ALIGN(header->nlmsg_len), bytes.size() - offset);
  }
  return offset;
}

// Whether mnl_cb_run walks `bytes` as Walk does: it reads a length past INT_MAX where the walk
// stops as fitting.
bool Framed(std::span<const char> bytes) {
  const std::size_t stop = Walk(bytes, {});
  if (bytes.size() - stop < sizeof(nlmsghdr)) return true;
  return reinterpret_cast<const nlmsghdr*>(bytes.data() + stop)->nlmsg_len <=
         static_cast<std::uint32_t>(INT32_MAX);
}

// mnl_cb_run's answer to bytes it must not walk.
int Malformed() {
  errno = EBADMSG;
  return MNL_CB_ERROR;
}

}  // namespace

void ForEachMessage(std::span<const char> bytes, const std::function<void(const nlmsghdr*)>& each) {
  Walk(bytes, each);
}

const nlmsgerr* ErrorOf(const nlmsghdr* header) {
  if (mnl_nlmsg_get_payload_len(header) < sizeof(nlmsgerr)) return nullptr;
  return static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
}

int ErrnoOf(const nlmsgerr& error) {
  constexpr int kMaxErrno = 4095;  // the kernel's MAX_ERRNO
  if (error.error == 0) return 0;
  return error.error < 0 && error.error >= -kMaxErrno ? -error.error : EBADMSG;
}

void ReadTransactionAcks(std::span<const char> bytes, TransactionAcks& acks) {
  ForEachMessage(bytes, [&](const nlmsghdr* header) {
    if (header->nlmsg_type != NLMSG_ERROR) return;
    const nlmsgerr* error = ErrorOf(header);
    if (!error) return;
    // Only answers to this transaction count: unsigned, so sequences before BEGIN wrap high.
    std::size_t index = error->msg.nlmsg_seq - acks.begin_sequence;
    if (index > acks.messages) return;
    ++acks.answered;
    const int refused = ErrnoOf(*error);
    if (refused == 0 || acks.first_refusal) return;
    acks.first_refusal =
        TransactionAcks::Refusal{index, refused, ExtendedAckMessage(header, *error)};
  });
}

void ReadGenerationAnswer(std::span<const char> bytes, std::uint32_t sequence,
                          GenerationAnswer& answer) {
  ForEachMessage(bytes, [&](const nlmsghdr* header) {
    if (answer.done || header->nlmsg_seq != sequence) return;
    if (header->nlmsg_type == NLMSG_ERROR) {
      const nlmsgerr* error = ErrorOf(header);
      answer.error = error ? ErrnoOf(*error) : EBADMSG;
      answer.done = true;
      return;
    }
    const auto* attribute = FindAttribute(header, sizeof(nfgenmsg), NFTA_GEN_ID);
    if (const nlattr* id = Valid(attribute, MNL_TYPE_U32)) {
      answer.generation = ntohl(mnl_attr_get_u32(id));
    }
  });
}

void ReadSetElements(std::span<const char> bytes, std::uint32_t sequence, SetElementsDump& dump) {
  ForEachMessage(bytes, [&](const nlmsghdr* header) {
    if (dump.done || header->nlmsg_seq != sequence) return;
    if (header->nlmsg_type == NLMSG_DONE) {
      dump.done = true;
      return;
    }
    if (header->nlmsg_type == NLMSG_ERROR) {
      const nlmsgerr* error = ErrorOf(header);
      if (!error) {
        dump.error = EBADMSG;
        dump.done = true;
      } else if (ErrnoOf(*error) == ENOENT) {
        dump.elements.clear();
        dump.done = true;
      } else if (ErrnoOf(*error) != 0) {
        dump.error = ErrnoOf(*error);
        dump.done = true;
      }
      return;
    }
    if (mnl_nlmsg_get_payload_len(header) < sizeof(nfgenmsg) ||
        !ReadElementList(header, dump.elements)) {
      dump.malformed = true;
    }
  });
}

bool EventsTouchTable(std::span<const char> bytes, std::uint8_t family, const std::string& table) {
  bool touched = false;
  ForEachMessage(bytes, [&](const nlmsghdr* header) {
    if (NFNL_SUBSYS_ID(header->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
        mnl_nlmsg_get_payload_len(header) < sizeof(nfgenmsg)) {
      return;
    }
    const auto* message = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(header));
    if (message->nfgen_family != family) return;
    if (StringOf(FindAttribute(header, sizeof(nfgenmsg), kTableAttribute)) == table) {
      touched = true;
    }
  });
  return touched;
}

int ReadConntrackDump(std::span<const char> bytes, std::uint32_t sequence, std::uint32_t port_id,
                      ConntrackDump& dump) {
  if (!Framed(bytes)) return Malformed();
  return mnl_cb_run(bytes.data(), bytes.size(), sequence, port_id, CollectEntry, &dump);
}

int ReadConntrackAcks(std::span<const char> bytes, std::uint32_t sequence, std::uint32_t port_id,
                      ConntrackAcks& acks) {
  if (!Framed(bytes)) return Malformed();
  std::array<mnl_cb_t, NLMSG_MIN_TYPE> control{};
  control[NLMSG_ERROR] = CountAck;
  return mnl_cb_run2(bytes.data(), bytes.size(), sequence, port_id, nullptr, &acks, control.data(),
                     control.size());
}

int ReadAddressDump(std::span<const char> bytes, std::uint32_t sequence, std::uint32_t port_id,
                    AddressDump& dump) {
  if (!Framed(bytes)) return Malformed();
  return mnl_cb_run(bytes.data(), bytes.size(), sequence, port_id, CollectAddress, &dump);
}

std::optional<GuardRule> ParseOwnRule(const nlmsghdr* message) {
  if (mnl_nlmsg_get_payload_len(message) < sizeof(fib_rule_hdr)) return std::nullopt;
  const auto* rule_header = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(message));
  GuardRule rule;
  rule.family = rule_header->family;
  rule.action = rule_header->action;
  rule.destination_length = rule_header->dst_len;
  bool ours = false;
  const auto* end = reinterpret_cast<const char*>(message) + message->nlmsg_len;
  for (const auto* attribute =
           static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(message, sizeof(fib_rule_hdr)));
       mnl_attr_ok(attribute, static_cast<int>(end - reinterpret_cast<const char*>(attribute)));
       attribute = mnl_attr_next(attribute)) {
    auto u32 = [&](std::uint32_t& field) {
      if (Valid(attribute, MNL_TYPE_U32)) field = mnl_attr_get_u32(attribute);
    };
    switch (mnl_attr_get_type(attribute)) {
      case FRA_PROTOCOL:
        ours = Valid(attribute, MNL_TYPE_U8) &&
               mnl_attr_get_u8(attribute) == RouteGuard::kRuleProtocol;
        break;
      case FRA_PRIORITY:
        u32(rule.priority);
        break;
      case FRA_IIFNAME:
        rule.input_interface = StringOf(attribute);
        break;
      case FRA_DST:
        if (rule.family == AF_INET && mnl_attr_get_payload_len(attribute) == 4) {
          rule.destination = ntohl(mnl_attr_get_u32(attribute));
        }
        break;
      case FRA_FWMARK:
        u32(rule.mark);
        break;
      case FRA_FWMASK:
        u32(rule.mark_mask);
        break;
      case FRA_GOTO:
        u32(rule.goto_priority);
        break;
      default:
        break;
    }
  }
  if (!ours) return std::nullopt;
  return rule;
}

}  // namespace netd::firewall::netlink
