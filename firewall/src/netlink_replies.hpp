#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/firewall/conntrack.hpp"
#include "netd/firewall/route_guard.hpp"
#include "nft_batch.hpp"

struct nlmsghdr;
struct nlmsgerr;

// What the firewall reads in the kernel's netlink answers, apart from the sockets that carry
// them. Each reader takes the bytes of one receive as the socket returned them, messages back
// to back, and trusts no length or attribute in them (tests/fuzz/netlink_fuzz.cpp hands them
// any bytes). The readers of a multi-part answer keep their progress in a state object that
// the caller feeds receive after receive.
namespace netd::firewall::netlink {

// Calls `each` for every whole message of `bytes` in order, and stops at a length that does not
// fit what is left. (libmnl's mnl_nlmsg_ok reads a length past INT_MAX as negative, which
// fits, and mnl_nlmsg_next then jumps out of the buffer; mnl_cb_run walks with them, so the
// readers below check the framing first.)
void ForEachMessage(std::span<const char> bytes, const std::function<void(const nlmsghdr*)>& each);

// The answers to an nf_tables transaction: one NLMSG_ERROR (an ack, or a refusal) per message,
// BEGIN's sequence being `begin_sequence` and the i-th message's begin_sequence + i. Answers to
// anything else are skipped.
struct TransactionAcks {
  std::uint32_t begin_sequence = 0;
  std::size_t messages = 0;  // after BEGIN
  std::size_t answered = 0;
  struct Refusal {
    std::size_t index;           // 0: BEGIN, i: the transaction's i-th message
    int error;                   // errno
    std::string kernel_message;  // the extended ack's text, if any
  };
  std::optional<Refusal> first_refusal = {};
};
void ReadTransactionAcks(std::span<const char> bytes, TransactionAcks& acks);

// The answer to NFT_MSG_GETGEN `sequence`: the generation, then the ack that ends it (`done`);
// `error` is the kernel's errno when it refused.
struct GenerationAnswer {
  std::optional<std::uint32_t> generation;
  bool done = false;
  int error = 0;
};
void ReadGenerationAnswer(std::span<const char> bytes, std::uint32_t sequence,
                          GenerationAnswer& answer);

// A set's elements as the dump of NFT_MSG_GETSETELEM `sequence` lists them. `done` at its end,
// or with no elements when the table or set does not exist (ENOENT); `error`: another errno;
// `malformed`: a message libnftnl cannot read (the elements read are then incomplete).
struct SetElementsDump {
  std::vector<NftSocket::ListedElement> elements = {};
  bool done = false;
  int error = 0;
  bool malformed = false;
};
void ReadSetElements(std::span<const char> bytes, std::uint32_t sequence, SetElementsDump& dump);

// Whether nf_tables change events (NFNLGRP_NFTABLES) name table `table` of `family`.
bool EventsTouchTable(std::span<const char> bytes, std::uint8_t family, const std::string& table);

// A conntrack dump (IPCTNL_MSG_CT_GET, NLM_F_DUMP): the entries whose original tuple matches
// `filter`, each with its tuple exactly as the kernel sent it (so any protocol's fields and a
// directional zone go back unchanged in the delete) and its zone, if not the default one.
// `malformed`: an entry without a readable tuple.
struct ConntrackEntry {
  std::vector<char> tuple;
  std::optional<std::uint16_t> zone;  // network byte order, as dumped
};
struct ConntrackDump {
  const ConntrackFilter& filter;
  std::vector<ConntrackEntry> matches;
  bool malformed = false;
};
// A dumped IPv4 tuple (addresses, protocol, ports or ICMP fields, zone) is under 100 bytes; the
// bound keeps a malformed one from overrunning the delete batch.
inline constexpr std::size_t kMaxConntrackTupleBytes = 256;
// mnl_cb_run's result: MNL_CB_STOP at the dump's end, MNL_CB_ERROR (errno set) on an error
// message or a message of another request, else MNL_CB_OK (more to come).
int ReadConntrackDump(std::span<const char> bytes, std::uint32_t sequence, std::uint32_t port_id,
                      ConntrackDump& dump);

// The acks of a batch of conntrack deletes, all sent with `sequence`: each counts down
// `pending`; ENOENT (the entry already gone) counts as done. `error`: the first other errno.
struct ConntrackAcks {
  std::size_t pending = 0;
  std::size_t deleted = 0;
  int error = 0;
};
// mnl_cb_run2's result, MNL_CB_ERROR (errno set) on a message that is not an expected ack.
int ReadConntrackAcks(std::span<const char> bytes, std::uint32_t sequence, std::uint32_t port_id,
                      ConntrackAcks& acks);

// An RTM_GETADDR dump: the IPv4 networks (address and prefix, host bits cleared) of the
// interface numbered `index`.
struct AddressDump {
  unsigned index = 0;
  std::vector<Ipv4Cidr> networks = {};
};
// As ReadConntrackDump.
int ReadAddressDump(std::span<const char> bytes, std::uint32_t sequence, std::uint32_t port_id,
                    AddressDump& dump);

// The payload of an NLMSG_ERROR message (an ack: error 0, or -errno); nullptr when the message
// is too short to hold one.
const nlmsgerr* ErrorOf(const nlmsghdr* header);
// The errno an NLMSG_ERROR carries: 0 for an ack, EBADMSG for a value that is no -errno.
int ErrnoOf(const nlmsgerr& error);

// A policy-routing rule of netd's own (FRA_PROTOCOL RouteGuard::kRuleProtocol) from an
// RTM_NEWRULE message; nullopt for anyone else's rule or a malformed message.
std::optional<GuardRule> ParseOwnRule(const nlmsghdr* message);

}  // namespace netd::firewall::netlink
