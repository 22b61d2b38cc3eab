#include "netd/daemon/control_api.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "netd/daemon/audit_anchors.hpp"
#include "netd/daemon/audit_api.hpp"
#include "netd/daemon/firewall_api.hpp"
#include "netd/daemon/gateway_options.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/firewall/gateway_firewall.hpp"
#include "netd/testing/api_routes_test.hpp"
#include "netd/testing/fake_clock.hpp"
#include "netd/testing/recording_packet_filter.hpp"

namespace netd {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

Config SmallConfig() {
  auto config = ParseConfig(DemoConfigText(), "demo");
  // A datain range of three addresses, to exhaust it quickly.
  config.networks[2].dhcp_first = *Ipv4Address::Parse("192.168.123.3");
  config.networks[2].dhcp_last = *Ipv4Address::Parse("192.168.123.5");
  return config;
}

class ControlApiTest : public testing::ApiRoutesTest {
 protected:
  Answer Call(const std::string& method, const std::string& target, const std::string& body = "",
              AccessLevel access = AccessLevel::kService) {
    return AnswerOf(api_.Handle({method, target, body, {1000, 1000, 42, "/usr/bin/svc"}, access}));
  }

  testing::RecordingPacketFilter kernel_;
  firewall::GatewayFirewall firewall_{GatewayFirewallOptionsOf(config_), kernel_};
  testing::FakeClock clock_;
  VmApi vm_api_{config_, store_, audit_, ipam_};
  FirewallApi firewall_api_{config_, store_, audit_, ipam_, firewall_, clock_};
  boost::asio::io_context anchor_io_;
  AuditAnchorWriter anchors_{anchor_io_, audit_, dir_.path() / "audit-anchors",
                             std::chrono::seconds(10)};
  AuditApi audit_api_{audit_, anchors_};
  DaemonStatus daemon_status_{config_};

 public:
  ControlApiTest() : ApiRoutesTest(SmallConfig()) {
    vm_api_.AddObserver(firewall_api_);
    api_.Serve(vm_api_);
    api_.Serve(firewall_api_);
    api_.Serve(audit_api_);
    api_.Serve(daemon_status_);
  }
};

TEST_F(ControlApiTest, BindAllocatesLowestAddressAndEncodesItInTheMac) {
  auto first = Call("PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  EXPECT_EQ(first.status, 201) << first.text;
  EXPECT_EQ(first.body["ip"], "192.168.129.1");
  EXPECT_EQ(first.body["mac"], "52:54:c0:a8:81:01");
  EXPECT_EQ(first.body["hostname"], nullptr);
  auto second = Call("PUT", "/v1/vms/vm2", R"({"network":"secure","hostname":"node-2"})");
  EXPECT_EQ(second.body["ip"], "192.168.129.2");
  EXPECT_EQ(second.body["hostname"], "node-2");
  EXPECT_EQ(store_.LoadBindings().size(), 2u);
  EXPECT_EQ(LastAudit()["action"], "vm.bind");
  EXPECT_EQ(LastAudit()["caller"]["uid"], 1000);
}

TEST_F(ControlApiTest, RepeatingABindIsIdempotent) {
  auto first = Call("PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  auto again = Call("PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(ipam_.size(), 1u);
  auto renamed = Call("PUT", "/v1/vms/vm1", R"({"network":"secure","hostname":"h"})");
  EXPECT_EQ(renamed.status, 200);
  EXPECT_EQ(renamed.body["hostname"], "h");
  EXPECT_EQ(renamed.body["ip"], first.body["ip"]);
  EXPECT_EQ(store_.LoadBindings()[0].hostname, "h");
  EXPECT_EQ(LastAudit()["action"], "vm.update");
}

TEST_F(ControlApiTest, ChangingTheNetworkOfABoundVmConflicts) {
  Call("PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  ExpectError(Call("PUT", "/v1/vms/vm1", R"({"network":"service"})"), 409, "vm_bound_elsewhere",
              "network");
  EXPECT_EQ(ipam_.Find("vm1")->network, "secure");
}

TEST_F(ControlApiTest, AnExhaustedRangeSaysSo) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call("PUT", "/v1/vms/d" + std::to_string(i), R"({"network":"datain"})").status, 201);
  }
  auto full = Call("PUT", "/v1/vms/d3", R"({"network":"datain"})");
  ExpectError(full, 409, "range_exhausted", "network");
  EXPECT_THAT(full.body["error"]["message"].get<std::string>(),
              HasSubstr("192.168.123.3-192.168.123.5"));
  EXPECT_EQ(LastAudit()["result"], "refused");
  EXPECT_EQ(LastAudit()["error_code"], "range_exhausted");
  // Unbinding frees the address for the next VM.
  EXPECT_EQ(Call("DELETE", "/v1/vms/d1").status, 200);
  auto reused = Call("PUT", "/v1/vms/d3", R"({"network":"datain"})");
  EXPECT_EQ(reused.body["ip"], "192.168.123.4");
}

TEST_F(ControlApiTest, BadInputIsRefusedNamedAuditedAndChangesNothing) {
  struct Case {
    std::string target, body;
    int status;
    std::string code, field;
  };
  std::vector<Case> cases = {
      {"/v1/vms/vm1", "{not json", 400, "malformed_json", ""},
      {"/v1/vms/vm1", "[1,2]", 400, "invalid_type", ""},
      {"/v1/vms/vm1", R"({"network":"secure","color":"red"})", 400, "unknown_field", "color"},
      {"/v1/vms/vm1", R"({"network":7})", 400, "invalid_type", "network"},
      {"/v1/vms/vm1", R"({})", 400, "missing_field", "network"},
      {"/v1/vms/vm1", R"({"network":"secure","hostname":5})", 400, "invalid_type", "hostname"},
      {"/v1/vms/vm1", R"({"network":"nope"})", 422, "unknown_network", "network"},
      {"/v1/vms/vm1", R"({"network":"secure","hostname":"-bad-"})", 422, "invalid_hostname",
       "hostname"},
      {"/v1/vms/bad%20id", R"({"network":"secure"})", 422, "invalid_vm_id", "vm"},
      {"/v1/vms/" + std::string(65, 'a'), R"({"network":"secure"})", 422, "invalid_vm_id", "vm"},
      // Bytes that are not UTF-8 are refused like any other bad id, and audited readably.
      {"/v1/vms/%FF%C3", R"({"network":"secure"})", 422, "invalid_vm_id", "vm"},
      {"/v1/vms/vm1", R"({"network":"secure","hostname":")" + std::string(79, 'a') + "\u00e9\"}",
       422, "invalid_hostname", "hostname"},
      {"/v1/vms/vm1?%zz", R"({"network":"secure"})", 400, "malformed_query", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target + " " + c.body);
    auto before = audit_.length();
    ExpectError(Call("PUT", c.target, c.body), c.status, c.code, c.field);
    EXPECT_EQ(audit_.length(), before + 1);
    EXPECT_EQ(LastAudit()["result"], "refused");
    EXPECT_EQ(LastAudit()["status"], c.status);
  }
  EXPECT_EQ(ipam_.size(), 0u);
  EXPECT_TRUE(store_.LoadBindings().empty());
  EXPECT_TRUE(audit_.Verify().ok);
}

TEST_F(ControlApiTest, RolesAreEnforced) {
  ExpectError(Call("GET", "/v1/audit", "", AccessLevel::kService), 403, "forbidden", "");
  ExpectError(Call("GET", "/v1/audit/verify", "", AccessLevel::kService), 403, "forbidden", "");
  EXPECT_EQ(Call("GET", "/v1/audit", "", AccessLevel::kAdmin).status, 200);
  ExpectError(Call("GET", "/v1/status", "", AccessLevel::kNone), 403, "forbidden", "");
  auto refused = Call("PUT", "/v1/vms/vm1", R"({"network":"secure"})", AccessLevel::kNone);
  ExpectError(refused, 403, "forbidden", "");
  EXPECT_EQ(LastAudit()["error_code"], "forbidden");
  EXPECT_EQ(ipam_.size(), 0u);
  // Admins may do what services do.
  EXPECT_EQ(Call("PUT", "/v1/vms/vm1", R"({"network":"secure"})", AccessLevel::kAdmin).status, 201);
}

// A netd without a capability answers its routes with the capability's refusal, audits refused
// mutations as any other, and shows its status section as null.
TEST_F(ControlApiTest, ACapabilityThisNetdDoesNotRunIsRefusedNotUnknown) {
  ControlApi api{audit_, metrics_};
  api.Serve(vm_api_);
  api.Refuse<FirewallApi>({409, "not_a_gateway", "no gateway here", ""});
  auto status = json::parse(api.Handle({"GET", "/v1/status", "", {}, AccessLevel::kService}).body);
  EXPECT_EQ(status["firewall"], nullptr);
  EXPECT_EQ(status["dhcp"], nullptr);
  EXPECT_EQ(status["drift"]["repairs"], 0);
  auto put = api.Handle({"PUT", "/v1/allowlist/r", "{}", {7, 7, 7, "x"}, AccessLevel::kAdmin});
  EXPECT_EQ(put.status, 409) << put.body;
  EXPECT_EQ(json::parse(put.body)["error"]["code"], "not_a_gateway");
  EXPECT_EQ(LastAudit()["action"], "allowlist.put");
  EXPECT_EQ(LastAudit()["error_code"], "not_a_gateway");
  EXPECT_EQ(api.Handle({"GET", "/v1/forwards", "", {}, AccessLevel::kService}).status, 409);
  EXPECT_EQ(api.Handle({"GET", "/v1/nothing", "", {}, AccessLevel::kService}).status, 404);
}

TEST_F(ControlApiTest, NonUtf8InputNeverBreaksTheAnswerOrTheAudit) {
  ExpectError(Call("GET", "/v1/vms/%FF"), 422, "invalid_vm_id", "vm");
  ExpectError(Call("GET", "/v1/vms?network=%FF"), 422, "unknown_network", "network");
  ExpectError(Call("GET", "/v1/\xff"), 404, "no_such_route", "");
  ExpectError(Call("DELETE", "/v1/vms/%FF", "", AccessLevel::kNone), 403, "forbidden", "");
  EXPECT_EQ(LastAudit()["object"], "vm/\xef\xbf\xbd");  // U+FFFD
  EXPECT_TRUE(audit_.Verify().ok);
}

TEST_F(ControlApiTest, RefusedRequestsAreSummarisedNotStoredWhole) {
  std::string big = R"({"network":"secure","padding":")" + std::string(10000, 'x') + "\"}";
  ExpectError(Call("PUT", "/v1/vms/vm1", big), 400, "unknown_field", "padding");
  EXPECT_EQ(LastAudit()["request"], json({{"unrecorded_body_bytes", big.size()}}));
}

TEST_F(ControlApiTest, ReadsListAndShow) {
  Call("PUT", "/v1/vms/a", R"({"network":"secure"})");
  Call("PUT", "/v1/vms/b", R"({"network":"service"})");
  EXPECT_EQ(Call("GET", "/v1/vms").body["vms"].size(), 2u);
  auto service = Call("GET", "/v1/vms?network=service").body["vms"];
  ASSERT_EQ(service.size(), 1u);
  EXPECT_EQ(service[0]["ip"], "192.168.122.3");
  ExpectError(Call("GET", "/v1/vms?network=x"), 422, "unknown_network", "network");
  EXPECT_EQ(Call("GET", "/v1/vms/a").body["network"], "secure");
  ExpectError(Call("GET", "/v1/vms/zz"), 404, "vm_not_bound", "vm");
  ExpectError(Call("DELETE", "/v1/vms/zz"), 404, "vm_not_bound", "vm");
  ExpectError(Call("GET", "/v1/nothing"), 404, "no_such_route", "");
  ExpectError(Call("POST", "/v1/vms/a"), 405, "method_not_allowed", "");
}

TEST_F(ControlApiTest, StatusNetworksAndMetrics) {
  Call("PUT", "/v1/vms/a", R"({"network":"secure"})");
  auto status = Call("GET", "/v1/status").body;
  EXPECT_EQ(status["vms"]["total"], 1);
  EXPECT_EQ(status["vms"]["by_network"]["secure"], 1);
  EXPECT_EQ(status["roles"], json({"gateway", "host"}));
  EXPECT_EQ(status["audit"]["length"], 1);
  auto networks = Call("GET", "/v1/networks").body["networks"];
  ASSERT_EQ(networks.size(), 3u);
  EXPECT_EQ(networks[0]["bound_vms"], 1);
  EXPECT_EQ(networks[0]["free_addresses"], 32509);
  EXPECT_EQ(networks[2]["free_addresses"], 3);
  auto metrics = api_.Handle({"GET", "/metrics", "", {}, AccessLevel::kService});
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  EXPECT_THAT(metrics.body,
              HasSubstr("netd_api_requests_total{route=\"/v1/vms/{vm}\",method=\"PUT\","
                        "code=\"201\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("netd_vms_bound{network=\"secure\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("netd_audit_records 1"));
}

// The anchor writer appends the head once the interval passes after a record (or when netd
// stops), and verification holds the chain to the anchor file: an anchor past the chain's end
// means records were cut from it.
TEST_F(ControlApiTest, TheChainIsAnchoredAndVerifiedAgainstItsAnchors) {
  Call("PUT", "/v1/vms/v1", R"({"network":"secure"})");
  Call("PUT", "/v1/vms/v2", R"({"network":"secure"})");
  EXPECT_TRUE(anchors_.Anchors().empty()) << "not before the interval";
  anchors_.Flush();
  auto anchored = anchors_.Anchors();
  ASSERT_EQ(anchored.size(), 1u);
  EXPECT_EQ(anchored[0].seq, 2);
  EXPECT_EQ(anchored[0].hash, audit_.Head().hash);
  anchors_.Flush();
  EXPECT_EQ(anchors_.Anchors().size(), 1u) << "the same head is anchored once";
  EXPECT_EQ(Call("GET", "/v1/audit/verify", "", AccessLevel::kAdmin).body,
            json({{"ok", true}, {"length", 2}}));
  EXPECT_THAT(Call("GET", "/metrics").text, HasSubstr("netd_audit_anchors_written_total 1"));

  std::ofstream(anchors_.file(), std::ios::app)
      << FormatAnchor({5, std::string(64, 'e'), 0}) << "\n";
  auto verify = Call("GET", "/v1/audit/verify", "", AccessLevel::kAdmin).body;
  EXPECT_EQ(verify["ok"], false);
  EXPECT_EQ(verify["first_bad_seq"], 3);
  EXPECT_EQ(verify["reason"],
            "the chain ends at record 2 but an anchor names record 5 (records removed from the "
            "end)");
  std::ofstream(anchors_.file(), std::ios::app) << "not an anchor\n";
  verify = Call("GET", "/v1/audit/verify", "", AccessLevel::kAdmin).body;
  EXPECT_EQ(verify["ok"], false);
  EXPECT_THAT(verify["reason"].get<std::string>(), HasSubstr("line 3: expected an anchor"));
}

TEST_F(ControlApiTest, AuditPagesAndVerifies) {
  for (int i = 0; i < 5; ++i) {
    Call("PUT", "/v1/vms/v" + std::to_string(i), R"({"network":"secure"})");
  }
  auto page = Call("GET", "/v1/audit?after=1&limit=2", "", AccessLevel::kAdmin).body;
  ASSERT_EQ(page["records"].size(), 2u);
  EXPECT_EQ(page["records"][0]["seq"], 2);
  EXPECT_EQ(page["next_after"], 3);
  ExpectError(Call("GET", "/v1/audit?limit=0", "", AccessLevel::kAdmin), 400, "invalid_query",
              "limit");
  ExpectError(Call("GET", "/v1/audit?after=x", "", AccessLevel::kAdmin), 400, "invalid_query",
              "after");
  auto verify = Call("GET", "/v1/audit/verify", "", AccessLevel::kAdmin).body;
  EXPECT_EQ(verify, json({{"ok", true}, {"length", 5}}));
}

TEST_F(ControlApiTest, UnbindReleasesAndAudits) {
  Call("PUT", "/v1/vms/a", R"({"network":"secure"})");
  auto unbound = Call("DELETE", "/v1/vms/a");
  EXPECT_EQ(unbound.status, 200);
  EXPECT_EQ(unbound.body["unbound"]["ip"], "192.168.129.1");
  EXPECT_EQ(LastAudit()["action"], "vm.unbind");
  EXPECT_TRUE(store_.LoadBindings().empty());
  EXPECT_EQ(ipam_.pool("secure").used(), 0u);
}

}  // namespace
}  // namespace netd

namespace netd {
namespace {

class AllowlistApiTest : public ControlApiTest {
 protected:
  Answer Admin(const std::string& method, const std::string& target, const json& body = nullptr) {
    return Call(method, target, body.is_null() ? "" : body.dump(), AccessLevel::kAdmin);
  }
  json Rule(json vms = {"sec1"}) {
    return {{"destinations", {"198.51.100.7", "203.0.113.0/24", "lic.example.org"}},
            {"protocol", "tcp"},
            {"ports", {"27000-27010", 1717}},
            {"vms", vms},
            {"comment", "licence server"}};
  }
  void SetUp() override {
    ASSERT_EQ(Call("PUT", "/v1/vms/sec1", R"({"network":"secure"})").status, 201);
    ASSERT_EQ(Call("PUT", "/v1/vms/svc1", R"({"network":"service"})").status, 201);
  }
};

TEST_F(AllowlistApiTest, ARuleOpensItsDestinationsForItsVmsInTheKernel) {
  EXPECT_EQ(kernel_.bindings.size(), 1u) << "the secure VM is anti-spoofed, the service VM not";
  auto created = Admin("PUT", "/v1/allowlist/license", Rule());
  ASSERT_EQ(created.status, 201) << created.text;
  EXPECT_EQ(created.body["ports"], json({"27000-27010", "1717"}));
  EXPECT_EQ(created.body["bound_vms"], 1);
  EXPECT_EQ(kernel_.exact.size(), 1u);   // 198.51.100.7 . tcp . 1717
  EXPECT_EQ(kernel_.ranges.size(), 3u);  // the rest are ranges
  EXPECT_EQ(LastAudit()["action"], "allowlist.put");
  EXPECT_EQ(Admin("PUT", "/v1/allowlist/license", Rule()).status, 200) << "idempotent";

  auto shown = Call("GET", "/v1/allowlist/license");
  EXPECT_EQ(shown.body["vms_bound"], json({"sec1"}));
  EXPECT_EQ(Call("GET", "/v1/allowlist").body["rules"].size(), 1u);

  ASSERT_EQ(Call("DELETE", "/v1/vms/sec1").status, 200);
  EXPECT_TRUE(kernel_.exact.empty());
  EXPECT_TRUE(kernel_.bindings.empty());
  ASSERT_EQ(Admin("DELETE", "/v1/allowlist/license").status, 200);
  EXPECT_EQ(Call("GET", "/v1/allowlist/license").status, 404);
}

TEST_F(AllowlistApiTest, BadRulesNameTheFieldAndChangeNothing) {
  auto with = [&](const std::string& key, json value) {
    auto rule = Rule();
    rule[key] = std::move(value);
    return rule;
  };
  struct Case {
    json body;
    int status;
    std::string code;
    std::string field;
  };
  std::vector<Case> cases = {
      {with("destinations", {"198.51.100.7", "10.0.0.1/8"}), 422, "invalid_destination",
       "destinations[1]"},
      {with("destinations", {"300.1.1.1"}), 422, "invalid_destination", "destinations[0]"},
      {with("destinations", {"bad_name!"}), 422, "invalid_destination", "destinations[0]"},
      {with("destinations", {"192.168.129.0/24"}), 422, "destination_inside_enclave",
       "destinations[0]"},
      {with("destinations", json::array()), 422, "invalid_destinations", "destinations"},
      {with("protocol", "icmp"), 422, "invalid_protocol", "protocol"},
      {with("ports", {"27010-27000"}), 422, "invalid_port", "ports[0]"},
      {with("ports", {0}), 422, "invalid_port", "ports[0]"},
      {with("ports", {true}), 400, "invalid_type", "ports[0]"},
      {with("vms", {"svc1"}), 422, "vm_not_secure", "vms"},
      {with("vms", {"ghost"}), 422, "vm_not_bound", "vms"},
      {with("vms", "all"), 400, "invalid_type", "vms"},
      {with("colour", "red"), 400, "unknown_field", "colour"},
      {with("qtypes", "A"), 400, "invalid_type", "qtypes"},
      {with("qtypes", json::array()), 422, "invalid_qtypes", "qtypes"},
      {with("qtypes", {"A", 16}), 400, "invalid_type", "qtypes[1]"},
      {with("qtypes", {"A", "NULL"}), 422, "invalid_qtype", "qtypes[1]"},
      {with("qtypes", {"ANY"}), 422, "invalid_qtype", "qtypes[0]"},
      {with("destinations", "198.51.100.7"), 400, "invalid_type", "destinations"},
      {with("ports", {"1-2000"}), 422, "invalid_ports", "ports[0]"},
      {with("vms", {"sec1", "bad id"}), 422, "invalid_vm_id", "vms[1]"},
      {with("comment", 1), 400, "invalid_type", "comment"},
      {with("comment", std::string(257, 'x')), 422, "invalid_comment", "comment"},
  };
  auto audit_before = audit_.length();
  for (const auto& c : cases) {
    ExpectError(Admin("PUT", "/v1/allowlist/license", c.body), c.status, c.code, c.field);
  }
  auto missing = Rule();
  missing.erase("ports");
  auto refused = Admin("PUT", "/v1/allowlist/license", missing);
  ExpectError(refused, 400, "missing_field", "ports");
  EXPECT_EQ(refused.body["error"]["message"], "field \"ports\" is required");
  ExpectError(Admin("PUT", "/v1/allowlist/bad%20name", Rule()), 422, "invalid_rule_name", "rule");
  ExpectError(Call("PUT", "/v1/allowlist/license", Rule().dump()), 403, "forbidden", "");
  EXPECT_TRUE(kernel_.exact.empty());
  EXPECT_TRUE(kernel_.ranges.empty());
  EXPECT_TRUE(store_.LoadAllowlistRules().empty());
  EXPECT_EQ(audit_.length(), audit_before + cases.size() + 3) << "refusals are audited";
}

TEST_F(AllowlistApiTest, QtypesDefaultToAAndAaaaAndAreKeptInTheirCanonicalForm) {
  auto created = Admin("PUT", "/v1/allowlist/license", Rule());
  ASSERT_EQ(created.status, 201) << created.text;
  EXPECT_EQ(created.body["qtypes"], json({"A", "AAAA"}));
  auto rule = Rule();
  rule["qtypes"] = {"txt", "A", "TXT"};
  auto replaced = Admin("PUT", "/v1/allowlist/license", rule);
  ASSERT_EQ(replaced.status, 200) << replaced.text;
  EXPECT_EQ(replaced.body["qtypes"], json({"A", "TXT"})) << "sorted by type, once each";
  EXPECT_EQ(firewall_.policy().FindRule("license")->qtypes, (std::vector<std::uint16_t>{1, 16}));
  auto stored = json::parse(store_.LoadAllowlistRules().at(0));
  EXPECT_EQ(stored["qtypes"], json({"A", "TXT"}));
  auto message = Admin("PUT", "/v1/allowlist/license",
                       [&] {
                         auto bad = Rule();
                         bad["qtypes"] = {"NULL"};
                         return bad;
                       }())
                     .body["error"]["message"];
  EXPECT_THAT(message.get<std::string>(), HasSubstr("qtypes[0] \"NULL\" is not a query type"));
  EXPECT_EQ(firewall_.policy().FindRule("license")->qtypes, (std::vector<std::uint16_t>{1, 16}))
      << "a refused change changes nothing";
}

TEST_F(AllowlistApiTest, ARuleBeyondTheElementLimitIsRefusedWhole) {
  config_.gateway.max_allowlist_elements = 3;
  firewall::GatewayFirewall small{GatewayFirewallOptionsOf(config_), kernel_};
  firewall::GatewayFirewall::StoredState stored;
  for (const auto& binding : store_.LoadBindings()) stored.bindings.push_back(BoundVmOf(binding));
  small.Start(stored);
  FirewallApi small_api{config_, store_, audit_, ipam_, small, clock_};
  ControlApi api{audit_, metrics_};
  api.Serve(small_api);
  auto answer = api.Handle(
      {"PUT", "/v1/allowlist/big", Rule("*").dump(), {0, 0, 1, ""}, AccessLevel::kAdmin});
  EXPECT_EQ(answer.status, 422) << answer.body;
  EXPECT_NE(answer.body.find("too_many_elements"), std::string::npos);
  EXPECT_TRUE(small.policy().rules().empty());
  EXPECT_EQ(small.policy().allow_elements(), 0u);
}

TEST_F(AllowlistApiTest, AKernelRefusalLeavesStoreKernelAndPolicyAsTheyWere) {
  kernel_.RefuseNext();
  auto refused = Admin("PUT", "/v1/allowlist/license", Rule());
  ExpectError(refused, 503, "kernel_refused", "");
  EXPECT_TRUE(store_.LoadAllowlistRules().empty());
  EXPECT_TRUE(kernel_.ranges.empty());
  EXPECT_EQ(Call("GET", "/v1/allowlist/license").status, 404);
  EXPECT_EQ(Admin("PUT", "/v1/allowlist/license", Rule()).status, 201) << "and works after";
}

TEST_F(AllowlistApiTest, AStoreRefusalAfterTheKernelTookTheBatchTakesItBackOut) {
  // Another writer takes the audit record's sequence number: the store refuses the
  // transaction at its end, after the kernel took the batch.
  Store other(dir_.path() / "netd.db");
  other.AppendAudit({audit_.length() + 1, "{}", std::string(64, '0'), std::string(64, '0')});
  auto bindings_before = kernel_.bindings;
  auto refused = Admin("PUT", "/v1/allowlist/license", Rule());
  EXPECT_GE(refused.status, 500) << refused.text;
  EXPECT_TRUE(store_.LoadAllowlistRules().empty());
  EXPECT_TRUE(kernel_.ranges.empty()) << "the inverse batch took the rule's elements out";
  EXPECT_TRUE(kernel_.exact.empty());
  EXPECT_EQ(kernel_.bindings, bindings_before);
  EXPECT_EQ(Call("GET", "/v1/allowlist/license").status, 404) << "and the policy has no rule";
}

TEST_F(AllowlistApiTest, AssignAndUnassignOneVm) {
  ASSERT_EQ(Admin("PUT", "/v1/allowlist/license", Rule(json::array())).status, 201);
  EXPECT_TRUE(kernel_.ranges.empty());
  auto assigned = Admin("PUT", "/v1/allowlist/license/vms/sec1");
  ASSERT_EQ(assigned.status, 200) << assigned.text;
  EXPECT_EQ(assigned.body["vms"], json({"sec1"}));
  EXPECT_EQ(kernel_.ranges.size(), 3u);
  ExpectError(Admin("PUT", "/v1/allowlist/license/vms/svc1"), 422, "vm_not_secure", "vm");
  kernel_.flows.insert({Ipv4Address::Parse("192.168.129.1")->value(),
                        Ipv4Address::Parse("203.0.113.9")->value(), 6, 27001});
  ASSERT_EQ(Admin("DELETE", "/v1/allowlist/license/vms/sec1").status, 200);
  EXPECT_TRUE(kernel_.ranges.empty());
  EXPECT_TRUE(kernel_.flows.empty()) << "the revoked flow was cut";
  ExpectError(Admin("DELETE", "/v1/allowlist/license/vms/sec1"), 404, "vm_not_assigned", "vm");
}

}  // namespace
}  // namespace netd

namespace netd {
namespace {

class ForwardApiTest : public ControlApiTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(Call("PUT", "/v1/vms/sec1", R"({"network":"secure"})").status, 201);
  }
  Answer Open(const json& body) { return Call("POST", "/v1/forwards", body.dump()); }
};

TEST_F(ForwardApiTest, AForwardIsAnElementAStoredRowAndAnAuditRecord) {
  auto opened = Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"ttl_s", 60}});
  ASSERT_EQ(opened.status, 201) << opened.text;
  EXPECT_EQ(opened.body["listen_port"], 6000);
  EXPECT_EQ(opened.body["vm_port"], 22);
  EXPECT_EQ(opened.body["listen_ip"], nullptr) << "gateway.forward_address is not set";
  EXPECT_EQ(kernel_.forwards.size(), 1u);
  EXPECT_EQ(store_.LoadForwards().size(), 1u);
  EXPECT_EQ(LastAudit()["action"], "forward.open");
  auto id = opened.body["id"].get<std::string>();

  auto renewed = Call("POST", "/v1/forwards/" + id + "/renew", R"({"ttl_s":600})");
  ASSERT_EQ(renewed.status, 200) << renewed.text;
  EXPECT_GE(renewed.body["expires_in_s"].get<int>(), 599);
  EXPECT_GE(kernel_.forwards.begin()->second.timeout_ms, 600'000u);
  EXPECT_EQ(store_.LoadForwards()[0].expires_ms, firewall_.forwards().Find(id)->expires_ms);

  ASSERT_EQ(Call("DELETE", "/v1/forwards/" + id).status, 200);
  EXPECT_TRUE(kernel_.forwards.empty());
  EXPECT_TRUE(store_.LoadForwards().empty());
  ASSERT_EQ(kernel_.forward_cuts.size(), 1u);
  EXPECT_EQ(kernel_.forward_cuts[0].second, 6000);
  EXPECT_EQ(LastAudit()["action"], "forward.close");
  EXPECT_EQ(Call("GET", "/v1/forwards/" + id).status, 404);
}

TEST_F(ForwardApiTest, BadRequestsNameTheFieldAndChangeNothing) {
  ExpectError(Open({{"client_ip", "198.51.100.9"}}), 400, "missing_field", "vm");
  ExpectError(Open({{"vm", "sec1"}}), 400, "missing_field", "client_ip");
  ExpectError(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"colour", 1}}), 400,
              "unknown_field", "colour");
  for (const char* client :
       {"198.51.100", "0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "192.168.129.7"}) {
    ExpectError(Open({{"vm", "sec1"}, {"client_ip", client}}), 422, "invalid_client_ip",
                "client_ip");
  }
  ExpectError(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"port", 80}}), 422,
              "port_not_allowed", "port");
  ExpectError(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"ttl_s", 0}}), 422,
              "invalid_ttl", "ttl_s");
  ExpectError(Open({{"vm", "nobody"}, {"client_ip", "198.51.100.9"}}), 404, "vm_not_bound", "vm");
  EXPECT_TRUE(kernel_.forwards.empty());
  EXPECT_TRUE(store_.LoadForwards().empty());
  EXPECT_EQ(LastAudit()["result"], "refused");
}

TEST_F(ForwardApiTest, AClientThatUsedTheWholeRangeIsRefusedOthersAreNot) {
  for (int i = 0; i <= 100; ++i) {
    ASSERT_EQ(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}}).status, 201) << i;
  }
  auto refused = Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}});
  ExpectError(refused, 409, "forward_ports_exhausted", "client_ip");
  EXPECT_THAT(refused.body["error"]["message"].get<std::string>(), HasSubstr("6000-6100"));
  EXPECT_EQ(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.10"}}).body["listen_port"], 6000);
}

TEST_F(ForwardApiTest, ARefusedKernelChangeLeavesNoForward) {
  kernel_.RefuseNext();
  EXPECT_EQ(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}}).status, 503);
  EXPECT_TRUE(firewall_.forwards().all().empty());
  EXPECT_TRUE(store_.LoadForwards().empty());
  EXPECT_EQ(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}}).body["listen_port"], 6000);
}

TEST_F(ForwardApiTest, UnbindingAVmClosesItsForwards) {
  ASSERT_EQ(Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}}).status, 201);
  ASSERT_EQ(Call("DELETE", "/v1/vms/sec1").status, 200);
  EXPECT_TRUE(kernel_.forwards.empty());
  EXPECT_TRUE(store_.LoadForwards().empty());
  EXPECT_TRUE(firewall_.forwards().all().empty());
  EXPECT_EQ(kernel_.forward_cuts.size(), 1u);
}

TEST_F(ForwardApiTest, ExpiredForwardsLeaveTheStoreAndTheKernel) {
  auto opened = Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"ttl_s", 1}});
  ASSERT_EQ(opened.status, 201);
  clock_.Advance(std::chrono::milliseconds(999));
  EXPECT_EQ(kernel_.forwards.size(), 1u);
  EXPECT_EQ(store_.LoadForwards().size(), 1u);
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(kernel_.forwards.empty());
  EXPECT_TRUE(store_.LoadForwards().empty());
  EXPECT_TRUE(firewall_.forwards().all().empty());
  EXPECT_EQ(LastAudit()["action"], "forward.expire");
  EXPECT_EQ(LastAudit()["caller"]["exe"], "netd");
  ASSERT_EQ(kernel_.forward_cuts.size(), 1u) << "its sessions were cut";
}

TEST_F(ForwardApiTest, AnExpiryTheKernelRefusesIsRetried) {
  auto opened = Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"ttl_s", 1}});
  ASSERT_EQ(opened.status, 201);
  kernel_.RefuseNext();
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(store_.LoadForwards().size(), 1u) << "refused: still open";
  EXPECT_EQ(kernel_.forwards.size(), 1u);
  clock_.Advance(std::chrono::milliseconds(200));
  EXPECT_TRUE(store_.LoadForwards().empty());
  EXPECT_TRUE(kernel_.forwards.empty());
  EXPECT_EQ(LastAudit()["action"], "forward.expire");
}

TEST_F(ForwardApiTest, ARenewMovesTheExpiryEitherWay) {
  auto opened = Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"ttl_s", 60}});
  auto id = opened.body["id"].get<std::string>();
  ASSERT_EQ(Call("POST", "/v1/forwards/" + id + "/renew", R"({"ttl_s":2})").status, 200);
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_TRUE(store_.LoadForwards().empty()) << "the shorter life, not the first one";
  opened = Open({{"vm", "sec1"}, {"client_ip", "198.51.100.9"}, {"ttl_s", 2}});
  id = opened.body["id"].get<std::string>();
  ASSERT_EQ(Call("POST", "/v1/forwards/" + id + "/renew", R"({"ttl_s":60})").status, 200);
  clock_.Advance(std::chrono::seconds(59));
  EXPECT_EQ(store_.LoadForwards().size(), 1u) << "the longer life, not the first one";
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(store_.LoadForwards().empty());
}

}  // namespace
}  // namespace netd
