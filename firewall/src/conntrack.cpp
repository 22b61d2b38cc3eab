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

#include "netlink_replies.hpp"

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
constexpr std::size_t kMaxDeleteBytes = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg)) +
                                        MNL_ATTR_HDRLEN +
                                        MNL_ALIGN(netlink::kMaxConntrackTupleBytes) +
                                        MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(std::uint16_t));

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
  netlink::ConntrackDump dump{.filter = filter, .matches = {}};
  for (int result = MNL_CB_OK; result > MNL_CB_STOP;) {
    const std::size_t received = Receive(socket_, buffer, "conntrack dump");
    result = netlink::ReadConntrackDump({buffer.data(), received}, dump_sequence, port_id_, dump);
    if (result == MNL_CB_ERROR) throw SystemError(errno, "conntrack dump");
  }
  if (dump.malformed) throw SystemError(EBADMSG, "conntrack dump: malformed entry");

  std::vector<char> batch(kDeletesPerBatch * kMaxDeleteBytes);
  netlink::ConntrackAcks acks;
  for (std::size_t next = 0; next < dump.matches.size();) {
    // One sequence number for the whole batch, so that mnl_cb_run2 checks every ack against it.
    const std::uint32_t sequence = NextSequence(sequence_);
    std::size_t length = 0;
    for (; next < dump.matches.size() && acks.pending < kDeletesPerBatch; ++next) {
      const netlink::ConntrackEntry& entry = dump.matches[next];
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
      if (netlink::ReadConntrackAcks({buffer.data(), received}, sequence, port_id_, acks) ==
          MNL_CB_ERROR) {
        throw SystemError(errno, "conntrack delete");
      }
    }
    if (acks.error != 0) throw SystemError(acks.error, "conntrack delete");
  }
  return acks.deleted;
}

}  // namespace netd::firewall
