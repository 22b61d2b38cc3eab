// A rule body's validation (what is wrong, named by field, as a shape or a value problem), the
// canonical JSON the store keeps, and reading it back.
#include "netd/allowlist/rule_codec.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace netd::allowlist {
namespace {

using nlohmann::json;
using Kind = RuleError::Kind;

RuleCodecOptions Enclave() {
  return {.enclave_networks = {{"secure", *Ipv4Cidr::Parse("192.168.129.0/24")},
                               {"service", *Ipv4Cidr::Parse("192.168.130.0/24")}}};
}

json Body() {
  return {{"destinations", {"198.51.100.7", "203.0.113.0/24", "lic.example.org"}},
          {"protocol", "tcp"},
          {"ports", {"27000-27010", 1717}},
          {"vms", {"sec1"}},
          {"comment", "licence server"}};
}

json With(const std::string& key, json value) {
  auto body = Body();
  body[key] = std::move(value);
  return body;
}

TEST(RuleCodec, ReadsABodyIntoTheRuleItsDestinationsPortsAndVmsMean) {
  auto rule = ParseAllowlistRule(
      "license",
      {{"destinations",
        {"198.51.100.7", "198.51.100.7/32", "Lic.Example.ORG", "*.cdn.example.org"}},
       {"protocol", "both"},
       {"ports", {1717, "27000-27010", "1717"}},
       {"qtypes", {"txt", "A", "TXT"}},
       {"vms", {"vm2", "vm1", "vm2"}},
       {"comment", nullptr}},
      Enclave());
  EXPECT_EQ(rule.name, "license");
  EXPECT_EQ(rule.destinations, (std::vector<std::string>{"198.51.100.7", "198.51.100.7/32",
                                                         "Lic.Example.ORG", "*.cdn.example.org"}))
      << "kept as given";
  EXPECT_EQ(rule.networks, (std::vector<Ipv4Cidr>{*Ipv4Cidr::Parse("198.51.100.7/32")}));
  EXPECT_EQ(rule.hosts, (std::vector<std::string>{"lic.example.org", "*.cdn.example.org"}));
  EXPECT_EQ(rule.protocol, AllowProtocol::kBoth);
  EXPECT_EQ(rule.ports, (std::vector<PortRange>{{1717, 1717}, {27000, 27010}}));
  EXPECT_EQ(rule.qtypes, (std::vector<std::uint16_t>{kQtypeA, 16})) << "sorted, once each";
  EXPECT_EQ(rule.vms, (std::vector<std::string>{"vm1", "vm2"})) << "sorted, once each";
  EXPECT_FALSE(rule.all_vms);
  EXPECT_EQ(rule.comment, "");

  auto everyone = ParseAllowlistRule("license", With("vms", "*"), Enclave());
  EXPECT_TRUE(everyone.all_vms);
  EXPECT_TRUE(everyone.vms.empty());
  EXPECT_EQ(everyone.qtypes, (std::vector<std::uint16_t>{kQtypeA, kQtypeAaaa})) << "the default";
}

struct BadBody {
  json body;
  Kind kind;
  std::string code;
  std::string field;
};

TEST(RuleCodec, ABadBodyIsAShapeOrAValueProblemNamingItsField) {
  auto missing_ports = Body();
  missing_ports.erase("ports");
  std::vector<BadBody> cases = {
      {missing_ports, Kind::kShape, "missing_field", "ports"},
      {With("colour", "red"), Kind::kShape, "unknown_field", "colour"},
      {With("destinations", "198.51.100.7"), Kind::kShape, "invalid_type", "destinations"},
      {With("destinations", {"198.51.100.7", 7}), Kind::kShape, "invalid_type", "destinations[1]"},
      {With("destinations", json::array()), Kind::kValue, "invalid_destinations", "destinations"},
      {With("destinations", {"198.51.100.7", "10.0.0.1/8"}), Kind::kValue, "invalid_destination",
       "destinations[1]"},
      {With("destinations", {"300.1.1.1"}), Kind::kValue, "invalid_destination", "destinations[0]"},
      {With("destinations", {"bad_name!"}), Kind::kValue, "invalid_destination", "destinations[0]"},
      {With("destinations", {"192.168.128.0/17"}), Kind::kValue, "destination_inside_enclave",
       "destinations[0]"},
      {With("protocol", 6), Kind::kShape, "invalid_type", "protocol"},
      {With("protocol", "icmp"), Kind::kValue, "invalid_protocol", "protocol"},
      {With("ports", 1717), Kind::kShape, "invalid_type", "ports"},
      {With("ports", json::array()), Kind::kValue, "invalid_ports", "ports"},
      {With("ports", {true}), Kind::kShape, "invalid_type", "ports[0]"},
      {With("ports", {"27010-27000"}), Kind::kValue, "invalid_port", "ports[0]"},
      {With("ports", {1717, 0}), Kind::kValue, "invalid_port", "ports[1]"},
      {With("ports", {1717, "1-2000"}), Kind::kValue, "invalid_ports", "ports[1]"},
      {With("qtypes", "A"), Kind::kShape, "invalid_type", "qtypes"},
      {With("qtypes", json::array()), Kind::kValue, "invalid_qtypes", "qtypes"},
      {With("qtypes", {"A", 16}), Kind::kShape, "invalid_type", "qtypes[1]"},
      {With("qtypes", {"A", "NULL"}), Kind::kValue, "invalid_qtype", "qtypes[1]"},
      {With("vms", "all"), Kind::kShape, "invalid_type", "vms"},
      {With("vms", {"sec1", 2}), Kind::kShape, "invalid_type", "vms[1]"},
      {With("vms", {"sec1", "bad id"}), Kind::kValue, "invalid_vm_id", "vms[1]"},
      {With("vms", std::vector<std::string>(kMaxRuleVms + 1, "sec1")), Kind::kValue, "invalid_vms",
       "vms"},
      {With("comment", 1), Kind::kShape, "invalid_type", "comment"},
      {With("comment", std::string(kMaxRuleComment + 1, 'x')), Kind::kValue, "invalid_comment",
       "comment"},
  };
  for (const auto& c : cases) {
    try {
      ParseAllowlistRule("license", c.body, Enclave());
      ADD_FAILURE() << c.body.dump() << " was accepted";
    } catch (const RuleError& error) {
      EXPECT_EQ(error.kind(), c.kind) << c.body.dump();
      EXPECT_EQ(error.code(), c.code) << c.body.dump();
      EXPECT_EQ(error.field(), c.field) << c.body.dump();
    }
  }
}

// What `call` throws as an `Error`, or "accepted" when it throws nothing.
template <typename Error, typename Call>
std::string ErrorOf(const Call& call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  return "accepted";
}

std::string MessageOf(const json& body) {
  return ErrorOf<RuleError>([&] { ParseAllowlistRule("license", body, Enclave()); });
}

TEST(RuleCodec, TheMessageSaysWhatIsWrongAndWhatWouldDo) {
  EXPECT_EQ(MessageOf(With("destinations", {"300.1.1.1"})),
            "destinations[0] \"300.1.1.1\" is not an IPv4 address or CIDR (a.b.c.d or a.b.c.d/n "
            "with the host bits zero)");
  EXPECT_EQ(MessageOf(With("destinations", {"bad_name!"})),
            "destinations[0] \"bad_name!\" is not an IPv4 address, a CIDR or a host name (RFC "
            "1123 labels with at least one dot, optionally starting with \"*.\")");
  EXPECT_EQ(MessageOf(With("destinations", {"198.51.100.7", "192.168.129.0/25"})),
            "destinations[1] 192.168.129.0/25 overlaps network secure (192.168.129.0/24); "
            "nothing is routed between the enclave's networks");
  EXPECT_EQ(MessageOf(With("qtypes", {"ANY"})),
            "qtypes[0] \"ANY\" is not a query type a rule may allow; expected one of A, AAAA, "
            "CAA, CNAME, HTTPS, MX, NS, PTR, SOA, SRV, SVCB, TXT");
  EXPECT_EQ(MessageOf(With("ports", {"1-2000"})),
            "ports[0] 1-2000 spans more than 1024 ports; a rule that names host names opens the "
            "addresses DNS answers port by port");
  EXPECT_EQ(MessageOf(With("colour", "red")),
            "unknown field \"colour\"; expected destinations, protocol, ports, qtypes, vms and "
            "comment");
}

TEST(RuleCodec, OnlyHostNamesKeepPortRangesNarrow) {
  auto body = With("destinations", {"198.51.100.7"});
  body["ports"] = {"1-65535"};
  EXPECT_EQ(ParseAllowlistRule("license", body, Enclave()).ports,
            (std::vector<PortRange>{{1, 65535}}));
}

TEST(RuleCodec, TheCanonicalFormReadsBackAsTheSameRule) {
  auto body = Body();
  body["qtypes"] = {"TXT", "a"};
  auto rule = ParseAllowlistRule("license", body, Enclave());
  rule.created_ms = 1000;
  rule.updated_ms = 2000;
  auto canonical = AllowlistRuleToJson(rule);
  EXPECT_EQ(canonical,
            json({{"rule", "license"},
                  {"destinations", {"198.51.100.7", "203.0.113.0/24", "lic.example.org"}},
                  {"protocol", "tcp"},
                  {"ports", {"27000-27010", "1717"}},
                  {"qtypes", {"A", "TXT"}},
                  {"vms", {"sec1"}},
                  {"comment", "licence server"},
                  {"created_ms", 1000},
                  {"updated_ms", 2000}}));
  EXPECT_EQ(AllowlistRuleFromStored(canonical.dump(), Enclave()), rule);
  rule.all_vms = true;
  rule.vms.clear();
  EXPECT_EQ(AllowlistRuleToJson(rule)["vms"], "*");
  EXPECT_EQ(AllowlistRuleFromStored(AllowlistRuleToJson(rule).dump(), Enclave()), rule);
}

std::string StoredErrorOf(const std::string& text, const RuleCodecOptions& options) {
  return ErrorOf<std::runtime_error>([&] { AllowlistRuleFromStored(text, options); });
}

TEST(RuleCodec, AStoredRuleThatNoLongerFitsNamesTheRuleAndTheProblem) {
  auto stored = AllowlistRuleToJson(ParseAllowlistRule("license", Body(), Enclave())).dump();
  auto grown = Enclave();
  grown.enclave_networks.push_back({"lab", *Ipv4Cidr::Parse("203.0.0.0/8")});
  EXPECT_EQ(StoredErrorOf(stored, grown),
            "stored allowlist rule license no longer fits the configuration: destinations[1] "
            "203.0.113.0/24 overlaps network lab (203.0.0.0/8); nothing is routed between the "
            "enclave's networks");
  for (const char* unreadable : {"{", "[]", R"({"destinations":[]})", R"({"rule":7})"}) {
    EXPECT_EQ(StoredErrorOf(unreadable, Enclave()),
              "a stored allowlist rule is not valid JSON with a name")
        << unreadable;
  }
}

}  // namespace
}  // namespace netd::allowlist
