// netd_client against scripted servers: request encoding and every class of failure, without a
// daemon.
#include "netd/client/client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>

#include "netd/client/targets.hpp"
#include "scripted_server.hpp"

namespace netd::client {
namespace {

using cli_testing::HttpReply;
using cli_testing::ScriptedServer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kBindingJson =
    R"({"vm":"vm.1","network":"secure","ip":"192.168.129.1","mac":"52:54:c0:a8:81:01",)"
    R"("hostname":"h1","created_at":"2026-11-28T13:00:00.000Z"})";

TEST(ClientTargetsTest, PercentEncodesEverythingButUnreservedCharacters) {
  EXPECT_EQ(targets::PercentEncode("vm-1.a_b~"), "vm-1.a_b~");
  EXPECT_EQ(targets::PercentEncode("a b/c?d%"), "a%20b%2Fc%3Fd%25");
  EXPECT_EQ(targets::PercentEncode("é"), "%C3%A9");
}

TEST(ClientTargetsTest, BuildsPathsAndQueries) {
  EXPECT_EQ(targets::Vm("vm/../status"), "/v1/vms/vm%2F..%2Fstatus");
  EXPECT_EQ(targets::Vms(), "/v1/vms");
  EXPECT_EQ(targets::Vms("a&b=c"), "/v1/vms?network=a%26b%3Dc");
  EXPECT_EQ(targets::Audit(), "/v1/audit");
  EXPECT_EQ(targets::Audit(5, 10), "/v1/audit?after=5&limit=10");
  EXPECT_EQ(targets::Audit(std::nullopt, 3), "/v1/audit?limit=3");
  EXPECT_EQ(targets::Rule("r/../x"), "/v1/allowlist/r%2F..%2Fx");
  EXPECT_EQ(targets::RuleVm("r 1", "vm?1"), "/v1/allowlist/r%201/vms/vm%3F1");
}

TEST(ClientTargetsTest, DnsLogEncodesTheVmAndAddsTheLimit) {
  EXPECT_EQ(targets::DnsLog(), "/v1/dns/log");
  EXPECT_EQ(targets::DnsLog("sec1"), "/v1/dns/log?vm=sec1");
  EXPECT_EQ(targets::DnsLog("sec1", 20), "/v1/dns/log?vm=sec1&limit=20");
  EXPECT_EQ(targets::DnsLog(std::nullopt, 1000), "/v1/dns/log?limit=1000");
  // A VM id cannot smuggle in another parameter.
  EXPECT_EQ(targets::DnsLog("a&limit=1 b"), "/v1/dns/log?vm=a%26limit%3D1%20b");
}

TEST(ClientTargetsTest, HostPortsIsOneFixedPath) {
  EXPECT_EQ(targets::kHostPorts, "/v1/host/ports");
}

TEST(ClientScriptedTest, MissingSocketIsUnreachableAndSaysWhere) {
  cli_testing::ScratchDirectory directory;
  const std::string path = (directory.path() / "absent.sock").string();
  try {
    Client(path).Status();
    FAIL() << "expected UnreachableError";
  } catch (const UnreachableError& error) {
    EXPECT_EQ(error.socket_path(), path);
    EXPECT_EQ(error.stage(), "connect");
    EXPECT_EQ(error.cause().value(), ENOENT);
    EXPECT_THAT(error.what(), StartsWith("cannot reach netd at " + path + ": connect: "));
  }
}

TEST(ClientScriptedTest, FileThatIsNoSocketIsUnreachable) {
  cli_testing::ScratchDirectory directory;
  const auto path = directory.path() / "not-a-socket";
  std::ofstream(path) << "x";
  try {
    Client(path.string()).Status();
    FAIL() << "expected UnreachableError";
  } catch (const UnreachableError& error) {
    EXPECT_EQ(error.cause().value(), ECONNREFUSED);
  }
}

TEST(ClientScriptedTest, OverlongSocketPathIsUnreachable) {
  const std::string path = "/tmp/" + std::string(200, 'x');
  EXPECT_THROW(Client(path).Status(), UnreachableError);
}

TEST(ClientScriptedTest, SilentServerTimesOut) {
  ScriptedServer hung({});
  const auto started = std::chrono::steady_clock::now();
  try {
    Client(hung.socket_path(), std::chrono::milliseconds(200)).Status();
    FAIL() << "expected UnreachableError";
  } catch (const UnreachableError& error) {
    EXPECT_EQ(error.stage(), "receive");
    EXPECT_THAT(error.what(), HasSubstr("no complete answer within 200 ms"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(ClientScriptedTest, ConnectionClosedWithoutAnswerIsUnreachable) {
  ScriptedServer closing({""});
  try {
    Client(closing.socket_path()).Status();
    FAIL() << "expected UnreachableError";
  } catch (const UnreachableError& error) {
    EXPECT_THAT(error.what(), HasSubstr("connection closed before a complete answer"));
  }
}

TEST(ClientScriptedTest, RefusalCarriesStatusCodeMessageAndField) {
  ScriptedServer server({HttpReply(
      409, "Conflict", "application/json",
      R"({"error":{"code":"bound_elsewhere","message":"vm1 is bound to service","field":"network"}})")});
  try {
    Client(server.socket_path()).BindVm("vm1", "secure");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 409u);
    EXPECT_EQ(error.code(), "bound_elsewhere");
    EXPECT_EQ(error.message(), "vm1 is bound to service");
    EXPECT_EQ(error.field(), "network");
    EXPECT_STREQ(error.what(), "vm1 is bound to service (bound_elsewhere, field network)");
  }
}

TEST(ClientScriptedTest, RefusalWithoutFieldOmitsIt) {
  ScriptedServer server({HttpReply(404, "Not Found", "application/json",
                                   R"({"error":{"code":"not_found","message":"no VM vm1"}})")});
  try {
    Client(server.socket_path()).GetVm("vm1");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.field(), std::nullopt);
    EXPECT_STREQ(error.what(), "no VM vm1 (not_found)");
  }
}

TEST(ClientScriptedTest, RefusalWithoutErrorBodyStillHasCodeAndMessage) {
  ScriptedServer server({HttpReply(503, "Service Unavailable", "text/plain", "draining\n")});
  try {
    Client(server.socket_path()).Status();
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 503u);
    EXPECT_EQ(error.code(), "http_503");
    EXPECT_EQ(error.message(), "draining");
  }
}

TEST(ClientScriptedTest, AnswerThatIsNotHttpIsProtocolError) {
  ScriptedServer server({"SSH-2.0-OpenSSH_9.2\r\n"});
  EXPECT_THROW(Client(server.socket_path()).Status(), ProtocolError);
}

TEST(ClientScriptedTest, InvalidJsonIsProtocolError) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", "{\"vm\":")});
  EXPECT_THROW(Client(server.socket_path()).GetVm("vm1"), ProtocolError);
}

TEST(ClientScriptedTest, JsonOfTheWrongShapeIsProtocolError) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", R"({"vm":1})"),
                         HttpReply(200, "OK", "application/json", R"({"items":[]})")});
  const Client client(server.socket_path());
  EXPECT_THROW(client.GetVm("vm1"), ProtocolError);
  EXPECT_THROW(client.ListVms(), ProtocolError);
}

TEST(ClientScriptedTest, BindSendsTheBindingToTheEncodedTarget) {
  ScriptedServer server({HttpReply(201, "Created", "application/json", kBindingJson),
                         HttpReply(200, "OK", "application/json", kBindingJson)});
  const Client client(server.socket_path());

  const BindResult created = client.BindVm("vm.1", "secure", "h1");
  EXPECT_TRUE(created.created);
  EXPECT_EQ(created.binding.vm, "vm.1");
  EXPECT_EQ(created.binding.ip, "192.168.129.1");
  EXPECT_EQ(created.binding.mac, "52:54:c0:a8:81:01");
  EXPECT_EQ(created.binding.hostname, "h1");
  EXPECT_FALSE(client.BindVm("vm.1", "secure").created);

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], StartsWith("PUT /v1/vms/vm.1 HTTP/1.1\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(requests[0], HasSubstr(R"({"hostname":"h1","network":"secure"})"));
  EXPECT_THAT(requests[1], HasSubstr(R"({"network":"secure"})"));
}

TEST(ClientScriptedTest, DecodesEveryTypedResponse) {
  ScriptedServer server({
      HttpReply(200, "OK", "application/json",
                R"({"version":"0.1.0","roles":["gateway","host"],)"
                R"("started_at":"2026-11-28T13:00:00.000Z","uptime_s":12,)"
                R"("vms":{"total":2,"by_network":{"secure":1,"service":1,"datain":0}},)"
                R"("audit":{"length":5},"last_reconcile":null,"drift":{"repairs":0}})"),
      HttpReply(200, "OK", "application/json",
                R"({"networks":[{"name":"secure","bridge":"br-secure","vlan":1081,)"
                R"("cidr":"192.168.128.0/17","gateway":"192.168.128.1",)"
                R"("dhcp_range":{"first":"192.168.129.1","last":"192.168.255.254"},)"
                R"("egress":"allowlist","bound_vms":1,"free_addresses":32765}]})"),
      HttpReply(200, "OK", "application/json", std::string(R"({"unbound":)") + kBindingJson + "}"),
      HttpReply(200, "OK", "application/json",
                R"({"records":[{"seq":1,"time_ms":1764334800000,)"
                R"("caller":{"uid":0,"gid":0,"pid":123,"exe":"/usr/bin/x"},"action":"vm.bind",)"
                R"("object":"vm/vm1","request":{"network":"secure"},"result":"refused",)"
                R"("status":422,"error_code":"unknown_network","prev_hash":"00","hash":"11"}],)"
                R"("next_after":1})"),
      HttpReply(200, "OK", "application/json",
                R"({"ok":false,"length":5,"first_bad_seq":3,"reason":"hash mismatch"})"),
      HttpReply(200, "OK", "text/plain; version=0.0.4", "netd_up 1\n"),
  });
  const Client client(server.socket_path());

  const auto status = client.Status();
  EXPECT_EQ(status.version, "0.1.0");
  EXPECT_EQ(status.roles, (std::vector<std::string>{"gateway", "host"}));
  EXPECT_EQ(status.vms_total, 2);
  EXPECT_EQ(status.vms_by_network.at("service"), 1);
  EXPECT_EQ(status.audit_length, 5);
  EXPECT_EQ(status.last_reconcile, std::nullopt);

  const auto networks = client.Networks();
  ASSERT_EQ(networks.size(), 1u);
  EXPECT_EQ(networks[0].vlan, 1081);
  EXPECT_EQ(networks[0].dhcp_range.last, "192.168.255.254");
  EXPECT_EQ(networks[0].free_addresses, 32765);

  EXPECT_EQ(client.UnbindVm("vm.1").ip, "192.168.129.1");

  const auto page = client.Audit(0, 1);
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].caller.exe, "/usr/bin/x");
  EXPECT_EQ(page.records[0].error_code, "unknown_network");
  EXPECT_EQ(page.records[0].request["network"], "secure");
  EXPECT_EQ(page.next_after, 1u);

  const auto verification = client.VerifyAudit();
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_seq, 3u);
  EXPECT_EQ(verification.reason, "hash mismatch");

  EXPECT_EQ(client.Metrics(), "netd_up 1\n");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 6u);
  EXPECT_THAT(requests[2], StartsWith("DELETE /v1/vms/vm.1 "));
  EXPECT_THAT(requests[3], StartsWith("GET /v1/audit?after=0&limit=1 "));
  EXPECT_THAT(requests[5], StartsWith("GET /metrics "));
}

constexpr const char* kRuleJson =
    R"({"rule":"flexlm","destinations":["203.0.113.7","lic.example.org"],"protocol":"tcp",)"
    R"("ports":["27000-27010","1717"],"qtypes":["A","TXT"],"vms":["vm-1","vm-2"],)"
    R"("comment":"FlexLM","created_at":"2026-11-28T13:00:00.000Z",)"
    R"("updated_at":"2026-11-28T13:05:00.000Z","bound_vms":1)";

std::string RuleReply(int status, std::string_view reason, std::string_view extra = "") {
  return HttpReply(status, reason, "application/json",
                   std::string(kRuleJson) + std::string(extra) + "}");
}

TEST(ClientScriptedTest, AllowlistCallsSendTheirRequestsAndDecodeRules) {
  ScriptedServer server({
      HttpReply(200, "OK", "application/json",
                std::string(R"({"rules":[)") + kRuleJson + "}," +
                    R"({"rule":"all","destinations":["192.0.2.1"],"protocol":"udp",)"
                    R"("ports":["53"],"vms":"*","comment":"",)"
                    R"("created_at":"2026-11-28T13:00:00.000Z",)"
                    R"("updated_at":"2026-11-28T13:00:00.000Z","bound_vms":4}]})"),
      RuleReply(200, "OK", R"(,"vms_bound":["vm-1"])"),
      RuleReply(201, "Created"),
      RuleReply(200, "OK"),
      HttpReply(200, "OK", "application/json",
                R"({"deleted":{"rule":"flexlm","destinations":["203.0.113.7"],)"
                R"("protocol":"both","ports":["1717"],"vms":[],"comment":""}})"),
      RuleReply(200, "OK"),
      RuleReply(200, "OK"),
  });
  const Client client(server.socket_path());

  const auto rules = client.ListAllowlist();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].name, "flexlm");
  EXPECT_EQ(rules[0].destinations, (std::vector<std::string>{"203.0.113.7", "lic.example.org"}));
  EXPECT_EQ(rules[0].protocol, "tcp");
  EXPECT_EQ(rules[0].ports, (std::vector<std::string>{"27000-27010", "1717"}));
  EXPECT_EQ(rules[0].qtypes, (std::vector<std::string>{"A", "TXT"}));
  EXPECT_EQ(rules[1].qtypes, (std::vector<std::string>{"A", "AAAA"}))
      << "a netd older than the field forwarded A and AAAA";
  EXPECT_FALSE(rules[0].all_vms);
  EXPECT_EQ(rules[0].vms, (std::vector<std::string>{"vm-1", "vm-2"}));
  EXPECT_EQ(rules[0].comment, "FlexLM");
  EXPECT_EQ(rules[0].created_at, "2026-11-28T13:00:00.000Z");
  EXPECT_EQ(rules[0].updated_at, "2026-11-28T13:05:00.000Z");
  EXPECT_EQ(rules[0].bound_vms, 1);
  EXPECT_EQ(rules[0].vms_bound, std::nullopt);
  EXPECT_TRUE(rules[1].all_vms);
  EXPECT_TRUE(rules[1].vms.empty());
  EXPECT_EQ(rules[1].bound_vms, 4);

  EXPECT_EQ(client.GetAllowlistRule("flexlm").vms_bound, (std::vector<std::string>{"vm-1"}));

  AllowlistRuleSpec spec{.destinations = {"203.0.113.7", "lic.example.org"},
                         .protocol = "tcp",
                         .ports = {"27000-27010", "1717"},
                         .qtypes = {"A", "TXT"},
                         .vms = {"vm-1", "vm-2"},
                         .comment = "FlexLM"};
  const AllowlistPutResult created = client.PutAllowlistRule("flexlm", spec);
  EXPECT_TRUE(created.created);
  EXPECT_EQ(created.rule.name, "flexlm");
  spec.all_vms = true;
  spec.qtypes.clear();
  spec.comment.reset();
  EXPECT_FALSE(client.PutAllowlistRule("flexlm", spec).created);

  const AllowlistRule deleted = client.DeleteAllowlistRule("flexlm");
  EXPECT_EQ(deleted.protocol, "both");
  EXPECT_EQ(deleted.created_at, std::nullopt);
  EXPECT_EQ(deleted.bound_vms, std::nullopt);

  EXPECT_EQ(client.AssignAllowlistRule("flexlm", "vm-3").name, "flexlm");
  EXPECT_EQ(client.UnassignAllowlistRule("flexlm", "vm-3").name, "flexlm");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 7u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/allowlist HTTP/1.1\r\n"));
  EXPECT_THAT(requests[1], StartsWith("GET /v1/allowlist/flexlm HTTP/1.1\r\n"));
  EXPECT_THAT(requests[2], StartsWith("PUT /v1/allowlist/flexlm HTTP/1.1\r\n"));
  EXPECT_THAT(requests[2],
              HasSubstr(R"({"comment":"FlexLM","destinations":["203.0.113.7","lic.example.org"],)"
                        R"("ports":["27000-27010","1717"],"protocol":"tcp","qtypes":["A","TXT"],)"
                        R"("vms":["vm-1","vm-2"]})"));
  // "*" instead of the list, and no qtypes or comment member when there is none.
  EXPECT_THAT(requests[3],
              HasSubstr(R"({"destinations":["203.0.113.7","lic.example.org"],)"
                        R"("ports":["27000-27010","1717"],"protocol":"tcp","vms":"*"})"));
  EXPECT_THAT(requests[4], StartsWith("DELETE /v1/allowlist/flexlm HTTP/1.1\r\n"));
  EXPECT_THAT(requests[5], StartsWith("PUT /v1/allowlist/flexlm/vms/vm-3 HTTP/1.1\r\n"));
  EXPECT_THAT(requests[6], StartsWith("DELETE /v1/allowlist/flexlm/vms/vm-3 HTTP/1.1\r\n"));
}

TEST(ClientScriptedTest, RuleOfTheWrongShapeIsProtocolError) {
  ScriptedServer server({
      HttpReply(200, "OK", "application/json",
                R"({"rule":"r","destinations":[],"protocol":"tcp","ports":[],"vms":"all"})"),
      HttpReply(200, "OK", "application/json",
                R"({"rule":"r","destinations":[],"protocol":"tcp","ports":[],"vms":3})"),
      HttpReply(200, "OK", "application/json", R"({"rule":"r"})"),
  });
  const Client client(server.socket_path());
  EXPECT_THROW(client.GetAllowlistRule("r"), ProtocolError);
  EXPECT_THROW(client.GetAllowlistRule("r"), ProtocolError);
  EXPECT_THROW(client.DeleteAllowlistRule("r"), ProtocolError);
}

constexpr const char* kDnsLogJson =
    R"({"decisions":[{"at":"2026-11-28T18:40:01.123Z","vm":"sec1","source":"192.168.129.1",)"
    R"("name":"license.example.org","type":1,"verdict":"allowed",)"
    R"("opened":["198.51.100.2","198.51.100.3"]},)"
    R"({"at":"2026-11-28T18:40:00.500Z","vm":null,"source":"192.168.200.9",)"
    R"("name":"exfil.example.net","type":16,"verdict":"unknown_source","opened":[]}]})";

TEST(ClientModelsTest, DecodesDnsDecisions) {
  const auto decisions = DecodeDnsLog(nlohmann::json::parse(kDnsLogJson));
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].at, "2026-11-28T18:40:01.123Z");
  EXPECT_EQ(decisions[0].vm, "sec1");
  EXPECT_EQ(decisions[0].source, "192.168.129.1");
  EXPECT_EQ(decisions[0].name, "license.example.org");
  EXPECT_EQ(decisions[0].type, 1);
  EXPECT_EQ(decisions[0].verdict, "allowed");
  EXPECT_EQ(decisions[0].opened, (std::vector<std::string>{"198.51.100.2", "198.51.100.3"}));
  EXPECT_EQ(decisions[1].vm, std::nullopt);
  EXPECT_EQ(decisions[1].type, 16);
  EXPECT_EQ(decisions[1].verdict, "unknown_source");
  EXPECT_TRUE(decisions[1].opened.empty());

  EXPECT_TRUE(DecodeDnsLog(nlohmann::json::parse(R"({"decisions":[]})")).empty());
  EXPECT_THROW(DecodeDnsLog(nlohmann::json::parse(R"({"log":[]})")), ProtocolError);
  EXPECT_THROW(DecodeDnsLog(nlohmann::json::parse(
                   R"({"decisions":[{"at":"x","vm":null,"source":"1.2.3.4","name":"a"}]})")),
               ProtocolError);
}

TEST(ClientModelsTest, DecodesTheLeaseAndDnsLearnedDestinationsOfAVm) {
  const auto binding = Decode<VmBinding>(nlohmann::json::parse(
      R"({"vm":"sec1","network":"secure","ip":"192.168.129.1","mac":"52:54:c0:a8:81:01",)"
      R"("hostname":null,"created_at":"2026-11-28T13:00:00.000Z",)"
      R"("lease":{"state":"active","expires_at":"2026-11-28T19:00:00.000Z"},)"
      R"("dns_learned":[{"destination":"198.51.100.2","protocol":"tcp","port":443,)"
      R"("name":"license.example.org","expires_at":"2026-11-28T18:45:01.123Z"},)"
      R"({"destination":"198.51.100.2","protocol":"udp","port":27000,)"
      R"("name":"license.example.org","expires_at":"2026-11-28T18:45:01.123Z"}]})"));
  EXPECT_EQ(binding.lease_state, "active");
  EXPECT_EQ(binding.lease_expires_at, "2026-11-28T19:00:00.000Z");
  ASSERT_TRUE(binding.dns_learned.has_value());
  ASSERT_EQ(binding.dns_learned->size(), 2u);
  const DnsLearned& learned = binding.dns_learned->at(0);
  EXPECT_EQ(learned.destination, "198.51.100.2");
  EXPECT_EQ(learned.protocol, "tcp");
  EXPECT_EQ(learned.port, 443);
  EXPECT_EQ(learned.name, "license.example.org");
  EXPECT_EQ(learned.expires_at, "2026-11-28T18:45:01.123Z");
  EXPECT_EQ(binding.dns_learned->at(1).protocol, "udp");
  EXPECT_EQ(binding.dns_learned->at(1).port, 27000);

  // A gateway with nothing learned sends an empty list; a netd without the role none at all.
  const auto nothing_learned = Decode<VmBinding>(
      nlohmann::json::parse(std::string(kBindingJson).insert(1, R"("dns_learned":[],)")));
  ASSERT_TRUE(nothing_learned.dns_learned.has_value());
  EXPECT_TRUE(nothing_learned.dns_learned->empty());
  const auto elsewhere = Decode<VmBinding>(nlohmann::json::parse(kBindingJson));
  EXPECT_EQ(elsewhere.dns_learned, std::nullopt);
  EXPECT_EQ(elsewhere.lease_state, std::nullopt);

  EXPECT_THROW(Decode<VmBinding>(nlohmann::json::parse(
                   std::string(kBindingJson).insert(1, R"("dns_learned":[{"port":443}],)"))),
               ProtocolError);
}

TEST(ClientScriptedTest, DnsLogAsksTheEncodedTargetAndDecodesDecisions) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kDnsLogJson),
                         HttpReply(200, "OK", "application/json", R"({"decisions":[]})")});
  const Client client(server.socket_path());
  const auto decisions = client.DnsLog();
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].name, "license.example.org");
  EXPECT_TRUE(client.DnsLog("vm 1", 5).empty());

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/dns/log HTTP/1.1\r\n"));
  EXPECT_THAT(requests[1], StartsWith("GET /v1/dns/log?vm=vm%201&limit=5 HTTP/1.1\r\n"));
}

TEST(ClientScriptedTest, DnsLogWithoutTheGatewayRoleIsRefused) {
  ScriptedServer server({HttpReply(
      409, "Conflict", "application/json",
      R"({"error":{"code":"no_filtered_dns","message":"this netd does not run the gateway role"}})")});
  try {
    Client(server.socket_path()).DnsLog();
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 409u);
    EXPECT_EQ(error.code(), "no_filtered_dns");
  }
}

constexpr const char* kHostPortsJson =
    R"({"ports":[{"bridge":"br-secure","port":"br-secure","vm_id":null,"mac":null,)"
    R"("address":null,"state":"forward","flows_installed":true,"flows":1,"reason":null},)"
    R"({"bridge":"br-secure","port":"vnet0","vm_id":"vm-42","mac":"52:54:0a:51:00:0a",)"
    R"("address":"10.81.0.10","state":"pinned","flows_installed":true,"flows":5,)"
    R"("peers":["vm-45"],"reason":null},)"
    R"({"bridge":"br-secure","port":"vnet1","vm_id":"vm-43","mac":"52:54:0a:51:00:05",)"
    R"("address":null,"state":"refused","flows_installed":false,"flows":0,)"
    R"("reason":"MAC encodes 10.81.0.5, outside the DHCP range 10.81.0.10-10.81.0.200"},)"
    R"({"bridge":"br-service","port":"vnet2","vm_id":null,"mac":"02:00:00:00:00:01",)"
    R"("address":null,"state":"pinned-mac","flows_installed":false,"flows":5,)"
    R"json("reason":"MAC does not encode an address (52:54:a:b:c:d)"},)json"
    R"({"bridge":"br-service","port":"vnet3","state":"pending","flows_installed":false,)"
    R"("flows":0,"reason":"interface vnet3 has no OpenFlow port number"}]})";

TEST(ClientModelsTest, DecodesHostPorts) {
  const auto ports = DecodeHostPorts(nlohmann::json::parse(kHostPortsJson));
  ASSERT_EQ(ports.size(), 5u);
  EXPECT_EQ(ports[0].bridge, "br-secure");
  EXPECT_EQ(ports[0].port, "br-secure");
  EXPECT_EQ(ports[0].vm_id, std::nullopt);
  EXPECT_EQ(ports[0].mac, std::nullopt);
  EXPECT_EQ(ports[0].address, std::nullopt);
  EXPECT_EQ(ports[0].state, "forward");
  EXPECT_TRUE(ports[0].flows_installed);
  EXPECT_EQ(ports[0].flows, 1u);
  EXPECT_EQ(ports[0].reason, std::nullopt);

  EXPECT_EQ(ports[1].port, "vnet0");
  EXPECT_EQ(ports[1].vm_id, "vm-42");
  EXPECT_EQ(ports[1].mac, "52:54:0a:51:00:0a");
  EXPECT_EQ(ports[1].address, "10.81.0.10");
  EXPECT_EQ(ports[1].state, "pinned");
  EXPECT_EQ(ports[1].flows, 5u);
  EXPECT_EQ(ports[1].peers, std::vector<std::string>{"vm-45"});
  // Absent (a netd older than segmentation): none.
  EXPECT_TRUE(ports[0].peers.empty());

  EXPECT_EQ(ports[2].state, "refused");
  EXPECT_FALSE(ports[2].flows_installed);
  EXPECT_EQ(ports[2].flows, 0u);
  EXPECT_EQ(ports[2].reason,
            "MAC encodes 10.81.0.5, outside the DHCP range 10.81.0.10-10.81.0.200");
  EXPECT_EQ(ports[3].bridge, "br-service");
  EXPECT_EQ(ports[3].state, "pinned-mac");
  // Absent nullable members read as null, like the other models' optional members.
  EXPECT_EQ(ports[4].state, "pending");
  EXPECT_EQ(ports[4].vm_id, std::nullopt);
  EXPECT_EQ(ports[4].mac, std::nullopt);
  EXPECT_EQ(ports[4].address, std::nullopt);

  EXPECT_TRUE(DecodeHostPorts(nlohmann::json::parse(R"({"ports":[]})")).empty());
  EXPECT_THROW(DecodeHostPorts(nlohmann::json::parse(R"({"bridges":[]})")), ProtocolError);
  EXPECT_THROW(DecodeHostPorts(nlohmann::json::parse(R"([])")), ProtocolError);
  EXPECT_THROW(DecodeHostPorts(nlohmann::json::parse(R"({"ports":{}})")), ProtocolError);
  // A port without its state, flows of the wrong type, a MAC that is not text.
  EXPECT_THROW(DecodeHostPorts(nlohmann::json::parse(
                   R"({"ports":[{"bridge":"br-secure","port":"vnet0","flows_installed":true,)"
                   R"("flows":5}]})")),
               ProtocolError);
  EXPECT_THROW(DecodeHostPorts(nlohmann::json::parse(
                   R"({"ports":[{"bridge":"br-secure","port":"vnet0","state":"pinned",)"
                   R"("flows_installed":true,"flows":"5"}]})")),
               ProtocolError);
  EXPECT_THROW(DecodeHostPorts(nlohmann::json::parse(
                   R"({"ports":[{"bridge":"br-secure","port":"vnet0","mac":5,"state":"pinned",)"
                   R"("flows_installed":true,"flows":5}]})")),
               ProtocolError);
}

TEST(ClientScriptedTest, HostPortsAsksItsTargetAndDecodesPorts) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kHostPortsJson),
                         HttpReply(200, "OK", "application/json", R"({"ports":[]})")});
  const Client client(server.socket_path());
  const auto ports = client.HostPorts();
  ASSERT_EQ(ports.size(), 5u);
  EXPECT_EQ(ports[1].vm_id, "vm-42");
  EXPECT_TRUE(client.HostPorts().empty());

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/host/ports HTTP/1.1\r\n"));
  EXPECT_THAT(requests[1], StartsWith("GET /v1/host/ports HTTP/1.1\r\n"));
}

TEST(ClientScriptedTest, HostPortsWithoutTheHostRoleIsRefused) {
  ScriptedServer server({HttpReply(
      409, "Conflict", "application/json",
      R"({"error":{"code":"no_host_role","message":"this netd does not run the host role"}})")});
  try {
    Client(server.socket_path()).HostPorts();
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 409u);
    EXPECT_EQ(error.code(), "no_host_role");
    EXPECT_STREQ(error.what(), "this netd does not run the host role (no_host_role)");
  }
}

TEST(ClientScriptedTest, UnknownMethodIsACallerError) {
  EXPECT_THROW(Client("/nonexistent").Request("FETCH", "/v1/status"), std::invalid_argument);
}

}  // namespace
}  // namespace netd::client
