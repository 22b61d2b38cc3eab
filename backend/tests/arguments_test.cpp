// netctl's command line handling and rendering, run in-process: no daemon (scripted servers
// stand in for netd where an answer is needed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "netctl/netctl.hpp"
#include "scripted_server.hpp"

namespace netd::netctl {
namespace {

using cli_testing::HttpReply;
using cli_testing::ScriptedServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome Netctl(std::vector<std::string> arguments,
               const std::optional<std::string>& socket_from_environment = std::nullopt) {
  arguments.insert(arguments.begin(), "netctl");
  std::vector<const char*> argv;
  for (const auto& argument : arguments) argv.push_back(argument.c_str());
  std::ostringstream out;
  std::ostringstream err;
  const int exit_code =
      RunNetctl(static_cast<int>(argv.size()), argv.data(), socket_from_environment, out, err);
  return {exit_code, out.str(), err.str()};
}

class NetctlCommandHelpTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(NetctlCommandHelpTest, SaysWhatItDoesWithExamplesAndExitStatus) {
  auto arguments = GetParam();
  arguments.push_back("--help");
  const auto outcome = Netctl(arguments);
  EXPECT_EQ(outcome.exit_code, kExitOk);
  EXPECT_THAT(outcome.err, IsEmpty());
  EXPECT_THAT(outcome.out, HasSubstr("Usage: netctl"));
  EXPECT_THAT(outcome.out, HasSubstr("EXAMPLES\n  netctl "));
  EXPECT_THAT(outcome.out, HasSubstr("EXIT STATUS\n  0  success"));
  EXPECT_THAT(outcome.out, HasSubstr("  3  netd not reachable"));
}

INSTANTIATE_TEST_SUITE_P(
    EveryCommand, NetctlCommandHelpTest,
    ::testing::Values(
        std::vector<std::string>{}, std::vector<std::string>{"status"},
        std::vector<std::string>{"networks"}, std::vector<std::string>{"vm"},
        std::vector<std::string>{"vm", "bind"}, std::vector<std::string>{"vm", "show"},
        std::vector<std::string>{"vm", "list"}, std::vector<std::string>{"vm", "unbind"},
        std::vector<std::string>{"allowlist"}, std::vector<std::string>{"allowlist", "list"},
        std::vector<std::string>{"allowlist", "show"}, std::vector<std::string>{"allowlist", "add"},
        std::vector<std::string>{"allowlist", "rm"},
        std::vector<std::string>{"allowlist", "assign"},
        std::vector<std::string>{"allowlist", "unassign"}, std::vector<std::string>{"forward"},
        std::vector<std::string>{"forward", "open"}, std::vector<std::string>{"forward", "list"},
        std::vector<std::string>{"forward", "renew"}, std::vector<std::string>{"forward", "close"},
        std::vector<std::string>{"dns"}, std::vector<std::string>{"dns", "log"},
        std::vector<std::string>{"host"}, std::vector<std::string>{"host", "ports"},
        std::vector<std::string>{"audit"}, std::vector<std::string>{"metrics"}));

TEST(NetctlHelpTest, TopLevelListsEveryCommandWithItsSummary) {
  const auto outcome = Netctl({"--help"});
  EXPECT_THAT(outcome.out, HasSubstr("  status "));
  EXPECT_THAT(outcome.out,
              HasSubstr("  vm                          Bind, show, list and unbind VMs\n"));
  EXPECT_THAT(outcome.out, HasSubstr("  allowlist                   Manage the secure network's "
                                     "egress allowlist\n"));
  EXPECT_THAT(outcome.out, HasSubstr("NETD_SOCKET"));
  EXPECT_THAT(outcome.out, HasSubstr("  dns                         Read the secure networks' "
                                     "filtered DNS decisions\n"));
  EXPECT_THAT(outcome.out, HasSubstr("  host                        Show how this VM host's OVS "
                                     "ports are secured\n"));
  EXPECT_THAT(outcome.out, HasSubstr("  netctl host ports --bridge br-secure\n"));
}

TEST(NetctlHelpTest, DnsLogExplainsTheFilteredDnsItsVerdictsAndWhoMayReadIt) {
  const auto group = Netctl({"dns", "--help"});
  EXPECT_EQ(group.exit_code, kExitOk);
  EXPECT_THAT(group.out, HasSubstr("only the names their allowlist rules name"));
  EXPECT_THAT(group.out, HasSubstr("never leaves the backend"));
  EXPECT_THAT(group.out, HasSubstr("  log                         List the filtered DNS's recent "
                                   "decisions\n"));
  const auto log = Netctl({"dns", "log", "--help"});
  EXPECT_EQ(log.exit_code, kExitOk);
  EXPECT_THAT(log.out, HasSubstr("last 1000 decisions"));
  EXPECT_THAT(log.out, HasSubstr("Needs admin rights"));
  for (const char* verdict :
       {"allowed", "cached", "local", "refused", "qtype_refused", "over_name_budget",
        "unknown_source", "rate_limited", "servfail", "upstream_timeout", "overloaded"}) {
    EXPECT_THAT(log.out, HasSubstr(std::string("\n  ") + verdict + " ")) << verdict;
  }
  EXPECT_THAT(log.out, HasSubstr("  --vm VM "));
  EXPECT_THAT(log.out, HasSubstr("  --limit N "));
}

TEST(NetctlHelpTest, AllowlistAddExplainsQtypes) {
  const auto add = Netctl({"allowlist", "add", "--help"});
  EXPECT_EQ(add.exit_code, kExitOk);
  EXPECT_THAT(add.out, HasSubstr("  --qtype TYPE "));
  EXPECT_THAT(add.out, HasSubstr("A and AAAA when none is given"));
  EXPECT_THAT(add.out, HasSubstr("HTTPS, MX, NS, PTR, SOA, SRV, SVCB or TXT"));
  EXPECT_THAT(add.out, HasSubstr("--qtype A --vm vm-42"));
}

TEST(NetctlHelpTest, HostPortsExplainsEveryStateTheFlowsAndWhoMayReadIt) {
  const auto group = Netctl({"host", "--help"});
  EXPECT_EQ(group.exit_code, kExitOk);
  EXPECT_THAT(group.out, HasSubstr("fail_mode=secure"));
  EXPECT_THAT(group.out, HasSubstr("no_host_role"));
  EXPECT_THAT(group.out, HasSubstr("  ports                       List the ports of netd's bridges "
                                   "and their state\n"));
  const auto ports = Netctl({"host", "ports", "--help"});
  EXPECT_EQ(ports.exit_code, kExitOk);
  for (const char* state : {"forward", "pinned", "pinned-mac", "refused", "pending"}) {
    EXPECT_THAT(ports.out, HasSubstr(std::string("\n  ") + state + " ")) << state;
  }
  EXPECT_THAT(ports.out, HasSubstr("\"5 installed\""));
  EXPECT_THAT(ports.out, HasSubstr("\"5 pending\""));
  EXPECT_THAT(ports.out, HasSubstr("Needs the service role"));
  EXPECT_THAT(ports.out, HasSubstr("refuses with no_host_role (exit status 1)"));
  EXPECT_THAT(ports.out, HasSubstr("  --bridge NAME "));
}

class NetctlUsageErrorTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(NetctlUsageErrorTest, ExitsTwoWithAPointerToTheHelp) {
  const auto outcome = Netctl(GetParam());
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_THAT(outcome.err, StartsWith("netctl: "));
  EXPECT_THAT(outcome.err, HasSubstr("--help"));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, NetctlUsageErrorTest,
    ::testing::Values(std::vector<std::string>{},                      // no command
                      std::vector<std::string>{"reboot"},              // unknown
                      std::vector<std::string>{"vm"},                  // no subcommand
                      std::vector<std::string>{"vm", "bind", "vm-1"},  // no --network
                      std::vector<std::string>{"vm", "bind", "--network", "secure"},  // no VM
                      std::vector<std::string>{"vm", "show", "a", "b"},               // extra VM
                      std::vector<std::string>{"audit", "--limit", "many"},
                      std::vector<std::string>{"audit", "--after", "-1"},
                      std::vector<std::string>{"audit", "verify", "--after", "3"},
                      std::vector<std::string>{"--timeout", "0", "status"},
                      std::vector<std::string>{"status", "--colour"},
                      std::vector<std::string>{"allowlist"},
                      std::vector<std::string>{"allowlist", "show"},          // no rule
                      std::vector<std::string>{"allowlist", "assign", "r1"},  // no VM
                      std::vector<std::string>{"allowlist", "add", "r1", "--proto", "tcp", "--port",
                                               "22", "--all-vms"},  // no --dest
                      std::vector<std::string>{"allowlist", "add", "r1", "--dest", "1.2.3.4",
                                               "--port", "22", "--all-vms"},  // no --proto
                      std::vector<std::string>{"allowlist", "add", "r1", "--dest", "1.2.3.4",
                                               "--proto", "tcp", "--all-vms"},  // no --port
                      std::vector<std::string>{"dns"},                          // no subcommand
                      std::vector<std::string>{"dns", "show"},                  // unknown
                      std::vector<std::string>{"dns", "log", "vm-1"},           // not --vm
                      std::vector<std::string>{"dns", "log", "--vm"},           // no VM
                      std::vector<std::string>{"dns", "log", "--limit", "-1"},
                      std::vector<std::string>{"dns", "log", "--limit", "many"},
                      std::vector<std::string>{"host"},                           // no subcommand
                      std::vector<std::string>{"host", "bridges"},                // unknown
                      std::vector<std::string>{"host", "ports", "br-secure"},     // not --bridge
                      std::vector<std::string>{"host", "ports", "--bridge"},      // no name
                      std::vector<std::string>{"host", "ports", "--bridge", ""},  // empty name
                      std::vector<std::string>{"host", "ports", "--vm",
                                               "vm-1"}));  // no such filter

TEST(NetctlAllowlistUsageTest, AddNeedsEitherVmsOrAllVms) {
  const auto outcome =
      Netctl({"allowlist", "add", "r1", "--dest", "1.2.3.4", "--proto", "tcp", "--port", "22"});
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_THAT(outcome.err, StartsWith("netctl: --vm or --all-vms is required\n"));

  const auto both = Netctl({"allowlist", "add", "r1", "--dest", "1.2.3.4", "--proto", "tcp",
                            "--port", "22", "--vm", "vm-1", "--all-vms"});
  EXPECT_EQ(both.exit_code, kExitUsage);
  EXPECT_THAT(both.err, StartsWith("netctl: --all-vms excludes --vm\n"));
}

TEST(NetctlSocketPathTest, OptionWinsOverEnvironmentWhichWinsOverDefault) {
  EXPECT_EQ(ResolveSocketPath("/a.sock", "/b.sock"), "/a.sock");
  EXPECT_EQ(ResolveSocketPath(std::nullopt, "/b.sock"), "/b.sock");
  EXPECT_EQ(ResolveSocketPath(std::nullopt, std::nullopt), "/run/netd/netd.sock");
  EXPECT_EQ(ResolveSocketPath("", ""), "/run/netd/netd.sock");
}

TEST(NetctlUnreachableTest, NamesTheSocketFromTheEnvironment) {
  cli_testing::ScratchDirectory directory;
  const std::string path = (directory.path() / "absent.sock").string();
  const auto outcome = Netctl({"status"}, path);
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_THAT(outcome.err, StartsWith("netctl: cannot reach netd at " + path +
                                      ": connect: No such file or directory\n"));
  EXPECT_THAT(outcome.err, HasSubstr("socket path from NETD_SOCKET; is netd running?"));
}

TEST(NetctlUnreachableTest, OptionOverridesEnvironment) {
  cli_testing::ScratchDirectory directory;
  const std::string path = (directory.path() / "absent.sock").string();
  const auto outcome = Netctl({"vm", "list", "--socket", path}, "/elsewhere.sock");
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.err, HasSubstr("cannot reach netd at " + path));
  EXPECT_THAT(outcome.err, HasSubstr("socket path from --socket"));
}

TEST(NetctlUnreachableTest, HungNetdTimesOut) {
  ScriptedServer hung({});
  const auto outcome = Netctl({"--timeout", "0.2", "status"}, hung.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.err, HasSubstr("no complete answer within 200 ms"));
}

TEST(NetctlUnreachableTest, GarbledAnswerExitsThree) {
  ScriptedServer server({"SSH-2.0-OpenSSH_9.2\r\n"});
  const auto outcome = Netctl({"status"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.err, StartsWith("netctl: netd at " + server.socket_path()));
}

TEST(NetctlRefusalTest, PrintsMessageCodeAndField) {
  ScriptedServer server({HttpReply(
      422, "Unprocessable Entity", "application/json",
      R"({"error":{"code":"unknown_network","message":"no network \"x\"","field":"network"}})")});
  const auto outcome = Netctl({"vm", "bind", "vm-1", "--network", "x"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_EQ(outcome.err, "netctl: no network \"x\" (unknown_network, field network)\n");
}

TEST(NetctlRefusalTest, WithJsonAlsoPrintsTheErrorBody) {
  ScriptedServer server({HttpReply(404, "Not Found", "application/json",
                                   R"({"error":{"code":"not_found","message":"no VM vm-1"}})")});
  const auto outcome = Netctl({"vm", "show", "vm-1", "--json"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_EQ(nlohmann::json::parse(outcome.out)["error"]["code"], "not_found");
  EXPECT_EQ(outcome.err, "netctl: no VM vm-1 (not_found)\n");
}

TEST(NetctlAuditVerifyTest, BrokenChainExitsOneNamingTheFirstBadRecord) {
  ScriptedServer server({HttpReply(
      200, "OK", "application/json",
      R"({"ok":false,"length":5,"first_bad_seq":3,"reason":"the hash does not match"})")});
  const auto outcome = Netctl({"audit", "verify"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_EQ(outcome.err, "netctl: audit chain broken at record 3 of 5: the hash does not match\n");
}

TEST(NetctlAuditVerifyTest, BrokenChainWithJsonPrintsTheBodyAndStillExitsOne) {
  ScriptedServer server({HttpReply(200, "OK", "application/json",
                                   R"({"ok":false,"length":5,"first_bad_seq":3,"reason":"x"})")});
  const auto outcome = Netctl({"--json", "audit", "verify"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_EQ(nlohmann::json::parse(outcome.out)["first_bad_seq"], 3);
}

TEST(NetctlAuditTest, FullPageSaysHowToReadOn) {
  ScriptedServer server({HttpReply(
      200, "OK", "application/json",
      R"({"records":[{"seq":7,"time_ms":1764334800000,)"
      R"("caller":{"uid":0,"gid":0,"pid":123,"exe":"/usr/bin/x"},"action":"vm.bind",)"
      R"("object":"vm/vm1","request":{},"result":"refused","status":409,)"
      R"("error_code":"bound_elsewhere","prev_hash":"00","hash":"11"}],"next_after":7})")});
  const auto outcome = Netctl({"audit", "--after", "6", "--limit", "1"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk);
  EXPECT_EQ(
      outcome.out,
      "SEQ  TIME (UTC)                ACTION   OBJECT  RESULT                       UID  PID  EXE\n"
      "  7  2025-11-28T13:00:00.000Z  vm.bind  vm/vm1  refused 409 bound_elsewhere    0  123  "
      "/usr/bin/x\n"
      "more may follow: netctl audit --after 7 --limit 1\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/audit?after=6&limit=1 HTTP/1.1"));
}

TEST(NetctlAuditTest, UnparsableRecordIsListedNotFatal) {
  ScriptedServer server(
      {HttpReply(200, "OK", "application/json",
                 R"({"records":[{"seq":4,"unparsable":"{garbage","prev_hash":"00","hash":"11"}],)"
                 R"("next_after":4})")});
  const auto outcome = Netctl({"audit"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            "SEQ  TIME (UTC)  ACTION  OBJECT  RESULT             UID  PID  EXE\n"
            "  4  -           -       -       unparsable record    -    -  -\n");
}

constexpr const char* kRuleJson =
    R"({"rule":"flexlm","destinations":["203.0.113.7","198.51.100.0/24","lic.example.org"],)"
    R"("protocol":"tcp","ports":["27000-27010","1717"],"qtypes":["A","TXT"],)"
    R"("vms":["vm-1","vm-2"],"comment":"FlexLM","created_at":"2026-11-28T13:00:00.000Z",)"
    R"("updated_at":"2026-11-28T13:05:00.000Z","bound_vms":1)";

// The rule as `show` and the mutations print it (without the bound VMs line).
constexpr const char* kRuleFields =
    "rule:          flexlm\n"
    "destinations:  203.0.113.7, 198.51.100.0/24, lic.example.org\n"
    "protocol:      tcp\n"
    "ports:         27000-27010, 1717\n"
    "qtypes:        A, TXT\n"
    "vms:           vm-1, vm-2\n"
    "comment:       FlexLM\n"
    "created:       2026-11-28T13:00:00.000Z\n"
    "updated:       2026-11-28T13:05:00.000Z\n";

std::string RuleReply(int status, std::string_view reason, std::string_view extra = "") {
  return cli_testing::HttpReply(status, reason, "application/json",
                                std::string(kRuleJson) + std::string(extra) + "}");
}

// The JSON body of a raw HTTP request.
nlohmann::json RequestBody(const std::string& request) {
  return nlohmann::json::parse(request.substr(request.find("\r\n\r\n") + 4));
}

TEST(NetctlAllowlistTest, AddSendsTheWholeRuleFromRepeatedAndCommaSeparatedOptions) {
  ScriptedServer server({RuleReply(201, "Created")});
  // The rule's name may follow an option: each option takes exactly one value.
  const auto outcome = Netctl({"allowlist",
                               "add",
                               "--dest",
                               "203.0.113.7",
                               "flexlm",
                               "--dest",
                               "198.51.100.0/24,lic.example.org",
                               "--proto",
                               "tcp",
                               "--port",
                               "27000-27010,1717",
                               "--qtype",
                               "A",
                               "--qtype",
                               "txt",
                               "--vm",
                               "vm-1",
                               "--vm",
                               "vm-2",
                               "--comment",
                               "FlexLM"},
                              server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            std::string("allowlist rule flexlm created\n") + kRuleFields + "bound VMs:     1\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("PUT /v1/allowlist/flexlm HTTP/1.1\r\n"));
  EXPECT_EQ(RequestBody(requests[0]), nlohmann::json::parse(R"({
      "destinations": ["203.0.113.7", "198.51.100.0/24", "lic.example.org"],
      "protocol": "tcp", "ports": ["27000-27010", "1717"], "qtypes": ["A", "txt"],
      "vms": ["vm-1", "vm-2"], "comment": "FlexLM"})"));
}

TEST(NetctlAllowlistTest, AddForAllVmsSendsAStarAndNoComment) {
  ScriptedServer server({RuleReply(200, "OK")});
  const auto outcome = Netctl({"allowlist", "add", "flexlm", "--dest", "lic.example.org", "--proto",
                               "both", "--port", "1717", "--all-vms"},
                              server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_THAT(outcome.out, StartsWith("allowlist rule flexlm updated\n"));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(RequestBody(requests[0]), nlohmann::json::parse(R"({
      "destinations": ["lic.example.org"], "protocol": "both", "ports": ["1717"], "vms": "*"})"));
}

TEST(NetctlAllowlistTest, ListShortensLongCellsAndMarksRulesForEveryVm) {
  ScriptedServer server({HttpReply(
      200, "OK", "application/json",
      std::string(R"({"rules":[)") + kRuleJson + "}," +
          R"({"rule":"updates","destinations":["a.example.org","b.example.org",)"
          R"("c.example.org","203.0.113.0/24"],"protocol":"both","ports":["443"],"vms":"*",)"
          R"("comment":"","created_at":"2026-11-28T13:00:00.000Z",)"
          R"("updated_at":"2026-11-28T13:00:00.000Z","bound_vms":12},)"
          R"({"rule":"idle","destinations":["192.0.2.1"],"protocol":"udp","ports":["53"],)"
          R"("vms":[],"comment":"none yet","created_at":"2026-11-28T13:00:00.000Z",)"
          R"("updated_at":"2026-11-28T13:00:00.000Z","bound_vms":0}]})")});
  const auto outcome = Netctl({"allowlist", "list"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            "RULE     PROTOCOL  PORTS             DESTINATIONS                                     "
            "  VMS        BOUND  COMMENT\n"
            "flexlm   tcp       27000-27010,1717  203.0.113.7,198.51.100.0/24,lic.example.org      "
            "  vm-1,vm-2      1  FlexLM\n"
            "updates  both      443               a.example.org,b.example.org,c.example.org +1 more"
            "  *             12  -\n"
            "idle     udp       53                192.0.2.1                                        "
            "  -              0  none yet\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/allowlist HTTP/1.1\r\n"));
}

TEST(NetctlAllowlistTest, ListWithoutRulesSaysSo) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", R"({"rules":[]})")});
  EXPECT_EQ(Netctl({"allowlist", "list"}, server.socket_path()).out, "no allowlist rules\n");
}

TEST(NetctlAllowlistTest, ShowPrintsEveryFieldAndTheBoundVms) {
  ScriptedServer server({RuleReply(200, "OK", R"(,"vms_bound":["vm-1"])")});
  const auto outcome = Netctl({"allowlist", "show", "flexlm"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, std::string(kRuleFields) + "bound VMs:     1 (vm-1)\n");
}

TEST(NetctlAllowlistTest, RmPrintsTheDeletedRule) {
  ScriptedServer server(
      {HttpReply(200, "OK", "application/json",
                 R"({"deleted":{"rule":"r1","destinations":["192.0.2.1"],"protocol":"udp",)"
                 R"("ports":["53"],"vms":"*","comment":""}})")});
  const auto outcome = Netctl({"allowlist", "rm", "r1"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            "allowlist rule r1 deleted; it was:\n"
            "rule:          r1\n"
            "destinations:  192.0.2.1\n"
            "protocol:      udp\n"
            "ports:         53\n"
            "qtypes:        A, AAAA\n"
            "vms:           * (every secure VM)\n"
            "comment:       -\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("DELETE /v1/allowlist/r1 HTTP/1.1\r\n"));
}

TEST(NetctlAllowlistTest, AssignAndUnassignEncodeRuleAndVm) {
  ScriptedServer server({RuleReply(200, "OK"), RuleReply(200, "OK")});
  const auto assigned = Netctl({"allowlist", "assign", "flex lm", "vm/1"}, server.socket_path());
  EXPECT_EQ(assigned.exit_code, kExitOk) << assigned.err;
  EXPECT_THAT(assigned.out, StartsWith("vm/1 assigned to allowlist rule flexlm\nrule: "));
  const auto unassigned =
      Netctl({"allowlist", "unassign", "flex lm", "vm/1"}, server.socket_path());
  EXPECT_EQ(unassigned.exit_code, kExitOk) << unassigned.err;
  EXPECT_THAT(unassigned.out, StartsWith("vm/1 unassigned from allowlist rule flexlm\nrule: "));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], StartsWith("PUT /v1/allowlist/flex%20lm/vms/vm%2F1 HTTP/1.1\r\n"));
  EXPECT_THAT(requests[1], StartsWith("DELETE /v1/allowlist/flex%20lm/vms/vm%2F1 HTTP/1.1\r\n"));
}

constexpr const char* kDnsLogJson =
    R"({"decisions":[{"at":"2026-11-28T18:40:01.123Z","vm":"sec1","source":"192.168.129.1",)"
    R"("name":"license.example.org","type":1,"verdict":"allowed",)"
    R"("opened":["198.51.100.2","198.51.100.3"]},)"
    R"({"at":"2026-11-28T18:40:00.980Z","vm":"sec1","source":"192.168.129.1",)"
    R"("name":"license.example.org","type":28,"verdict":"cached","opened":[]},)"
    R"({"at":"2026-11-28T18:39:58.002Z","vm":"sec2","source":"192.168.129.2",)"
    R"("name":"x7f3a.exfil.example.net","type":16,"verdict":"refused","opened":[]},)"
    R"({"at":"2026-11-28T18:39:57.000Z","vm":null,"source":"192.168.200.9",)"
    R"("name":"","type":99,"verdict":"unknown_source","opened":[]}]})";

TEST(NetctlDnsLogTest, ListsDecisionsNewestFirstInATable) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kDnsLogJson)});
  const auto outcome = Netctl({"dns", "log"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_THAT(outcome.err, IsEmpty());
  EXPECT_EQ(outcome.out,
            "TIME (UTC)                VM    SOURCE         NAME                     TYPE    "
            "VERDICT         OPENED\n"
            "2026-11-28T18:40:01.123Z  sec1  192.168.129.1  license.example.org      A       "
            "allowed         198.51.100.2,198.51.100.3\n"
            "2026-11-28T18:40:00.980Z  sec1  192.168.129.1  license.example.org      AAAA    "
            "cached          -\n"
            "2026-11-28T18:39:58.002Z  sec2  192.168.129.2  x7f3a.exfil.example.net  TXT     "
            "refused         -\n"
            "2026-11-28T18:39:57.000Z  -     192.168.200.9  -                        TYPE99  "
            "unknown_source  -\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/dns/log HTTP/1.1\r\n"));
}

TEST(NetctlDnsLogTest, VmAndLimitAreSentEncoded) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", R"({"decisions":[]})")});
  const auto outcome =
      Netctl({"dns", "log", "--vm", "vm 1&x", "--limit", "20"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, "no DNS decisions for VM vm 1&x\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/dns/log?vm=vm%201%26x&limit=20 HTTP/1.1\r\n"));
}

TEST(NetctlDnsLogTest, EmptyLogSaysSo) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", R"({"decisions":[]})")});
  const auto outcome = Netctl({"dns", "log"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, "no DNS decisions\n");
}

TEST(NetctlDnsLogTest, JsonPrintsNetdsBodyUnchanged) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kDnsLogJson)});
  const auto outcome = Netctl({"dns", "log", "--json"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(nlohmann::json::parse(outcome.out), nlohmann::json::parse(kDnsLogJson));
}

TEST(NetctlDnsLogTest, NetdWithoutTheGatewayRoleRefuses) {
  ScriptedServer server({HttpReply(
      409, "Conflict", "application/json",
      R"({"error":{"code":"no_filtered_dns","message":"this netd does not run the gateway role"}})")});
  const auto outcome = Netctl({"dns", "log"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_EQ(outcome.err, "netctl: this netd does not run the gateway role (no_filtered_dns)\n");
}

TEST(NetctlDnsLogTest, DecisionOfTheWrongShapeExitsThree) {
  ScriptedServer server(
      {HttpReply(200, "OK", "application/json", R"({"decisions":[{"at":"x","type":"A"}]})")});
  const auto outcome = Netctl({"dns", "log"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_THAT(outcome.err, StartsWith("netctl: netd sent a response this client does not "));
}

constexpr const char* kHostPortsJson =
    R"({"ports":[{"bridge":"br-secure","port":"br-secure","vm_id":null,"mac":null,)"
    R"("address":null,"state":"forward","flows_installed":true,"flows":1,"reason":null},)"
    R"({"bridge":"br-secure","port":"vnet0","vm_id":"vm-42","mac":"52:54:0a:51:00:0a",)"
    R"("address":"10.81.0.10","state":"pinned","flows_installed":true,"flows":9,)"
    R"("peers":["vm-45","vm-46"],"reason":null},)"
    R"({"bridge":"br-secure","port":"vnet1","vm_id":"vm-43","mac":"52:54:0a:51:00:05",)"
    R"("address":null,"state":"refused","flows_installed":false,"flows":0,)"
    R"("reason":"MAC encodes 10.81.0.5, outside the DHCP range 10.81.0.10-10.81.0.200"},)"
    R"({"bridge":"br-service","port":"vnet2","vm_id":"vm-44","mac":"02:00:00:00:00:01",)"
    R"("address":null,"state":"pinned-mac","flows_installed":false,"flows":5,)"
    R"json("reason":"MAC does not encode an address (52:54:a:b:c:d)"},)json"
    R"({"bridge":"br-service","port":"vnet3","vm_id":null,"mac":null,"address":null,)"
    R"("state":"pending","flows_installed":false,"flows":0,)"
    R"("reason":"interface vnet3 has no OpenFlow port number"}]})";

TEST(NetctlHostPortsTest, NamesTheLibvirtDomainWhereNetdKnowsIt) {
  ScriptedServer server({HttpReply(
      200, "OK", "application/json",
      R"({"ports":[{"bridge":"br-secure","port":"vnet0",)"
      R"("vm_id":"6b1c2a1e-0c55-4a8e-9d1f-5a7e2b3c4d01","vm":"vm1","mac":"52:54:0a:51:00:0a",)"
      R"("address":null,"state":"vm-stopped","flows_installed":false,"flows":0,)"
      R"("reason":"libvirt: the VM is not running"}]})")});
  const auto outcome = Netctl({"host", "ports"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            "BRIDGE     PORT   VM   MAC                ADDRESS  STATE       FLOWS  PEERS  REASON\n"
            "br-secure  vnet0  vm1  52:54:0a:51:00:0a  -        vm-stopped  0      -      "
            "libvirt: the VM is not running\n");
}

TEST(NetctlHostPortsTest, ListsEveryPortInATable) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kHostPortsJson)});
  const auto outcome = Netctl({"host", "ports"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_THAT(outcome.err, IsEmpty());
  EXPECT_EQ(outcome.out,
            "BRIDGE      PORT       VM     MAC                ADDRESS     STATE       FLOWS        "
            "PEERS        REASON\n"
            "br-secure   br-secure  -      -                  -           forward     1 installed  "
            "-            -\n"
            "br-secure   vnet0      vm-42  52:54:0a:51:00:0a  10.81.0.10  pinned      9 installed  "
            "vm-45,vm-46  -\n"
            "br-secure   vnet1      vm-43  52:54:0a:51:00:05  -           refused     0            "
            "-            MAC encodes 10.81.0.5, outside the DHCP range 10.81.0.10-10.81.0.200\n"
            "br-service  vnet2      vm-44  02:00:00:00:00:01  -           pinned-mac  5 pending    "
            "-            MAC does not encode an address (52:54:a:b:c:d)\n"
            "br-service  vnet3      -      -                  -           pending     0            "
            "-            interface vnet3 has no OpenFlow port number\n");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/host/ports HTTP/1.1\r\n"));
}

TEST(NetctlHostPortsTest, BridgeListsOnlyThatBridgesPorts) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kHostPortsJson),
                         HttpReply(200, "OK", "application/json", kHostPortsJson)});
  const auto outcome = Netctl({"host", "ports", "--bridge", "br-service"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(
      outcome.out,
      "BRIDGE      PORT   VM     MAC                ADDRESS  STATE       FLOWS      PEERS  REASON\n"
      "br-service  vnet2  vm-44  02:00:00:00:00:01  -        pinned-mac  5 pending  -      "
      "MAC does not encode an address (52:54:a:b:c:d)\n"
      "br-service  vnet3  -      -                  -        pending     0          -      "
      "interface vnet3 has no OpenFlow port number\n");
  const auto none = Netctl({"host", "ports", "--bridge", "br-datain"}, server.socket_path());
  EXPECT_EQ(none.exit_code, kExitOk) << none.err;
  EXPECT_EQ(none.out, "no ports on bridge br-datain\n");
  // The filter is netctl's: netd is asked for every port.
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], StartsWith("GET /v1/host/ports HTTP/1.1\r\n"));
  EXPECT_THAT(requests[1], StartsWith("GET /v1/host/ports HTTP/1.1\r\n"));
}

TEST(NetctlHostPortsTest, NoPortsSaysSo) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", R"({"ports":[]})")});
  const auto outcome = Netctl({"host", "ports"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, "no ports\n");
}

TEST(NetctlHostPortsTest, JsonPrintsNetdsBodyUnchanged) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kHostPortsJson)});
  const auto outcome = Netctl({"host", "ports", "--json"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(nlohmann::json::parse(outcome.out), nlohmann::json::parse(kHostPortsJson));
}

TEST(NetctlHostPortsTest, JsonWithBridgeKeepsOnlyThatBridgesPortsUnchanged) {
  ScriptedServer server({HttpReply(200, "OK", "application/json", kHostPortsJson)});
  const auto outcome =
      Netctl({"--json", "host", "ports", "--bridge", "br-secure"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  const auto all = nlohmann::json::parse(kHostPortsJson)["ports"];
  const auto printed = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(printed, (nlohmann::json{{"ports", {all[0], all[1], all[2]}}}));
}

TEST(NetctlHostPortsTest, NetdWithoutTheHostRoleRefuses) {
  ScriptedServer server(
      {HttpReply(409, "Conflict", "application/json",
                 R"({"error":{"code":"no_host_role","message":"this netd does not run the host )"
                 R"(role"}})"),
       HttpReply(409, "Conflict", "application/json",
                 R"({"error":{"code":"no_host_role","message":"this netd does not run the host )"
                 R"(role"}})")});
  const auto outcome = Netctl({"host", "ports"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_EQ(outcome.err, "netctl: this netd does not run the host role (no_host_role)\n");
  const auto json =
      Netctl({"--json", "host", "ports", "--bridge", "br-secure"}, server.socket_path());
  EXPECT_EQ(json.exit_code, kExitRefused);
  EXPECT_EQ(nlohmann::json::parse(json.out)["error"]["code"], "no_host_role");
}

TEST(NetctlHostPortsTest, PortOfTheWrongShapeExitsThree) {
  ScriptedServer server(
      {HttpReply(200, "OK", "application/json",
                 R"({"ports":[{"bridge":"br-secure","port":"vnet0","flows":"5"}]})"),
       HttpReply(200, "OK", "application/json",
                 R"({"ports":[{"bridge":"br-secure","port":"vnet0","flows":"5"}]})")});
  const auto outcome = Netctl({"host", "ports"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_THAT(outcome.err, StartsWith("netctl: netd sent a response this client does not "));
  // Also when --json --bridge filters: netctl reads the ports to pick them.
  const auto json =
      Netctl({"--json", "host", "ports", "--bridge", "br-secure"}, server.socket_path());
  EXPECT_EQ(json.exit_code, kExitUnreachable);
  EXPECT_THAT(json.out, IsEmpty());
}

TEST(NetctlVmShowTest, PrintsTheLeaseAndEveryDnsLearnedDestination) {
  ScriptedServer server({HttpReply(
      200, "OK", "application/json",
      R"({"vm":"sec1","network":"secure","ip":"192.168.129.1","mac":"52:54:c0:a8:81:01",)"
      R"("hostname":null,"created_at":"2026-11-28T13:00:00.000Z",)"
      R"("lease":{"state":"active","expires_at":"2026-11-28T19:00:00.000Z"},)"
      R"("dns_learned":[{"destination":"198.51.100.2","protocol":"tcp","port":443,)"
      R"("name":"license.example.org","expires_at":"2026-11-28T18:45:01.123Z"},)"
      R"({"destination":"198.51.100.3","protocol":"udp","port":27000,)"
      R"("name":"license.example.org","expires_at":"2026-11-28T18:45:02.000Z"}]})")});
  const auto outcome = Netctl({"vm", "show", "sec1"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out,
            "vm:           sec1\n"
            "network:      secure\n"
            "ip:           192.168.129.1\n"
            "mac:          52:54:c0:a8:81:01\n"
            "hostname:     -\n"
            "created:      2026-11-28T13:00:00.000Z\n"
            "lease:        active, expires 2026-11-28T19:00:00.000Z\n"
            "dns learned:  198.51.100.2 tcp/443 license.example.org, expires "
            "2026-11-28T18:45:01.123Z\n"
            "dns learned:  198.51.100.3 udp/27000 license.example.org, expires "
            "2026-11-28T18:45:02.000Z\n");
}

TEST(NetctlVmShowTest, NothingLearnedAndNoGatewayPrintNoDnsLines) {
  const std::string binding =
      R"({"vm":"svc1","network":"service","ip":"192.168.122.2","mac":"52:54:c0:a8:7a:02",)"
      R"("hostname":"h1","created_at":"2026-11-28T13:00:00.000Z")";
  ScriptedServer server(
      {HttpReply(200, "OK", "application/json", binding + R"(,"lease":null,"dns_learned":[]})"),
       HttpReply(200, "OK", "application/json", binding + "}")});
  const auto gateway = Netctl({"vm", "show", "svc1"}, server.socket_path());
  EXPECT_EQ(gateway.exit_code, kExitOk) << gateway.err;
  EXPECT_THAT(gateway.out, HasSubstr("\nlease:     none\n"));
  EXPECT_THAT(gateway.out, Not(HasSubstr("dns")));
  const auto elsewhere = Netctl({"vm", "show", "svc1"}, server.socket_path());
  EXPECT_EQ(elsewhere.exit_code, kExitOk) << elsewhere.err;
  EXPECT_THAT(elsewhere.out, Not(HasSubstr("lease")));
  EXPECT_THAT(elsewhere.out, Not(HasSubstr("dns")));
}

}  // namespace
}  // namespace netd::netctl
