// netctl's command line handling and rendering, run in-process: no daemon (scripted servers
// stand in for netd where an answer is needed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "netctl/netctl.hpp"
#include "test_support.hpp"

namespace netd::netctl {
namespace {

using cli_testing::HttpReply;
using cli_testing::ScriptedServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
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
    ::testing::Values(std::vector<std::string>{}, std::vector<std::string>{"status"},
                      std::vector<std::string>{"networks"}, std::vector<std::string>{"vm"},
                      std::vector<std::string>{"vm", "bind"},
                      std::vector<std::string>{"vm", "show"},
                      std::vector<std::string>{"vm", "list"},
                      std::vector<std::string>{"vm", "unbind"}, std::vector<std::string>{"audit"},
                      std::vector<std::string>{"metrics"}));

TEST(NetctlHelpTest, TopLevelListsEveryCommandWithItsSummary) {
  const auto outcome = Netctl({"--help"});
  EXPECT_THAT(outcome.out, HasSubstr("  status "));
  EXPECT_THAT(outcome.out,
              HasSubstr("  vm                          Bind, show, list and unbind VMs\n"));
  EXPECT_THAT(outcome.out, HasSubstr("NETD_SOCKET"));
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
                      std::vector<std::string>{"audit", "--verify", "--after", "3"},
                      std::vector<std::string>{"--timeout", "0", "status"},
                      std::vector<std::string>{"status", "--colour"}));

TEST(NetctlSocketPathTest, OptionWinsOverEnvironmentWhichWinsOverDefault) {
  EXPECT_EQ(ResolveSocketPath("/a.sock", "/b.sock"), "/a.sock");
  EXPECT_EQ(ResolveSocketPath(std::nullopt, "/b.sock"), "/b.sock");
  EXPECT_EQ(ResolveSocketPath(std::nullopt, std::nullopt), "/run/netd/netd.sock");
  EXPECT_EQ(ResolveSocketPath("", ""), "/run/netd/netd.sock");
}

TEST(NetctlUnreachableTest, NamesTheSocketFromTheEnvironment) {
  lab::TempDir directory("cli");
  const std::string path = (directory.path() / "absent.sock").string();
  const auto outcome = Netctl({"status"}, path);
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_THAT(outcome.err, StartsWith("netctl: cannot reach netd at " + path +
                                      ": connect: No such file or directory\n"));
  EXPECT_THAT(outcome.err, HasSubstr("socket path from NETD_SOCKET; is netd running?"));
}

TEST(NetctlUnreachableTest, OptionOverridesEnvironment) {
  lab::TempDir directory("cli");
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
  const auto outcome = Netctl({"audit", "--verify"}, server.socket_path());
  EXPECT_EQ(outcome.exit_code, kExitRefused);
  EXPECT_THAT(outcome.out, IsEmpty());
  EXPECT_EQ(outcome.err, "netctl: audit chain broken at record 3 of 5: the hash does not match\n");
}

TEST(NetctlAuditVerifyTest, BrokenChainWithJsonPrintsTheBodyAndStillExitsOne) {
  ScriptedServer server({HttpReply(200, "OK", "application/json",
                                   R"({"ok":false,"length":5,"first_bad_seq":3,"reason":"x"})")});
  const auto outcome = Netctl({"--json", "audit", "--verify"}, server.socket_path());
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

}  // namespace
}  // namespace netd::netctl
