#include "netd/firewall/conntrack.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <memory>
#include <system_error>
#include <vector>

namespace netd::firewall {
namespace {

// CTA_FILTER_ORIG_FLAGS bits. The kernel defines them in nf_conntrack_netlink.c, not in a uapi
// header, so they are spelled out here.
constexpr std::uint32_t kFilterIpSource = 1U << 0;
constexpr std::uint32_t kFilterIpDestination = 1U << 1;
constexpr std::uint32_t kFilterProtocol = 1U << 3;
constexpr std::uint32_t kFilterDestinationPort = 1U << 5;

// The kernel fills dump messages up to the size of the reader's buffer, at most 32 KiB; the
// largest size means the fewest recvmsg calls for a big table.
constexpr std::size_t kReceiveBufferBytes = 32768;

// Deletes are sent in batches and the kernel queues one ack per delete on our socket before we
// read any. 64 acks stay far below the default receive buffer (212992 bytes, about 1 KiB per
// queued ack), so none is dropped with ENOBUFS; 1000 deletes still take only 16 round trips.
constexpr std::size_t kDeletesPerBatch = 64;
// A dumped IPv4 tuple (addresses, protocol, ports or ICMP fields, zone) is under 100 bytes; the
// bound keeps a malformed one from overrunning the batch buffer.
constexpr std::size_t kMaxTupleBytes = 256;
constexpr std::size_t kMaxDeleteBytes = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg)) +
                                        MNL_ATTR_HDRLEN + MNL_ALIGN(kMaxTupleBytes) +
                                        MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(std::uint16_t));

// An entry to delete: its original tuple exactly as the kernel dumped it (so any protocol's
// fields and a directional zone are sent back unchanged) and its zone, if not the default one.
struct Entry {
  std::vector<char> tuple;
  std::optional<std::uint16_t> zone;  // network byte order, as dumped
};

// The original-direction fields the filter looks at, in host byte order.
struct OriginalTuple {
  std::optional<Ipv4Address> source;
  std::optional<Ipv4Address> destination;
  std::optional<std::uint8_t> protocol;
  std::optional<std::uint16_t> destination_port;
};

struct DumpState {
  const ConntrackFilter& filter;
  std::vector<Entry> matches;
  bool malformed = false;
};

struct AckState {
  std::size_t pending = 0;
  std::size_t deleted = 0;
  int error = 0;  // the first failure other than ENOENT
};

std::system_error SystemError(int error, const char* context) {
  return std::system_error(error, std::generic_category(), context);
}

std::uint32_t NextSequence(std::uint32_t& sequence) {
  // Sequence 0 would switch off mnl_cb_run's check that a reply answers our request.
  if (++sequence == 0) ++sequence;
  return sequence;
}

nlmsghdr* PutRequest(char* buffer, std::uint8_t type, std::uint16_t flags, std::uint32_t sequence) {
  nlmsghdr* request = mnl_nlmsg_put_header(buffer);
  request->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
  request->nlmsg_flags = flags;
  request->nlmsg_seq = sequence;
  auto* header = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(nfgenmsg)));
  header->nfgen_family = AF_INET;
  header->version = NFNETLINK_V0;
  header->res_id = 0;
  return request;
}

// Asks the kernel to send only the entries that match the filter's exact parts (an address, the
// protocol, a single port), so that revoking one VM's flows does not copy a table of 100k entries
// to userspace. Everything is checked again in userspace, which also handles CIDRs and ranges.
void PutKernelFilter(nlmsghdr* request, const ConntrackFilter& filter) {
  const bool source = filter.source.has_value();
  const bool destination = filter.destination && filter.destination->prefix_length() == 32;
  const bool protocol = filter.protocol.has_value();
  const bool port =
      protocol && (*filter.protocol == IPPROTO_TCP || *filter.protocol == IPPROTO_UDP) &&
      filter.destination_ports && filter.destination_ports->first == filter.destination_ports->last;
  if (!source && !destination && !protocol) return;

  std::uint32_t flags = 0;
  nlattr* tuple = mnl_attr_nest_start(request, CTA_TUPLE_ORIG);
  if (source || destination) {
    nlattr* ip = mnl_attr_nest_start(request, CTA_TUPLE_IP);
    if (source) {
      mnl_attr_put_u32(request, CTA_IP_V4_SRC, htonl(filter.source->value()));
      flags |= kFilterIpSource;
    }
    if (destination) {
      mnl_attr_put_u32(request, CTA_IP_V4_DST, htonl(filter.destination->base().value()));
      flags |= kFilterIpDestination;
    }
    mnl_attr_nest_end(request, ip);
  }
  if (protocol) {
    nlattr* proto = mnl_attr_nest_start(request, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(request, CTA_PROTO_NUM, *filter.protocol);
    flags |= kFilterProtocol;
    if (port) {
      mnl_attr_put_u16(request, CTA_PROTO_DST_PORT, htons(filter.destination_ports->first));
      flags |= kFilterDestinationPort;
    }
    mnl_attr_nest_end(request, proto);
  }
  mnl_attr_nest_end(request, tuple);

  nlattr* kernel_filter = mnl_attr_nest_start(request, CTA_FILTER);
  mnl_attr_put_u32(request, CTA_FILTER_ORIG_FLAGS, flags);
  mnl_attr_nest_end(request, kernel_filter);
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

// Data callback of the dump. A malformed entry is remembered rather than aborting the run, so
// that the rest of the dump is still read off the socket and the next request starts clean.
int CollectEntry(const nlmsghdr* message, void* data) {
  auto& dump = *static_cast<DumpState*>(data);
  if (mnl_nlmsg_get_payload_len(message) < sizeof(nfgenmsg)) {
    dump.malformed = true;
    return MNL_CB_OK;
  }
  const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(message));
  if (header->nfgen_family != AF_INET) return MNL_CB_OK;

  AttributeTable<CTA_MAX> attributes{};
  mnl_attr_parse(message, sizeof(nfgenmsg), StoreAttribute<CTA_MAX>, &attributes);
  const nlattr* original = Valid(attributes[CTA_TUPLE_ORIG], MNL_TYPE_NESTED);
  if (!original || mnl_attr_get_payload_len(original) > kMaxTupleBytes) {
    dump.malformed = true;
    return MNL_CB_OK;
  }
  if (!Matches(dump.filter, ParseOriginalTuple(original))) return MNL_CB_OK;

  const auto* payload = static_cast<const char*>(mnl_attr_get_payload(original));
  Entry& entry = dump.matches.emplace_back();
  entry.tuple.assign(payload, payload + mnl_attr_get_payload_len(original));
  if (const nlattr* zone = Valid(attributes[CTA_ZONE], MNL_TYPE_U16)) {
    entry.zone = mnl_attr_get_u16(zone);
  }
  return MNL_CB_OK;
}

// Control callback for NLMSG_ERROR while reading delete acks: counts each ack and keeps going,
// where libmnl's default would stop at the first error and lose the acks behind it.
int CountAck(const nlmsghdr* message, void* data) {
  auto& acks = *static_cast<AckState*>(data);
  if (mnl_nlmsg_get_payload_len(message) < sizeof(nlmsgerr) || acks.pending == 0) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  const int error = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(message))->error;
  --acks.pending;
  if (error == 0) {
    ++acks.deleted;
  } else if (error != ENOENT && acks.error == 0) {  // ENOENT: the entry is already gone
    acks.error = error;
  }
  return MNL_CB_OK;
}

std::size_t Receive(mnl_socket* socket, std::vector<char>& buffer, const char* context) {
  for (;;) {
    const ssize_t received = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
    if (received >= 0) return static_cast<std::size_t>(received);
    if (errno != EINTR) throw SystemError(errno, context);
  }
}

void Send(mnl_socket* socket, const char* data, std::size_t length, const char* context) {
  if (mnl_socket_sendto(socket, data, length) < 0) throw SystemError(errno, context);
}

}  // namespace

ConntrackTable::ConntrackTable() {
  Open();
}

void ConntrackTable::Open() {
  std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> socket(
      mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC), &mnl_socket_close);
  if (!socket) throw SystemError(errno, "conntrack socket");
  // Failed deletes are acked with the request header only, not a copy of the whole request.
  int enable = 1;
  if (mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &enable, sizeof enable) != 0 ||
      mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) != 0) {
    throw SystemError(errno, "conntrack socket");
  }
  port_id_ = mnl_socket_get_portid(socket.get());
  socket_ = socket.release();
}

ConntrackTable::~ConntrackTable() {
  mnl_socket_close(socket_);
}

std::size_t ConntrackTable::Delete(const ConntrackFilter& filter) {
  try {
    return DeleteOnce(filter);
  } catch (...) {
    // Answers of the failed call may still be queued; a fresh socket starts the next one clean.
    mnl_socket_close(socket_);
    socket_ = nullptr;
    Open();
    throw;
  }
}

std::size_t ConntrackTable::DeleteOnce(const ConntrackFilter& filter) {
  std::vector<char> buffer(kReceiveBufferBytes);

  // Collect first, delete afterwards: both go through this one socket, and delete acks must not
  // interleave with a dump still in progress.
  const std::uint32_t dump_sequence = NextSequence(sequence_);
  nlmsghdr* request =
      PutRequest(buffer.data(), IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, dump_sequence);
  PutKernelFilter(request, filter);
  Send(socket_, buffer.data(), request->nlmsg_len, "conntrack dump");
  DumpState dump{.filter = filter, .matches = {}};
  for (int result = MNL_CB_OK; result > MNL_CB_STOP;) {
    const std::size_t received = Receive(socket_, buffer, "conntrack dump");
    result = mnl_cb_run(buffer.data(), received, dump_sequence, port_id_, CollectEntry, &dump);
    if (result == MNL_CB_ERROR) throw SystemError(errno, "conntrack dump");
  }
  if (dump.malformed) throw SystemError(EBADMSG, "conntrack dump: malformed entry");

  std::vector<char> batch(kDeletesPerBatch * kMaxDeleteBytes);
  std::array<mnl_cb_t, NLMSG_MIN_TYPE> control{};
  control[NLMSG_ERROR] = CountAck;
  AckState acks;
  for (std::size_t next = 0; next < dump.matches.size();) {
    // One sequence number for the whole batch, so that mnl_cb_run2 checks every ack against it.
    const std::uint32_t sequence = NextSequence(sequence_);
    std::size_t length = 0;
    for (; next < dump.matches.size() && acks.pending < kDeletesPerBatch; ++next) {
      const Entry& entry = dump.matches[next];
      nlmsghdr* message = PutRequest(batch.data() + length, IPCTNL_MSG_CT_DELETE,
                                     NLM_F_REQUEST | NLM_F_ACK, sequence);
      mnl_attr_put(message, CTA_TUPLE_ORIG | NLA_F_NESTED, entry.tuple.size(), entry.tuple.data());
      if (entry.zone) mnl_attr_put_u16(message, CTA_ZONE, *entry.zone);
      length += message->nlmsg_len;
      ++acks.pending;
    }
    // The kernel handles every message of one sendmsg in turn and acks each, even after a
    // failure.
    Send(socket_, batch.data(), length, "conntrack delete");
    while (acks.pending > 0) {
      const std::size_t received = Receive(socket_, buffer, "conntrack delete");
      if (mnl_cb_run2(buffer.data(), received, sequence, port_id_, nullptr, &acks, control.data(),
                      control.size()) == MNL_CB_ERROR) {
        throw SystemError(errno, "conntrack delete");
      }
    }
    if (acks.error != 0) throw SystemError(acks.error, "conntrack delete");
  }
  return acks.deleted;
}

}  // namespace netd::firewall
