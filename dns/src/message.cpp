#include "netd/dns/message.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace netd::dns {
namespace {

constexpr std::uint16_t kFlagResponse = 0x8000;
constexpr std::uint16_t kFlagTruncated = 0x0200;
constexpr std::uint16_t kFlagRecursionDesired = 0x0100;
constexpr std::uint16_t kFlagRecursionAvailable = 0x0080;
constexpr std::size_t kHeaderBytes = 12;
constexpr std::size_t kMaxNameBytes = 255;
constexpr int kMaxPointers = 64;
constexpr int kMaxChainLength = 16;
// What netd offers as an EDNS requester size in its own answers (the DNS flag day value).
constexpr std::uint16_t kEdnsPayload = 1232;

using Labels = std::vector<std::string>;

char LowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> message) : message_(message) {}

  bool ok() const { return ok_; }
  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == message_.size(); }
  std::span<const std::uint8_t> message() const { return message_; }

  std::uint8_t U8() {
    if (!Need(1)) return 0;
    return message_[pos_++];
  }
  std::uint16_t U16() {
    if (!Need(2)) return 0;
    auto value = static_cast<std::uint16_t>(message_[pos_] << 8 | message_[pos_ + 1]);
    pos_ += 2;
    return value;
  }
  std::uint32_t U32() {
    std::uint32_t high = U16();
    return high << 16 | U16();
  }
  std::span<const std::uint8_t> Bytes(std::size_t n) {
    if (!Need(n)) return {};
    auto out = message_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  // A possibly compressed name, label by label: `visit(const char* label, std::size_t
  // length)`. Pointers may only go backwards, each before the previous one, so no message can
  // make the reader loop. False (and the reader failed) for a damaged name.
  template <typename Visit>
  bool WalkName(Visit&& visit) {
    std::size_t at = pos_;
    std::size_t limit = pos_;
    std::optional<std::size_t> resume;
    std::size_t total = 1;
    int pointers = 0;
    while (ok_) {
      if (at >= message_.size()) return FailWalk();
      std::uint8_t length = message_[at];
      if ((length & 0xc0) == 0xc0) {
        if (at + 1 >= message_.size()) return FailWalk();
        std::size_t target = static_cast<std::size_t>(length & 0x3f) << 8 | message_[at + 1];
        if (!resume) resume = at + 2;
        compressed_ = true;
        if (target >= limit || ++pointers > kMaxPointers) return FailWalk();
        limit = target;
        at = target;
        continue;
      }
      if (length & 0xc0) return FailWalk();  // the obsolete extended label types
      if (length == 0) {
        pos_ = resume ? *resume : at + 1;
        return true;
      }
      total += length + 1;
      if (total > kMaxNameBytes || at + 1 + length > message_.size()) return FailWalk();
      visit(reinterpret_cast<const char*>(&message_[at + 1]), static_cast<std::size_t>(length));
      at += 1 + length;
    }
    return false;
  }

  Labels Name() {
    Labels labels;
    if (!WalkName(
            [&](const char* label, std::size_t length) { labels.emplace_back(label, length); })) {
      labels.clear();
    }
    return labels;
  }

  bool FailWalk() {
    ok_ = false;
    return false;
  }

  // Whether a name read so far followed a compression pointer.
  bool compressed() const { return compressed_; }

 private:
  bool Need(std::size_t n) {
    if (!ok_ || message_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::span<const std::uint8_t> message_;
  std::size_t pos_ = 0;
  bool ok_ = true;
  bool compressed_ = false;
};

void Put16(std::vector<std::uint8_t>& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}
void Put32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  Put16(out, static_cast<std::uint16_t>(value >> 16));
  Put16(out, static_cast<std::uint16_t>(value));
}
void PutName(std::vector<std::uint8_t>& out, const Labels& labels) {
  for (const auto& label : labels) {
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
}

std::string Text(const Labels& labels) {
  std::string out;
  for (const auto& label : labels) {
    if (!out.empty()) out += '.';
    for (char c : label) out += LowerAscii(c);
  }
  return out;
}

struct Record {
  Labels owner;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata_at = 0;  // offset of the rdata in the message
  std::uint16_t rdata_length = 0;
};

Record ReadRecord(Reader& reader) {
  Record record;
  record.owner = reader.Name();
  record.type = reader.U16();
  record.klass = reader.U16();
  record.ttl = reader.U32();
  record.rdata_length = reader.U16();
  record.rdata_at = reader.pos();
  reader.Bytes(record.rdata_length);
  return record;
}

struct Header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t counts[4] = {};  // question, answer, authority, additional
};

Header ReadHeader(Reader& reader) {
  Header header;
  header.id = reader.U16();
  header.flags = reader.U16();
  for (auto& count : header.counts) count = reader.U16();
  return header;
}

}  // namespace

ParsedQuery ParseQuery(std::span<const std::uint8_t> message) {
  ParsedQuery parsed;
  if (message.size() < kHeaderBytes) return parsed;
  Reader reader(message);
  auto header = ReadHeader(reader);
  parsed.id = header.id;
  if (header.flags & kFlagResponse) return parsed;
  if ((header.flags >> 11 & 0xf) != 0) {
    parsed.problem = QueryProblem::kNotImp;
    return parsed;
  }
  parsed.problem = QueryProblem::kFormErr;
  if (header.counts[0] != 1) return parsed;
  Query query;
  query.id = header.id;
  query.recursion_desired = header.flags & kFlagRecursionDesired;
  auto question_at = reader.pos();
  query.plain_name = true;
  reader.WalkName([&](const char* label, std::size_t length) {
    if (!query.name.empty()) query.name += '.';
    for (std::size_t i = 0; i < length; ++i) {
      char c = label[i];
      bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
        plain = true;
      }
      query.plain_name = query.plain_name && plain;
      query.name += c;
    }
  });
  query.type = reader.U16();
  query.klass = reader.U16();
  // A question's name is spelled out: a pointer could only point into the header, and the
  // name checked must be the name forwarded, byte for byte.
  if (!reader.ok() || reader.compressed()) return parsed;
  query.question_wire.assign(message.begin() + static_cast<std::ptrdiff_t>(question_at),
                             message.begin() + static_cast<std::ptrdiff_t>(reader.pos()));
  if (!query.plain_name) query.name.clear();
  for (int section = 1; section < 4; ++section) {
    for (int i = 0; i < header.counts[section]; ++i) {
      auto record = ReadRecord(reader);
      if (!reader.ok()) return parsed;
      if (section == 3 && record.type == type::kOpt && record.owner.empty()) {
        if (query.edns_udp_size) return parsed;  // two OPT records
        query.edns_udp_size = std::max<std::uint16_t>(record.klass, 512);
      }
    }
  }
  if (!reader.at_end()) return parsed;
  parsed.query = std::move(query);
  return parsed;
}

// A message with `query`'s id and question, `flags`, and an OPT record of netd's payload size
// when the query had one.
std::vector<std::uint8_t> QuestionMessage(const Query& query, std::uint16_t flags) {
  std::vector<std::uint8_t> out;
  out.reserve(kHeaderBytes + query.question_wire.size() + 11);
  Put16(out, query.id);
  Put16(out, flags);
  Put16(out, 1);
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, query.edns_udp_size ? 1 : 0);
  out.insert(out.end(), query.question_wire.begin(), query.question_wire.end());
  if (query.edns_udp_size) {
    out.push_back(0);  // the root
    Put16(out, type::kOpt);
    Put16(out, kEdnsPayload);
    Put32(out, 0);
    Put16(out, 0);
  }
  return out;
}

std::vector<std::uint8_t> BuildResponse(const Query& query, Rcode rcode, bool truncated) {
  return QuestionMessage(
      query, static_cast<std::uint16_t>(kFlagResponse | kFlagRecursionAvailable |
                                        static_cast<std::uint16_t>(rcode) |
                                        (query.recursion_desired ? kFlagRecursionDesired : 0) |
                                        (truncated ? kFlagTruncated : 0)));
}

std::vector<std::uint8_t> Truncated(std::span<const std::uint8_t> answer) {
  if (answer.size() < kHeaderBytes) return BuildHeaderOnly(0, Rcode::kServFail);
  Reader reader(answer);
  auto header = ReadHeader(reader);
  for (int i = 0; i < header.counts[0]; ++i) {
    reader.WalkName([](const char*, std::size_t) {});
    reader.Bytes(4);
  }
  if (!reader.ok()) return BuildHeaderOnly(header.id, Rcode::kServFail);
  std::vector<std::uint8_t> out(answer.begin(),
                                answer.begin() + static_cast<std::ptrdiff_t>(reader.pos()));
  out[2] |= kFlagTruncated >> 8;
  std::fill(out.begin() + 6, out.begin() + kHeaderBytes, 0);
  return out;
}

std::vector<std::uint8_t> BuildHeaderOnly(std::uint16_t id, Rcode rcode) {
  std::vector<std::uint8_t> out;
  Put16(out, id);
  Put16(out, static_cast<std::uint16_t>(kFlagResponse | kFlagRecursionAvailable |
                                        static_cast<std::uint16_t>(rcode)));
  for (int i = 0; i < 4; ++i) Put16(out, 0);
  return out;
}

std::optional<ResponseSummary> ParseResponse(std::span<const std::uint8_t> message,
                                             std::string_view name) {
  if (message.size() < kHeaderBytes) return std::nullopt;
  Reader reader(message);
  auto header = ReadHeader(reader);
  if (!(header.flags & kFlagResponse)) return std::nullopt;
  ResponseSummary summary;
  summary.id = header.id;
  summary.rcode = static_cast<Rcode>(header.flags & 0xf);
  summary.truncated = header.flags & kFlagTruncated;
  for (int i = 0; i < header.counts[0]; ++i) {
    reader.Name();
    reader.Bytes(4);
  }
  // owner -> (target, ttl) for CNAMEs; owner -> records for A.
  std::map<std::string, std::pair<std::string, std::uint32_t>> aliases;
  std::multimap<std::string, AddressRecord> addresses;
  for (int section = 1; section < 4; ++section) {
    for (int i = 0; i < header.counts[section]; ++i) {
      auto record = ReadRecord(reader);
      if (!reader.ok()) return std::nullopt;
      if (record.type == type::kAaaa) summary.has_aaaa = true;
      if (section != 1 || record.klass != 1) continue;
      if (record.type == type::kA && record.rdata_length == 4) {
        const auto* at = &message[record.rdata_at];
        addresses.emplace(Text(record.owner),
                          AddressRecord{Ipv4Address(static_cast<std::uint32_t>(at[0]) << 24 |
                                                    static_cast<std::uint32_t>(at[1]) << 16 |
                                                    static_cast<std::uint32_t>(at[2]) << 8 | at[3]),
                                        record.ttl});
      } else if (record.type == type::kCname) {
        Reader target(message);
        target.Bytes(record.rdata_at);
        auto labels = target.Name();
        if (!target.ok() || target.pos() != record.rdata_at + record.rdata_length) {
          return std::nullopt;
        }
        aliases[Text(record.owner)] = {Text(labels), record.ttl};
      }
    }
  }
  if (!reader.ok() || !reader.at_end()) return std::nullopt;
  std::string current(name);
  std::uint32_t chain_ttl = UINT32_MAX;
  std::set<std::string> seen;
  for (int step = 0; step <= kMaxChainLength && seen.insert(current).second; ++step) {
    auto [first, last] = addresses.equal_range(current);
    for (auto it = first; it != last; ++it) {
      summary.addresses.push_back({it->second.address, std::min(it->second.ttl, chain_ttl)});
    }
    auto alias = aliases.find(current);
    if (alias == aliases.end()) break;
    chain_ttl = std::min(chain_ttl, alias->second.second);
    current = alias->second.first;
  }
  return summary;
}

std::optional<std::vector<std::uint8_t>> Filtered(std::span<const std::uint8_t> message,
                                                  std::span<const Ipv4Address> refused) {
  if (message.size() < kHeaderBytes) return std::nullopt;
  Reader reader(message);
  auto header = ReadHeader(reader);
  std::vector<std::uint8_t> body;
  for (int i = 0; i < header.counts[0]; ++i) {
    PutName(body, reader.Name());
    auto fixed = reader.Bytes(4);
    body.insert(body.end(), fixed.begin(), fixed.end());
  }
  std::uint16_t kept[4] = {header.counts[0], 0, 0, 0};
  for (int section = 1; section < 4; ++section) {
    for (int i = 0; i < header.counts[section]; ++i) {
      auto record = ReadRecord(reader);
      if (!reader.ok()) return std::nullopt;
      if (record.type == type::kAaaa) continue;
      if (record.type == type::kA && record.rdata_length == 4 && !refused.empty()) {
        const auto* at = &message[record.rdata_at];
        Ipv4Address address(static_cast<std::uint32_t>(at[0]) << 24 |
                            static_cast<std::uint32_t>(at[1]) << 16 |
                            static_cast<std::uint32_t>(at[2]) << 8 | at[3]);
        if (std::find(refused.begin(), refused.end(), address) != refused.end()) continue;
      }
      // Names inside rdata may be compressed: they are written out whole, with the fixed
      // fields around them.
      std::vector<std::uint8_t> rdata;
      Reader inner(message);
      inner.Bytes(record.rdata_at);
      auto copy = [&](std::size_t n) {
        auto bytes = inner.Bytes(n);
        rdata.insert(rdata.end(), bytes.begin(), bytes.end());
      };
      switch (record.type) {
        case type::kCname:
        case type::kNs:
        case type::kPtr:
        case type::kDname:
          PutName(rdata, inner.Name());
          break;
        case type::kMx:
          copy(2);
          PutName(rdata, inner.Name());
          break;
        case type::kSrv:
          copy(6);
          PutName(rdata, inner.Name());
          break;
        case type::kSoa:
          PutName(rdata, inner.Name());
          PutName(rdata, inner.Name());
          copy(20);
          break;
        default:
          copy(record.rdata_length);
      }
      if (!inner.ok() || inner.pos() != record.rdata_at + record.rdata_length ||
          rdata.size() > UINT16_MAX) {
        return std::nullopt;
      }
      PutName(body, record.owner);
      Put16(body, record.type);
      Put16(body, record.klass);
      Put32(body, record.ttl);
      Put16(body, static_cast<std::uint16_t>(rdata.size()));
      body.insert(body.end(), rdata.begin(), rdata.end());
      ++kept[section];
    }
  }
  if (!reader.ok() || !reader.at_end()) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(kHeaderBytes + body.size());
  Put16(out, header.id);
  Put16(out, header.flags);
  for (auto count : kept) Put16(out, count);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<std::uint8_t> BuildAddressAnswer(const Query& query,
                                             const std::vector<Ipv4Address>& addresses,
                                             std::uint32_t ttl) {
  auto out = BuildResponse(query, Rcode::kNoError);
  bool answers = query.type == type::kA || query.type == type::kAny;
  if (!answers || addresses.empty()) return out;
  // The answers go between the question and the OPT record.
  std::vector<std::uint8_t> records;
  for (auto address : addresses) {
    Put16(records, 0xc000 | kHeaderBytes);  // the question's name
    Put16(records, type::kA);
    Put16(records, 1);
    Put32(records, ttl);
    Put16(records, 4);
    Put32(records, address.value());
  }
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(kHeaderBytes + query.question_wire.size()),
             records.begin(), records.end());
  out[6] = static_cast<std::uint8_t>(addresses.size() >> 8);
  out[7] = static_cast<std::uint8_t>(addresses.size());
  return out;
}

std::vector<std::uint8_t> BuildUpstreamQuery(const Query& query) {
  auto out = QuestionMessage(query, kFlagRecursionDesired);
  // The name's bytes: label lengths (at most 63) are never letters; type and class follow.
  auto name_end = kHeaderBytes + query.question_wire.size() - 4;
  for (auto i = kHeaderBytes; i < name_end; ++i) {
    out[i] = static_cast<std::uint8_t>(LowerAscii(static_cast<char>(out[i])));
  }
  return out;
}

bool RestoreQuestion(std::vector<std::uint8_t>& answer, const Query& query) {
  const auto& question = query.question_wire;
  if (answer.size() < kHeaderBytes + question.size() || answer[4] != 0 || answer[5] != 1) {
    return false;
  }
  auto at = answer.begin() + kHeaderBytes;
  auto name_end = question.end() - 4;  // type and class follow the name; they compare exactly
  auto same_letter = [](std::uint8_t ours, std::uint8_t theirs) {
    return LowerAscii(static_cast<char>(ours)) == LowerAscii(static_cast<char>(theirs));
  };
  if (!std::equal(question.begin(), name_end, at, same_letter) ||
      !std::equal(name_end, question.end(), at + (name_end - question.begin()))) {
    return false;
  }
  std::copy(question.begin(), question.end(), at);
  return true;
}

bool AdjustTtls(std::vector<std::uint8_t>& message, std::uint32_t age_s, std::uint32_t cap_s) {
  if (message.size() < kHeaderBytes) return false;
  Reader reader(message);
  auto header = ReadHeader(reader);
  for (int i = 0; i < header.counts[0]; ++i) {
    reader.Name();
    reader.Bytes(4);
  }
  for (int section = 1; section < 4; ++section) {
    for (int i = 0; i < header.counts[section]; ++i) {
      reader.Name();
      auto record_type = reader.U16();
      reader.U16();
      auto ttl_at = reader.pos();
      auto ttl = reader.U32();
      reader.Bytes(reader.U16());
      if (!reader.ok()) return false;
      if (record_type == type::kOpt) continue;  // its TTL field holds flags
      auto aged = std::min(ttl > age_s ? ttl - age_s : 0, cap_s);
      for (int byte = 0; byte < 4; ++byte) {
        message[ttl_at + static_cast<std::size_t>(byte)] =
            static_cast<std::uint8_t>(aged >> (24 - 8 * byte));
      }
    }
  }
  return reader.ok();
}

void SetId(std::vector<std::uint8_t>& message, std::uint16_t id) {
  if (message.size() < 2) return;
  message[0] = static_cast<std::uint8_t>(id >> 8);
  message[1] = static_cast<std::uint8_t>(id);
}

}  // namespace netd::dns
