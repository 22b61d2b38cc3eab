#include "netd/dns/message.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_messages.hpp"

namespace netd::dns {
namespace {

using test_messages::Bytes;
using test_messages::Header;
using test_messages::Put16;
using test_messages::PutName;
using test_messages::Query;

// A record whose owner is a compression pointer to `owner_at`.
void PutRecord(Bytes& out, std::uint16_t owner_at, std::uint16_t rtype, std::uint32_t ttl,
               const Bytes& rdata) {
  Put16(out, static_cast<std::uint16_t>(0xc000 | owner_at));
  Put16(out, rtype);
  Put16(out, 1);
  Put16(out, static_cast<std::uint16_t>(ttl >> 16));
  Put16(out, static_cast<std::uint16_t>(ttl));
  Put16(out, static_cast<std::uint16_t>(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
}

// license.example.org CNAME lic.cdn.example.net (TTL 60); lic.cdn.example.net A 198.51.100.2
// (TTL 300) and AAAA 2001:db8::2; other.example A 203.0.113.9, not on the chain.
Bytes ChainResponse() {
  auto out = Header(0x4321, 0x8180, 1, 4, 0, 0);
  PutName(out, "License.Example.org");  // at 12
  Put16(out, type::kA);
  Put16(out, 1);
  Bytes target;
  PutName(target, "lic.cdn.example.net");
  auto target_at = static_cast<std::uint16_t>(out.size() + 12);  // rdata after the RR fields
  PutRecord(out, 12, type::kCname, 60, target);
  PutRecord(out, target_at, type::kA, 300, {198, 51, 100, 2});
  PutRecord(out, target_at, type::kAaaa, 300,
            Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
  Bytes other;
  PutName(other, "other.example");
  // An owner written out in full, then its A record.
  out.insert(out.end(), other.begin(), other.end());
  Put16(out, type::kA);
  Put16(out, 1);
  Put16(out, 0);
  Put16(out, 600);
  Put16(out, 4);
  for (std::uint8_t b : {203, 0, 113, 9}) out.push_back(b);
  return out;
}

TEST(DnsQuery, ReadsTheQuestionInLowerCaseAndEchoesItAsItCame) {
  auto parsed = ParseQuery(Query("LiCense.Example.ORG", type::kA, true));
  ASSERT_TRUE(parsed.query);
  EXPECT_EQ(parsed.query->name, "license.example.org");
  EXPECT_TRUE(parsed.query->plain_name);
  EXPECT_EQ(parsed.query->type, type::kA);
  EXPECT_EQ(parsed.query->edns_udp_size, 4096);
  EXPECT_TRUE(parsed.query->recursion_desired);
  auto answer = BuildResponse(*parsed.query, Rcode::kRefused);
  auto again = ParseQuery(Query("LiCense.Example.ORG", type::kA, true));
  // id, flags QR|RD|RA|REFUSED, one question, one OPT; the question byte for byte.
  EXPECT_EQ(answer[0], 0x12);
  EXPECT_EQ(answer[1], 0x34);
  EXPECT_EQ(answer[2], 0x81);
  EXPECT_EQ(answer[3], 0x85);
  EXPECT_EQ(answer[11], 1);
  EXPECT_EQ(
      Bytes(answer.begin() + 12,
            answer.begin() + 12 + static_cast<std::ptrdiff_t>(again.query->question_wire.size())),
      again.query->question_wire);
  EXPECT_TRUE(std::string(answer.begin(), answer.end()).find("LiCense") != std::string::npos);
}

TEST(DnsQuery, ANameWithADotInsideALabelIsNotPlain) {
  auto message = Header(1, 0, 1, 0, 0, 0);
  message.push_back(15);
  for (char c : std::string("license.example")) message.push_back(static_cast<std::uint8_t>(c));
  PutName(message, "org");
  Put16(message, type::kA);
  Put16(message, 1);
  auto parsed = ParseQuery(message);
  ASSERT_TRUE(parsed.query);
  EXPECT_FALSE(parsed.query->plain_name);
  EXPECT_EQ(parsed.query->name, "");
}

TEST(DnsQuery, DamagedOrUnsupportedMessagesAreTold) {
  EXPECT_EQ(ParseQuery(Bytes{1, 2, 3}).problem, QueryProblem::kIgnore);
  auto response = Query("a.example", type::kA);
  response[2] |= 0x80;
  EXPECT_EQ(ParseQuery(response).problem, QueryProblem::kIgnore);
  auto notify = Query("a.example", type::kA);
  notify[2] |= 4 << 3;
  EXPECT_EQ(ParseQuery(notify).problem, QueryProblem::kNotImp);
  auto cut = Query("a.example", type::kA);
  cut.resize(cut.size() - 3);
  EXPECT_EQ(ParseQuery(cut).problem, QueryProblem::kFormErr);
  EXPECT_EQ(ParseQuery(cut).id, 0x1234);
  // A name that points at itself.
  auto loop = Header(7, 0, 1, 0, 0, 0);
  Put16(loop, 0xc00c);
  Put16(loop, type::kA);
  Put16(loop, 1);
  EXPECT_EQ(ParseQuery(loop).problem, QueryProblem::kFormErr);
  // A question whose name points into the header: what was checked would not be what goes out.
  auto pointing = Header(0x0161, 0, 1, 0, 0, 0);  // the id spells the label "a"
  Put16(pointing, 0xc000);
  Put16(pointing, type::kA);
  Put16(pointing, 1);
  EXPECT_EQ(ParseQuery(pointing).problem, QueryProblem::kFormErr);
  auto two = Query("a.example", type::kA);
  two[5] = 2;
  EXPECT_FALSE(ParseQuery(two).query);
  auto trailing = Query("a.example", type::kA);
  trailing.push_back(0);
  EXPECT_FALSE(ParseQuery(trailing).query);
}

TEST(DnsResponse, FollowsTheCnameChainAndTakesTheSmallestTtl) {
  auto summary = ParseResponse(ChainResponse(), "license.example.org");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->id, 0x4321);
  EXPECT_EQ(summary->rcode, Rcode::kNoError);
  ASSERT_EQ(summary->addresses.size(), 1u);
  EXPECT_EQ(summary->addresses[0].address.ToString(), "198.51.100.2");
  EXPECT_EQ(summary->addresses[0].ttl, 60u);
  EXPECT_TRUE(summary->has_aaaa);
  auto unrelated = ParseResponse(ChainResponse(), "other.example");
  ASSERT_TRUE(unrelated);
  ASSERT_EQ(unrelated->addresses.size(), 1u);
  EXPECT_EQ(unrelated->addresses[0].ttl, 600u);
  EXPECT_TRUE(ParseResponse(ChainResponse(), "elsewhere.example")->addresses.empty());
}

TEST(DnsQuery, TheUpstreamGetsTheNameInLowerCaseAndTheVmItsOwnCaseBack) {
  // Type 65 (HTTPS) is the byte 'A': only the name's letters are lowered.
  auto parsed = ParseQuery(Query("LiCense.Example.ORG", 65));
  ASSERT_TRUE(parsed.query);
  auto upstream = BuildUpstreamQuery(*parsed.query);
  auto expected = Query("license.example.org", 65);
  expected[0] = upstream[0];  // the same id
  expected[1] = upstream[1];
  EXPECT_EQ(upstream, expected);
  auto forwarded = ParseQuery(upstream);
  ASSERT_TRUE(forwarded.query);
  EXPECT_EQ(forwarded.query->type, 65);
  EXPECT_EQ(
      std::string(upstream.begin(), upstream.end()).find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
      upstream.size() - 3)
      << "no upper-case letter but the type's byte";

  // The upstream's answer echoes the lower-case question; the VM gets its own back.
  auto answer = upstream;
  answer[2] |= 0x80;
  ASSERT_TRUE(RestoreQuestion(answer, *parsed.query));
  EXPECT_EQ(Bytes(answer.begin() + 12, answer.end()), parsed.query->question_wire);

  // Not the question asked: another name, another type whose byte differs only in case.
  auto other = BuildUpstreamQuery(*ParseQuery(Query("licensf.example.org", 65)).query);
  auto before = other;
  EXPECT_FALSE(RestoreQuestion(other, *parsed.query));
  EXPECT_EQ(other, before);
  auto lower_type = BuildUpstreamQuery(*ParseQuery(Query("license.example.org", 97)).query);
  EXPECT_FALSE(RestoreQuestion(lower_type, *parsed.query));
  Bytes short_answer(upstream.begin(), upstream.begin() + 20);
  EXPECT_FALSE(RestoreQuestion(short_answer, *parsed.query));
}

TEST(DnsResponse, RefusedAddressesAreRemovedFromEverySectionAndTheRestKept) {
  // The chain's address, and the same address again in the additional section.
  auto message = ChainResponse();
  message[11] = 1;
  PutRecord(message, 12, type::kA, 30, {198, 51, 100, 2});
  Ipv4Address refused[] = {*Ipv4Address::Parse("198.51.100.2")};
  auto filtered = Filtered(message, refused);
  ASSERT_TRUE(filtered);
  EXPECT_EQ((*filtered)[7], 2) << "the CNAME and other.example's A are left";
  EXPECT_EQ((*filtered)[11], 0) << "the additional copy went too";
  auto summary = ParseResponse(*filtered, "license.example.org");
  ASSERT_TRUE(summary);
  EXPECT_TRUE(summary->addresses.empty());
  EXPECT_FALSE(summary->has_aaaa) << "AAAA records go as always";
  EXPECT_EQ(ParseResponse(*filtered, "other.example")->addresses.size(), 1u);
  EXPECT_EQ(Bytes(filtered->begin() + 12, filtered->begin() + 12 + 25),
            Bytes(message.begin() + 12, message.begin() + 12 + 25))
      << "the question as it was";
}

TEST(DnsResponse, AaaaRecordsAreRemovedAndTheRestKept) {
  auto stripped = Filtered(ChainResponse());
  ASSERT_TRUE(stripped);
  EXPECT_EQ((*stripped)[7], 3) << "answer count";
  auto summary = ParseResponse(*stripped, "license.example.org");
  ASSERT_TRUE(summary);
  EXPECT_FALSE(summary->has_aaaa);
  ASSERT_EQ(summary->addresses.size(), 1u);
  EXPECT_EQ(summary->addresses[0].address.ToString(), "198.51.100.2");
  EXPECT_EQ(ParseResponse(*stripped, "other.example")->addresses.size(), 1u);
  auto damaged = ChainResponse();
  damaged.resize(damaged.size() - 2);
  EXPECT_FALSE(Filtered(damaged));
  EXPECT_FALSE(ParseResponse(damaged, "license.example.org"));
}

TEST(DnsResponse, ATruncatedCopyKeepsTheHeaderAndQuestionOnly) {
  auto cut = Truncated(ChainResponse());
  auto parsed = ParseResponse(cut, "license.example.org");
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->truncated);
  EXPECT_EQ(parsed->id, 0x4321);
  EXPECT_TRUE(parsed->addresses.empty());
  EXPECT_EQ(cut.size(), 12u + 21u + 4u);
  EXPECT_EQ(Truncated(Bytes{1, 2})[3] & 0xf, 2) << "a damaged answer becomes SERVFAIL";
}

}  // namespace
}  // namespace netd::dns
