#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::dns {

namespace type {
constexpr std::uint16_t kA = 1;
constexpr std::uint16_t kNs = 2;
constexpr std::uint16_t kCname = 5;
constexpr std::uint16_t kSoa = 6;
constexpr std::uint16_t kPtr = 12;
constexpr std::uint16_t kMx = 15;
constexpr std::uint16_t kTxt = 16;
constexpr std::uint16_t kAaaa = 28;
constexpr std::uint16_t kSrv = 33;
constexpr std::uint16_t kDname = 39;
constexpr std::uint16_t kOpt = 41;
constexpr std::uint16_t kAny = 255;
}  // namespace type

enum class Rcode : std::uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

// The one question of a standard query, as the filter needs it.
struct Query {
  std::uint16_t id = 0;
  bool recursion_desired = false;
  // Lower case, labels joined by dots, no trailing dot ("" is the root). Set only when every
  // label is letters, digits, '-' or '_': a name with other bytes (a dot inside a label) could
  // read as an allowed name while meaning another, so it is never forwarded.
  std::string name;
  bool plain_name = false;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  // The requester's EDNS UDP payload size when the query carries an OPT record.
  std::optional<std::uint16_t> edns_udp_size;
  // The question as it came (name in its original case, type, class): echoed in answers, since
  // resolvers that randomise the case of names compare it. Never sent upstream: the case of
  // its letters is the VM's to choose, so it could carry bits.
  std::vector<std::uint8_t> question_wire;
};

enum class QueryProblem {
  kIgnore,   // not a query at all (too short, a response): no answer
  kFormErr,  // a query with a readable header but a damaged body: FORMERR
  kNotImp,   // another opcode, or not exactly one question: NOTIMP
};

struct ParsedQuery {
  std::optional<Query> query;
  QueryProblem problem = QueryProblem::kIgnore;  // when query is empty
  std::uint16_t id = 0;                          // when the header was readable
};

// Parses a standard query (opcode QUERY, one question, EDNS in the additional section).
ParsedQuery ParseQuery(std::span<const std::uint8_t> message);

// A response to `query` with only its question (and an OPT record when the query had one):
// how REFUSED, NXDOMAIN and SERVFAIL are answered. `truncated` sets TC.
std::vector<std::uint8_t> BuildResponse(const Query& query, Rcode rcode, bool truncated = false);
// `answer` cut to its header and question with TC set: what goes over UDP instead of an
// answer too long for the requester; a bare SERVFAIL header if `answer` is damaged.
std::vector<std::uint8_t> Truncated(std::span<const std::uint8_t> answer);
// A bare header for a damaged or unsupported query.
std::vector<std::uint8_t> BuildHeaderOnly(std::uint16_t id, Rcode rcode);

struct AddressRecord {
  Ipv4Address address;
  std::uint32_t ttl = 0;  // the smallest TTL on the CNAME chain to it
};

struct ResponseSummary {
  std::uint16_t id = 0;
  Rcode rcode = Rcode::kNoError;
  bool truncated = false;
  // A records of `name` and of the names its CNAME chain (within the answer section) leads to.
  std::vector<AddressRecord> addresses;
  bool has_aaaa = false;  // any AAAA record in any section
};

// Reads an upstream response to a query for `name` (lower case, no trailing dot); nullopt
// when the message is damaged.
std::optional<ResponseSummary> ParseResponse(std::span<const std::uint8_t> message,
                                             std::string_view name);

// The response re-encoded without its AAAA records and without the A records that hold one of
// `refused` (every section; counts adjusted, names uncompressed), or nullopt when it is damaged.
std::optional<std::vector<std::uint8_t>> Filtered(std::span<const std::uint8_t> message,
                                                  std::span<const Ipv4Address> refused = {});

// Writes the VM's own question (its letter case) over the question of `answer`, the upstream's
// answer to the lower-case query netd sent for it. False, `answer` unchanged, when the answer's
// question is not that question (another name, type or class, or not the same length).
bool RestoreQuestion(std::vector<std::uint8_t>& answer, const Query& query);

// An answer to `query` with the given A records of the query name (NOERROR; none for
// another type): the backend's own names.
std::vector<std::uint8_t> BuildAddressAnswer(const Query& query,
                                             const std::vector<Ipv4Address>& addresses,
                                             std::uint32_t ttl);

// The query netd sends upstream for `query`: rebuilt from its question alone, its name in lower
// case (recursion desired, EDNS with netd's own payload size when the VM used EDNS), so nothing
// else a VM put in its message (EDNS options, extra records, letter case) leaves the backend.
std::vector<std::uint8_t> BuildUpstreamQuery(const Query& query);

// Lowers every TTL in a response by `age_s` (not below 0; an answer served from the cache)
// and caps it at `cap_s` (no VM keeps an address longer than netd keeps it open); false when
// the message is damaged.
bool AdjustTtls(std::vector<std::uint8_t>& message, std::uint32_t age_s, std::uint32_t cap_s);

// Sets the message id (bytes 0-1).
void SetId(std::vector<std::uint8_t>& message, std::uint16_t id);

}  // namespace netd::dns
