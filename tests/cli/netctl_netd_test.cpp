// The netctl binary against a real netd, as an operator or a script would run it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "netd/lab/command.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "test_support.hpp"

namespace netd::cli_testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

class NetctlAgainstNetdTest : public ::testing::Test {
 protected:
  void SetUp() override { netd_.Start(); }

  // netctl with --socket pointing at this test's netd.
  lab::CommandResult Netctl(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {"--socket", netd_.socket().string()});
    return NetctlWithEnvironment(std::move(arguments), {});
  }

  static lab::CommandResult NetctlWithEnvironment(std::vector<std::string> arguments,
                                                  std::vector<std::string> environment) {
    arguments.insert(arguments.begin(), NETCTL_BINARY);
    return lab::RunCommand(arguments, {.env = MinimalEnvironment(std::move(environment)),
                                       .inherit_environment = false});
  }

  // Runs netctl expecting success; returns its stdout.
  std::string Succeeds(std::vector<std::string> arguments) {
    auto result = Netctl(arguments);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_THAT(result.err, IsEmpty());
    return result.out;
  }

  lab::TempDir directory_{"netctl"};
  testing::NetdProcess netd_{directory_.path()};
};

TEST_F(NetctlAgainstNetdTest, StatusShowsVersionRolesUptimeCountsAndAuditLength) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  Succeeds({"vm", "bind", "vm-2", "--network", "service"});
  const auto out = Succeeds({"status"});
  EXPECT_THAT(out, ContainsRegex("version: +0\\.1\\.0\n"));
  EXPECT_THAT(out, ContainsRegex("roles: +gateway, host\n"));
  EXPECT_THAT(out, ContainsRegex("uptime: +[0-9]+s\n"));
  EXPECT_THAT(out, ContainsRegex("VMs bound: +2\n"));
  EXPECT_THAT(out, ContainsRegex("audit records: +2\n"));
  EXPECT_THAT(out, HasSubstr("NETWORK  VMS\n"));
  EXPECT_THAT(out, HasSubstr("secure     1\n"));
  EXPECT_THAT(out, HasSubstr("datain     0\n"));
}

TEST_F(NetctlAgainstNetdTest, JsonPrintsNetdsBodyForScripts) {
  const auto status = nlohmann::json::parse(Succeeds({"--json", "status"}));
  EXPECT_EQ(status["version"], "0.1.0");
  EXPECT_EQ(status["vms"]["total"], 0);
  EXPECT_TRUE(status.contains("started_at"));

  // Global options also work after the command.
  const auto bound = nlohmann::json::parse(
      Succeeds({"vm", "bind", "vm-1", "--network", "secure", "--hostname", "h1", "--json"}));
  EXPECT_EQ(bound["ip"], "192.168.129.1");
  EXPECT_EQ(bound["hostname"], "h1");
}

TEST_F(NetctlAgainstNetdTest, NetworksListsEveryConfiguredNetwork) {
  const auto out = Succeeds({"networks"});
  EXPECT_THAT(out,
              MatchesRegex("NAME +BRIDGE +VLAN +CIDR +GATEWAY +DHCP RANGE +EGRESS +VMS +FREE\n"
                           "secure +br-secure +1081 +192\\.168\\.128\\.0/17 +192\\.168\\.128\\.1 +"
                           "192\\.168\\.129\\.1-192\\.168\\.255\\.254 +allowlist +0 +[0-9]+\n"
                           "service .*\n"
                           "datain .*\n"));
}

TEST_F(NetctlAgainstNetdTest, BindIsIdempotent) {
  const auto first = Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  EXPECT_THAT(first, StartsWith("vm-1 bound to secure\n"));
  EXPECT_THAT(first, ContainsRegex("ip: +192\\.168\\.129\\.1\n"));
  EXPECT_THAT(first, ContainsRegex("mac: +52:54:c0:a8:81:01\n"));
  EXPECT_THAT(first, ContainsRegex("hostname: +-\n"));

  const auto again = Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  EXPECT_THAT(again, StartsWith("vm-1 already bound to secure\n"));
  EXPECT_THAT(again, ContainsRegex("ip: +192\\.168\\.129\\.1\n"));

  // Binding again with another hostname keeps the addresses and replaces the hostname.
  const auto renamed = Succeeds({"vm", "bind", "vm-1", "--network", "secure", "--hostname", "h2"});
  EXPECT_THAT(renamed, StartsWith("vm-1 already bound to secure\n"));
  EXPECT_THAT(renamed, ContainsRegex("ip: +192\\.168\\.129\\.1\n"));
  EXPECT_THAT(renamed, ContainsRegex("hostname: +h2\n"));
}

TEST_F(NetctlAgainstNetdTest, BindToAnotherNetworkIsRefused) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  const auto result = Netctl({"vm", "bind", "vm-1", "--network", "service"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, MatchesRegex("netctl: .+ \\([a-z_]+(, field [a-z_]+)?\\)\n"));
}

TEST_F(NetctlAgainstNetdTest, RefusalsNameTheRejectedField) {
  const auto unknown_network = Netctl({"vm", "bind", "vm-1", "--network", "nowhere"});
  EXPECT_EQ(unknown_network.exit_code, 1);
  EXPECT_THAT(unknown_network.err, MatchesRegex("netctl: .+ \\([a-z_]+, field network\\)\n"));

  // Percent-encoded, so it reaches netd as one (invalid) id instead of another endpoint.
  const auto bad_id = Netctl({"vm", "show", "../status"});
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_THAT(bad_id.err, MatchesRegex("netctl: .+ \\([a-z_]+, field vm\\)\n"));
}

TEST_F(NetctlAgainstNetdTest, JsonRefusalPrintsTheErrorBodyToo) {
  const auto result = Netctl({"--json", "vm", "show", "vm-9"});
  EXPECT_EQ(result.exit_code, 1);
  const auto body = nlohmann::json::parse(result.out);
  EXPECT_TRUE(body["error"]["code"].is_string());
  EXPECT_THAT(result.err, StartsWith("netctl: "));
}

TEST_F(NetctlAgainstNetdTest, ShowListAndUnbind) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure", "--hostname", "analysis-1"});
  Succeeds({"vm", "bind", "vm-2", "--network", "datain"});

  EXPECT_THAT(Succeeds({"vm", "show", "vm-1"}),
              MatchesRegex("vm: +vm-1\nnetwork: +secure\nip: +192\\.168\\.129\\.1\n"
                           "mac: +52:54:c0:a8:81:01\nhostname: +analysis-1\ncreated: +[^ ]+Z\n"
                           "lease: +none\n"));

  const auto all = Succeeds({"vm", "list"});
  EXPECT_THAT(all, StartsWith("VM  "));
  EXPECT_THAT(all,
              ContainsRegex("\nvm-1 +secure +192\\.168\\.129\\.1 +52:54:c0:a8:81:01 +analysis-1 "));
  EXPECT_THAT(all, ContainsRegex("\nvm-2 +datain +192\\.168\\.123\\.3 +52:54:c0:a8:7b:03 +- "));

  const auto datain = Succeeds({"vm", "list", "--network", "datain"});
  EXPECT_THAT(datain, HasSubstr("vm-2"));
  EXPECT_THAT(datain, Not(HasSubstr("vm-1")));
  EXPECT_EQ(Succeeds({"vm", "list", "--network", "service"}), "no VMs bound to service\n");

  EXPECT_EQ(Succeeds({"vm", "unbind", "vm-1"}),
            "vm-1 unbound from secure; released 192.168.129.1 (52:54:c0:a8:81:01)\n");
  EXPECT_EQ(Netctl({"vm", "show", "vm-1"}).exit_code, 1);
  EXPECT_EQ(Netctl({"vm", "unbind", "vm-1"}).exit_code, 1);
}

TEST_F(NetctlAgainstNetdTest, ForwardOpenListRenewClose) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  EXPECT_EQ(Succeeds({"forward", "list"}), "no forwards\n");
  auto opened = Succeeds({"forward", "open", "vm-1", "--client", "198.51.100.7", "--ttl", "600"});
  EXPECT_THAT(opened, ContainsRegex("^forward fwd-[0-9a-f]+ opened for 198\\.51\\.100\\.7\n"));
  EXPECT_THAT(opened, ContainsRegex("\nconnect to: +\\(gateway\\):6000\n"));
  EXPECT_THAT(opened, ContainsRegex("\nreaches: +vm-1 192\\.168\\.129\\.1:22\n"));
  auto id = opened.substr(8, opened.find(' ', 8) - 8);

  auto listed = Succeeds({"forward", "list"});
  EXPECT_THAT(listed, StartsWith("ID  "));
  EXPECT_THAT(listed,
              ContainsRegex(id + " +198\\.51\\.100\\.7 +6000 +vm-1 +192\\.168\\.129\\.1:22 "));
  EXPECT_THAT(Succeeds({"forward", "renew", id, "--ttl", "60"}),
              ContainsRegex("\nexpires: +[^ ]+Z \\(in (5[89]|60) s\\)\n"));

  auto refused = Netctl({"forward", "open", "vm-1", "--client", "192.168.129.9"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("invalid_client_ip"));

  EXPECT_THAT(Succeeds({"forward", "close", id}),
              StartsWith("forward " + id + " closed; its sessions are cut\n"));
  EXPECT_EQ(Netctl({"forward", "close", id}).exit_code, 1);
}

TEST_F(NetctlAgainstNetdTest, AuditListsMutationsAndPages) {
  EXPECT_EQ(Succeeds({"audit"}), "no audit records\n");
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  Netctl({"vm", "bind", "vm-1", "--network", "nowhere"});
  Succeeds({"vm", "unbind", "vm-1"});

  const auto all = Succeeds({"audit"});
  EXPECT_THAT(all, MatchesRegex("SEQ +TIME \\(UTC\\) +ACTION +OBJECT +RESULT +UID +PID +EXE\n"
                                " *1 +[^ ]+Z +vm\\.bind +vm/vm-1 +ok 201 +0 +[0-9]+ +[^ ]+\n"
                                " *2 +[^ ]+Z +vm\\.bind +vm/vm-1 +refused 4[0-9][0-9] [a-z_]+ .*\n"
                                " *3 +[^ ]+Z +vm\\.unbind +vm/vm-1 +ok 200 .*\n"));

  const auto page = Succeeds({"audit", "--after", "1", "--limit", "1"});
  EXPECT_THAT(page, ContainsRegex("\n *2 "));
  EXPECT_THAT(page, Not(ContainsRegex("\n *[13] ")));
  EXPECT_THAT(page, HasSubstr("more may follow: netctl audit --after 2 --limit 1\n"));
  EXPECT_EQ(Succeeds({"audit", "--after", "3"}), "no audit records after 3\n");
}

TEST_F(NetctlAgainstNetdTest, AuditVerifyReportsAnIntactChain) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  Succeeds({"vm", "bind", "vm-2", "--network", "secure"});
  EXPECT_EQ(Succeeds({"audit", "verify"}), "audit chain intact: 2 records\n");
}

TEST_F(NetctlAgainstNetdTest, AuditVerifyNamesTheFirstTamperedRecord) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  Succeeds({"vm", "bind", "vm-2", "--network", "secure"});
  Succeeds({"vm", "bind", "vm-3", "--network", "secure"});

  // Tamper with record 2 behind netd's back, as someone with access to the store could.
  sqlite3* raw_db = nullptr;
  const auto db_path = (netd_.state_dir() / "netd.db").string();
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &raw_db), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw_db, sqlite3_close);
  sqlite3_busy_timeout(db.get(), 5000);
  ASSERT_EQ(
      sqlite3_exec(db.get(),
                   "UPDATE audit SET hash = CASE substr(hash, 1, 1) WHEN '0' THEN '1' ELSE '0' END"
                   " || substr(hash, 2) WHERE seq = 2",
                   nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db.get());

  const auto result = Netctl({"audit", "verify"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, StartsWith("netctl: audit chain broken at record 2 of 3: "));
}

// The chain anchored outside the store: netd appends its head to the anchor file (here when it
// stops); records cut from the end while netd is stopped leave a chain that is valid in itself,
// which netd's own verification (its anchor file) and netctl's (an anchor file kept elsewhere,
// an exported chain) both refuse.
TEST_F(NetctlAgainstNetdTest, RecordsCutFromTheEndAreFoundByTheAnchors) {
  for (const char* vm : {"vm-1", "vm-2", "vm-3"})
    Succeeds({"vm", "bind", vm, "--network", "secure"});
  ASSERT_EQ(netd_.Stop(), 0);
  const auto anchors = netd_.state_dir() / "audit-anchors";
  const auto kept = (directory_.path() / "kept-anchors").string();
  std::filesystem::copy_file(anchors, kept);
  netd_.Start();
  const auto before = (directory_.path() / "before.jsonl").string();
  EXPECT_EQ(Netctl({"audit", "export", "--output", before}).err,
            "exported 3 audit records to " + before + "\n");
  EXPECT_EQ(Succeeds({"audit", "verify", "--anchor", kept, "--input", before}),
            "audit chain intact: 3 records in " + before + ", anchors checked: 1\n");
  EXPECT_EQ(Succeeds({"audit", "verify", "--anchor", kept}),
            "audit chain intact: 3 records in netd's chain, anchors checked: 1\n");

  ASSERT_EQ(netd_.Stop(), 0);
  {
    sqlite3* raw_db = nullptr;
    ASSERT_EQ(sqlite3_open((netd_.state_dir() / "netd.db").c_str(), &raw_db), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw_db, sqlite3_close);
    ASSERT_EQ(sqlite3_exec(db.get(), "DELETE FROM audit WHERE seq = 3", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  netd_.Start();
  EXPECT_THAT(netd_.Log(), HasSubstr("audit: the chain does not hold the anchor of record 3"));
  const auto on_netd = Netctl({"audit", "verify"});
  EXPECT_EQ(on_netd.exit_code, 1);
  EXPECT_THAT(on_netd.err, HasSubstr("the chain ends at record 2 but an anchor names record 3"));
  const auto after = (directory_.path() / "after.jsonl").string();
  Netctl({"audit", "export", "--output", after});
  const auto offline = Netctl({"audit", "verify", "--anchor", kept, "--input", after});
  EXPECT_EQ(offline.exit_code, 1);
  EXPECT_EQ(offline.err, "netctl: audit chain broken at record 3 of 2 in " + after +
                             ": the chain ends at record 2 but an anchor names record 3 (records "
                             "removed from the end)\n");
  const auto unreadable = Netctl({"audit", "verify", "--anchor", kept + ".absent"});
  EXPECT_EQ(unreadable.exit_code, 2);
  EXPECT_THAT(unreadable.err, StartsWith("netctl: cannot read " + kept + ".absent"));
}

TEST_F(NetctlAgainstNetdTest, SocketFromEnvironmentAndOptionOverride) {
  const std::string socket = netd_.socket().string();
  const std::string absent = (netd_.state_dir() / "absent.sock").string();

  const auto from_environment = NetctlWithEnvironment({"status"}, {"NETD_SOCKET=" + socket});
  EXPECT_EQ(from_environment.exit_code, 0) << from_environment.err;

  const auto option_wins =
      NetctlWithEnvironment({"--socket", socket, "status"}, {"NETD_SOCKET=" + absent});
  EXPECT_EQ(option_wins.exit_code, 0) << option_wins.err;

  const auto wrong_option =
      NetctlWithEnvironment({"--socket", absent, "status"}, {"NETD_SOCKET=" + socket});
  EXPECT_EQ(wrong_option.exit_code, 3);
  EXPECT_THAT(wrong_option.err, HasSubstr("cannot reach netd at " + absent));
}

TEST_F(NetctlAgainstNetdTest, StoppedNetdExitsThreeNamingTheSocket) {
  netd_.Stop();
  const auto result = Netctl({"status"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, StartsWith("netctl: cannot reach netd at " + netd_.socket().string() +
                                     ": connect: "));
}

TEST_F(NetctlAgainstNetdTest, UsageErrorsExitTwoWithoutAskingNetd) {
  const auto result = Netctl({"vm", "bind", "vm-1"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--network is required"));
  EXPECT_EQ(Succeeds({"audit"}), "no audit records\n");
}

TEST_F(NetctlAgainstNetdTest, AllowlistAddListShowAndRm) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  const auto created = Succeeds({"allowlist",
                                 "add",
                                 "flexlm",
                                 "--dest",
                                 "203.0.113.7",
                                 "--dest",
                                 "198.51.100.0/24",
                                 "--dest",
                                 "lic.example.org",
                                 "--proto",
                                 "tcp",
                                 "--port",
                                 "27000-27010",
                                 "--port",
                                 "1717",
                                 "--qtype",
                                 "a,TXT",
                                 "--vm",
                                 "vm-1",
                                 "--comment",
                                 "FlexLM servers"});
  EXPECT_THAT(created, StartsWith("allowlist rule flexlm created\nrule:          flexlm\n"));
  EXPECT_THAT(created, ContainsRegex("\nbound VMs: +1\n"));
  Succeeds({"allowlist", "add", "updates", "--dest", "*.example.org,203.0.113.0/24", "--proto",
            "both", "--port", "443", "--all-vms"});

  // Adding again replaces the rule as a whole.
  const auto replaced = Succeeds({"allowlist", "add", "updates", "--dest", "*.example.org",
                                  "--proto", "udp", "--port", "123", "--all-vms"});
  EXPECT_THAT(replaced, StartsWith("allowlist rule updates updated\n"));
  EXPECT_THAT(replaced, ContainsRegex("\ndestinations: +\\*\\.example\\.org\n"));

  EXPECT_THAT(Succeeds({"allowlist", "list"}),
              MatchesRegex("RULE +PROTOCOL +PORTS +DESTINATIONS +VMS +BOUND +COMMENT\n"
                           "flexlm +tcp +27000-27010,1717 +"
                           "203\\.0\\.113\\.7,198\\.51\\.100\\.0/24,lic\\.example\\.org +"
                           "vm-1 +1 +FlexLM servers\n"
                           "updates +udp +123 +\\*\\.example\\.org +\\* +1 +-\n"));

  EXPECT_THAT(Succeeds({"allowlist", "show", "flexlm"}),
              MatchesRegex("rule: +flexlm\n"
                           "destinations: +203\\.0\\.113\\.7, 198\\.51\\.100\\.0/24, "
                           "lic\\.example\\.org\n"
                           "protocol: +tcp\n"
                           "ports: +27000-27010, 1717\n"
                           "qtypes: +A, TXT\n"
                           "vms: +vm-1\n"
                           "comment: +FlexLM servers\n"
                           "created: +[^ ]+Z\n"
                           "updated: +[^ ]+Z\n"
                           "bound VMs: +1 \\(vm-1\\)\n"));

  const auto bad_type = Netctl({"allowlist", "add", "updates", "--dest", "*.example.org", "--proto",
                                "udp", "--port", "123", "--qtype", "ANY", "--all-vms"});
  EXPECT_EQ(bad_type.exit_code, 1);
  EXPECT_THAT(bad_type.err, HasSubstr("(invalid_qtype, field qtypes[0])"));
  EXPECT_THAT(Succeeds({"allowlist", "show", "updates"}), ContainsRegex("\nqtypes: +A, AAAA\n"))
      << "the refused change changed nothing";

  const auto removed = Succeeds({"allowlist", "rm", "updates"});
  EXPECT_THAT(removed,
              StartsWith("allowlist rule updates deleted; it was:\nrule:          updates\n"));
  EXPECT_THAT(removed, ContainsRegex("\nvms: +\\* \\(every secure VM\\)\n"));
  EXPECT_THAT(Succeeds({"allowlist", "list"}), Not(HasSubstr("updates")));
  const auto gone = Netctl({"allowlist", "show", "updates"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, MatchesRegex("netctl: .+ \\(no_such_rule, field rule\\)\n"));
}

TEST_F(NetctlAgainstNetdTest, AllowlistAssignAndUnassignBoundSecureVms) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  Succeeds({"vm", "bind", "vm-2", "--network", "secure"});
  Succeeds({"allowlist", "add", "flexlm", "--dest", "lic.example.org", "--proto", "tcp", "--port",
            "1717", "--vm", "vm-1"});

  const auto assigned = Succeeds({"allowlist", "assign", "flexlm", "vm-2"});
  EXPECT_THAT(assigned, StartsWith("vm-2 assigned to allowlist rule flexlm\n"));
  EXPECT_THAT(assigned, ContainsRegex("\nvms: +vm-1, vm-2\n"));
  EXPECT_THAT(assigned, ContainsRegex("\nbound VMs: +2\n"));
  EXPECT_THAT(Succeeds({"allowlist", "show", "flexlm"}),
              ContainsRegex("\nbound VMs: +2 \\(vm-1, vm-2\\)\n"));

  const auto unassigned = Succeeds({"allowlist", "unassign", "flexlm", "vm-1"});
  EXPECT_THAT(unassigned, StartsWith("vm-1 unassigned from allowlist rule flexlm\n"));
  EXPECT_THAT(unassigned, ContainsRegex("\nvms: +vm-2\n"));
  EXPECT_THAT(Succeeds({"allowlist", "list"}), ContainsRegex("\nflexlm +tcp +1717 +"
                                                             "lic\\.example\\.org +vm-2 +1 +-\n"));

  const auto again = Netctl({"allowlist", "unassign", "flexlm", "vm-1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, MatchesRegex("netctl: .+ \\(vm_not_assigned, field vm\\)\n"));
}

TEST_F(NetctlAgainstNetdTest, AllowlistRefusesVmsOfOpenNetworks) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  Succeeds({"vm", "bind", "vm-s", "--network", "service"});
  Succeeds({"allowlist", "add", "flexlm", "--dest", "lic.example.org", "--proto", "tcp", "--port",
            "1717", "--vm", "vm-1"});

  const auto assign = Netctl({"allowlist", "assign", "flexlm", "vm-s"});
  EXPECT_EQ(assign.exit_code, 1);
  EXPECT_THAT(assign.out, IsEmpty());
  EXPECT_THAT(assign.err,
              MatchesRegex("netctl: VM vm-s is on network service, .+ \\(vm_not_secure, field "
                           "vm\\)\n"));

  const auto add = Netctl({"allowlist", "add", "other", "--dest", "lic.example.org", "--proto",
                           "tcp", "--port", "1717", "--vm", "vm-1,vm-s"});
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_THAT(add.err, MatchesRegex("netctl: .*vm-s.* \\(vm_not_secure, field vms\\)\n"));

  const auto unbound = Netctl({"allowlist", "assign", "flexlm", "vm-9"});
  EXPECT_EQ(unbound.exit_code, 1);
  EXPECT_THAT(unbound.err, MatchesRegex("netctl: .+ \\(vm_not_bound, field vm\\)\n"));
  EXPECT_THAT(Succeeds({"allowlist", "show", "flexlm"}), ContainsRegex("\nvms: +vm-1\n"));
}

TEST_F(NetctlAgainstNetdTest, AllowlistRefusalsNameTheRejectedValue) {
  const std::vector<std::string> add = {"allowlist", "add", "r1", "--all-vms"};
  auto refused = [&](std::vector<std::string> options) {
    auto arguments = add;
    arguments.insert(arguments.end(), options.begin(), options.end());
    auto result = Netctl(arguments);
    EXPECT_EQ(result.exit_code, 1) << result.out;
    EXPECT_THAT(result.out, IsEmpty());
    return result.err;
  };
  EXPECT_THAT(refused({"--dest", "lic.example.org", "--proto", "tcp", "--port", "22,70000"}),
              MatchesRegex("netctl: .+ \\(invalid_port, field ports\\[1\\]\\)\n"));
  EXPECT_THAT(refused({"--dest", "lic.example.org", "--proto", "tcp", "--port", "2000-1000"}),
              MatchesRegex("netctl: .+ \\(invalid_port, field ports\\[0\\]\\)\n"));
  EXPECT_THAT(refused({"--dest", "lic.example.org", "--proto", "icmp", "--port", "22"}),
              MatchesRegex("netctl: .+ \\(invalid_protocol, field protocol\\)\n"));
  EXPECT_THAT(
      refused({"--dest", "203.0.113.7", "--dest", "300.1.2.3", "--proto", "tcp", "--port", "22"}),
      MatchesRegex("netctl: .+ \\(invalid_destination, field destinations\\[1\\]\\)\n"));
  EXPECT_THAT(refused({"--dest", "192.168.129.0/24", "--proto", "tcp", "--port", "22"}),
              MatchesRegex("netctl: .+ \\(destination_inside_enclave, field "
                           "destinations\\[0\\]\\)\n"));

  for (const auto& arguments :
       std::vector<std::vector<std::string>>{{"allowlist", "show", "nope"},
                                             {"allowlist", "rm", "nope"},
                                             {"allowlist", "assign", "nope", "vm-1"},
                                             {"allowlist", "unassign", "nope", "vm-1"}}) {
    const auto unknown = Netctl(arguments);
    EXPECT_EQ(unknown.exit_code, 1) << arguments[1];
    EXPECT_THAT(unknown.err, MatchesRegex("netctl: .+ \\(no_such_rule, field rule\\)\n"));
  }
  EXPECT_EQ(Succeeds({"allowlist", "list"}), "no allowlist rules\n");
}

TEST_F(NetctlAgainstNetdTest, AllowlistJsonPrintsNetdsBodies) {
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  const auto created = nlohmann::json::parse(
      Succeeds({"--json", "allowlist", "add", "flexlm", "--dest", "lic.example.org", "--proto",
                "tcp", "--port", "27000-27010,1717", "--vm", "vm-1"}));
  EXPECT_EQ(created["rule"], "flexlm");
  EXPECT_EQ(created["ports"], nlohmann::json::parse(R"(["27000-27010","1717"])"));
  EXPECT_EQ(created["bound_vms"], 1);

  const auto listed = nlohmann::json::parse(Succeeds({"allowlist", "list", "--json"}));
  ASSERT_EQ(listed["rules"].size(), 1u);
  EXPECT_EQ(listed["rules"][0]["vms"], nlohmann::json::parse(R"(["vm-1"])"));
  const auto shown = nlohmann::json::parse(Succeeds({"--json", "allowlist", "show", "flexlm"}));
  EXPECT_EQ(shown["vms_bound"], nlohmann::json::parse(R"(["vm-1"])"));
  const auto unassigned =
      nlohmann::json::parse(Succeeds({"--json", "allowlist", "unassign", "flexlm", "vm-1"}));
  EXPECT_TRUE(unassigned["vms"].empty());
  const auto assigned =
      nlohmann::json::parse(Succeeds({"--json", "allowlist", "assign", "flexlm", "vm-1"}));
  EXPECT_EQ(assigned["vms"], nlohmann::json::parse(R"(["vm-1"])"));
  const auto deleted = nlohmann::json::parse(Succeeds({"--json", "allowlist", "rm", "flexlm"}));
  EXPECT_EQ(deleted["deleted"]["rule"], "flexlm");

  const auto refused = Netctl({"--json", "allowlist", "show", "flexlm"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(refused.out)["error"]["code"], "no_such_rule");
}

TEST_F(NetctlAgainstNetdTest, DnsLogStartsEmptyAndRefusesInvalidQueries) {
  EXPECT_EQ(Succeeds({"dns", "log"}), "no DNS decisions\n");
  Succeeds({"vm", "bind", "vm-1", "--network", "secure"});
  EXPECT_EQ(Succeeds({"dns", "log", "--vm", "vm-1", "--limit", "5"}),
            "no DNS decisions for VM vm-1\n");
  const auto json = nlohmann::json::parse(Succeeds({"--json", "dns", "log"}));
  EXPECT_EQ(json["decisions"], nlohmann::json::array());
  // Nothing resolved yet: vm show prints no "dns learned" lines.
  EXPECT_THAT(Succeeds({"vm", "show", "vm-1"}), Not(HasSubstr("dns")));
  EXPECT_EQ(nlohmann::json::parse(Succeeds({"--json", "vm", "show", "vm-1"}))["dns_learned"],
            nlohmann::json::array());

  const auto bad_id = Netctl({"dns", "log", "--vm", "../status"});
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_THAT(bad_id.out, IsEmpty());
  EXPECT_THAT(bad_id.err, MatchesRegex("netctl: .+ \\(invalid_vm_id, field vm\\)\n"));
  const auto bad_limit = Netctl({"dns", "log", "--limit", "1001"});
  EXPECT_EQ(bad_limit.exit_code, 1);
  EXPECT_THAT(bad_limit.err, MatchesRegex("netctl: .+ \\(invalid_query, field limit\\)\n"));
}

TEST_F(NetctlAgainstNetdTest, HostPortsListsNothingWhileNoOvsdbServerAnswers) {
  // This netd runs the host role, but no ovsdb-server listens at its host.ovsdb_remote: it knows
  // of no bridge and so of no port.
  EXPECT_EQ(Succeeds({"host", "ports"}), "no ports\n");
  EXPECT_EQ(Succeeds({"host", "ports", "--bridge", "br-secure"}), "no ports on bridge br-secure\n");
  EXPECT_EQ(nlohmann::json::parse(Succeeds({"--json", "host", "ports"})),
            nlohmann::json::parse(R"({"ports":[]})"));
}

// A backend's netd: the gateway role alone.
class NetctlAgainstGatewayNetdTest : public ::testing::Test {
 protected:
  void SetUp() override { netd_.Start(); }

  lab::CommandResult Netctl(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {NETCTL_BINARY, "--socket", netd_.socket().string()});
    return lab::RunCommand(arguments, {.env = MinimalEnvironment(), .inherit_environment = false});
  }

  lab::TempDir directory_{"netctl"};
  testing::NetdProcess netd_{directory_.path(), [](std::string text) {
                               return testing::Replace(std::move(text),
                                                       R"(roles = ["gateway", "host"])",
                                                       R"(roles = ["gateway"])");
                             }};
};

TEST_F(NetctlAgainstGatewayNetdTest, HostPortsSaysThisNetdDoesNotRunTheHostRole) {
  const auto status = Netctl({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  ASSERT_THAT(status.out, ContainsRegex("roles: +gateway\n"));

  const auto refused = Netctl({"host", "ports"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.out, IsEmpty());
  EXPECT_EQ(refused.err, "netctl: this netd does not run the host role (no_host_role)\n");

  const auto json = Netctl({"--json", "host", "ports", "--bridge", "br-secure"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(json.out),
            nlohmann::json::parse(R"({"error":{"code":"no_host_role",)"
                                  R"("message":"this netd does not run the host role"}})"));
  EXPECT_EQ(json.err, "netctl: this netd does not run the host role (no_host_role)\n");
}

TEST_F(NetctlAgainstNetdTest, MetricsPrintsPrometheusText) {
  EXPECT_THAT(Succeeds({"metrics"}), HasSubstr("# TYPE netd_api_requests_total counter\n"));
}

}  // namespace
}  // namespace netd::cli_testing
