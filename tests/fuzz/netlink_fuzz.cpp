// libFuzzer target for the readers of the kernel's netlink answers (firewall/src/
// netlink_replies.hpp): nf_tables transaction acks, its generation, set-element dumps and
// change events; conntrack dumps and delete acks; rtnetlink address dumps and policy-routing
// rules. The input's first byte picks the reader, the rest is one receive's bytes (aligned, as
// a socket buffer is). The checked-in corpus holds answers recorded from a real kernel.
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "netlink_replies.hpp"

namespace netlink = netd::firewall::netlink;

namespace {

// What the fuzzed answers are read as answering.
constexpr std::uint32_t kSequence = 7;
constexpr std::uint32_t kBeginSequence = 100;
constexpr std::size_t kTransactionMessages = 5;

// How many whole messages `bytes` holds: no reader may see more.
std::size_t MessageCount(std::span<const char> bytes) {
  std::size_t count = 0;
  netlink::ForEachMessage(bytes, [&](const nlmsghdr*) { ++count; });
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::vector<char> received(data + 1, data + size);
  const std::span<const char> bytes(received);
  const std::size_t messages = MessageCount(bytes);
  switch (data[0] % 8) {
    case 0: {
      netlink::TransactionAcks acks{.begin_sequence = kBeginSequence,
                                    .messages = kTransactionMessages};
      netlink::ReadTransactionAcks(bytes, acks);
      if (acks.answered > messages) std::abort();
      if (acks.first_refusal &&
          (acks.first_refusal->index > kTransactionMessages || acks.first_refusal->error == 0)) {
        std::abort();
      }
      break;
    }
    case 1: {
      netlink::GenerationAnswer answer;
      netlink::ReadGenerationAnswer(bytes, kSequence, answer);
      if (answer.error != 0 && !answer.done) std::abort();
      break;
    }
    case 2: {
      netlink::SetElementsDump dump;
      netlink::ReadSetElements(bytes, kSequence, dump);
      if (dump.error != 0 && !dump.done) std::abort();
      break;
    }
    case 3:
      netlink::EventsTouchTable(bytes, NFPROTO_INET, "ticrypt");
      break;
    case 4: {
      netd::firewall::ConntrackFilter filter{
          .source = std::nullopt,
          .destination = netd::Ipv4Cidr(netd::Ipv4Address(0xc6336400), 24),  // 198.51.100.0/24
          .protocol = IPPROTO_TCP,
          .destination_ports = netd::PortRange{1, 1024},
          .keep = [](const netd::firewall::FlowTuple& flow) {
            return flow.destination_port == 443;
          }};
      netlink::ConntrackDump dump{.filter = filter, .matches = {}};
      netlink::ReadConntrackDump(bytes, kSequence, 0, dump);
      if (dump.matches.size() > messages) std::abort();
      for (const auto& entry : dump.matches) {
        if (entry.tuple.size() > netlink::kMaxConntrackTupleBytes) std::abort();
      }
      break;
    }
    case 5: {
      netlink::ConntrackAcks acks{.pending = 4};
      netlink::ReadConntrackAcks(bytes, kSequence, 0, acks);
      if (acks.deleted > 4 || acks.pending > 4 || acks.deleted + acks.pending > 4) std::abort();
      break;
    }
    case 6: {
      netlink::AddressDump dump{.index = 2, .networks = {}};
      netlink::ReadAddressDump(bytes, kSequence, 0, dump);
      if (dump.networks.size() > messages) std::abort();
      break;
    }
    case 7:
      netlink::ForEachMessage(bytes, [](const nlmsghdr* header) {
        auto rule = netlink::ParseOwnRule(header);
        if (rule && rule->input_interface.size() >= header->nlmsg_len) std::abort();
      });
      break;
  }
  return 0;
}
