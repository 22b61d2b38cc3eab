// Failing closed (docs/firewall.md, "Failing closed"): whatever happens to `inet ticrypt`, not
// one datagram of a secure VM's flood reaches the outside unless a rule allows it. Judged by a
// receiver in the outside namespace.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "gateway_fixture.hpp"

namespace netd {
namespace {

using namespace gateway_test;

constexpr int kAllowedPort = 1717;  // allowlisted for the VM: the path works (positive control)
constexpr int kDeniedPort = 9999;   // allowlisted for nobody

// The table as `nft list` prints it, without what traffic changes (counters, timeouts) and
// without who owns it now (the owner's name, the owner flag an orphaned table loses).
std::string TableText(const Namespace& gateway) {
  auto text = gateway.RunChecked({"nft", "list", "table", "inet", "ticrypt"}).out;
  text = std::regex_replace(text, std::regex("packets [0-9]+ bytes [0-9]+"), "");
  text = std::regex_replace(text, std::regex("expires [0-9a-z]+"), "");
  text = std::regex_replace(text, std::regex(" # progname [^\n]*"), "");
  return std::regex_replace(text, std::regex("\tflags [^\n]*\n"), "");
}

class FailClosedTest : public GatewayFirewallTest {
 protected:
  // A secure VM flooding the outside on a denied port (500/s) and an allowed one (100/s), and
  // the outside's receiver of both.
  void StartFloods() {
    vm_ = AddVm("sec1", "secure");
    PutRule("allowed", {{"destinations", {kServer}},
                        {"protocol", "udp"},
                        {"ports", {kAllowedPort}},
                        {"vms", {"sec1"}}});
    receiver_.emplace(*outside_, NETD_FLOOD_TOOL, temp_->path() / "received",
                      std::vector<int>{kAllowedPort, kDeniedPort});
    for (auto [port, rate] : {std::pair{kDeniedPort, "500"}, std::pair{kAllowedPort, "100"}}) {
      processes_.push_back(
          vm_.ns->Start({"python3", NETD_FLOOD_TOOL, "send", kServer, std::to_string(port), rate}));
    }
    ExpectAllowedFlowing("before any event");
  }

  // The allowed stream reaches the outside again within two seconds.
  void ExpectAllowedFlowing(const std::string& when) {
    auto before = receiver_->Count(kAllowedPort);
    EXPECT_TRUE(Within(2s, [&] { return receiver_->Count(kAllowedPort) > before + 5; }))
        << "the allowed flow does not reach the outside " << when;
  }

  // Runs `event` five times, each from 0.5 s of flooding before it to 1 s after, and expects
  // the denied flood to reach nothing.
  void ExpectNothingLeaksDuring(const std::string& name, const std::function<void()>& event) {
    for (int repetition = 1; repetition <= 5; ++repetition) {
      std::this_thread::sleep_for(500ms);
      event();
      std::this_thread::sleep_for(1s);
      ExpectAllowedFlowing("after " + name);
      EXPECT_EQ(receiver_->Count(kDeniedPort), 0u) << name << ", repetition " << repetition;
    }
  }

  void RunEvents(bool owned) {
    auto outside_change = [&](std::vector<std::string> argv, bool refused_when_owned) {
      return [this, argv, owned, refused_when_owned] {
        auto result = gateway_->Run(argv);
        if (owned && refused_when_owned) {
          EXPECT_NE(result.exit_code, 0) << "the kernel took it: " << argv.back();
          EXPECT_THAT(result.err, ::testing::HasSubstr("Operation not permitted"));
        }
        if (!owned) {
          EXPECT_TRUE(Within(1s, [&] { return ChainRules("forward_secure") > 0; }))
              << "not repaired within a second";
        }
      };
    };
    foreign_tables_flushed_ = true;
    ExpectNothingLeaksDuring("nft delete table",
                             outside_change({"nft", "delete", "table", "inet", "ticrypt"}, true));
    ExpectNothingLeaksDuring("nft flush ruleset",
                             outside_change({"nft", "flush", "ruleset"}, false));
    ExpectNothingLeaksDuring(
        "nft delete chain forward",
        outside_change({"nft", "delete", "chain", "inet", "ticrypt", "forward"}, true));
    ExpectNothingLeaksDuring(
        "nft delete chain guard",
        outside_change({"nft", "delete", "chain", "inet", "ticrypt", "guard"}, true));
    if (!owned) {
      EXPECT_GE(Drift()["repairs"].get<int>(), 20) << "four kinds of change, five times each";
    }
    ExpectNothingLeaksDuring("iptables-nft -F", [&] {
      gateway_->RunChecked({"iptables-nft", "-F"});
    });
    ExpectNothingLeaksDuring("netd SIGKILL and restart", [&] {
      netd_->Kill();
      netd_->Start();
    });
  }

  Vm vm_;
  std::optional<UdpReceiver> receiver_;
};

TEST_F(FailClosedTest, NothingLeaksInAutoMode) {
  StartFloods();
  EXPECT_EQ(Api("GET", "/v1/status").Json()["firewall"]["table_protection"], "owner")
      << "this kernel has flags owner,persist";
  RunEvents(/*owned=*/true);
}

TEST_F(FailClosedTest, NothingLeaksInOwnerMode) {
  RestartWithTableMode("owner");
  StartFloods();
  EXPECT_EQ(Api("GET", "/v1/status").Json()["firewall"]["table_protection"], "owner");
  RunEvents(/*owned=*/true);
}

TEST_F(FailClosedTest, NothingLeaksInGuardMode) {
  RestartWithTableMode("guard");
  StartFloods();
  EXPECT_EQ(Api("GET", "/v1/status").Json()["firewall"]["table_protection"], "guard");
  RunEvents(/*owned=*/false);
}

TEST_F(FailClosedTest, AnOwnedTableRefusesEveryoneElseAndStaysTheSame) {
  auto vm = AddVm("sec1", "secure");
  auto before = TableText(*gateway_);
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"nft", "delete", "table", "inet", "ticrypt"},
           {"nft", "delete", "chain", "inet", "ticrypt", "forward"},
           {"nft", "flush", "chain", "inet", "ticrypt", "guard"},
           {"nft", "add", "rule", "inet", "ticrypt", "forward", "accept"},
           {"nft", "delete", "element", "inet", "ticrypt", "vm_bind4",
            "{ " + vm.mac + " . " + vm.ip + " }"}}) {
    auto result = gateway_->Run(argv);
    EXPECT_NE(result.exit_code, 0)
        << "the kernel took: " << fmt::format("{}", fmt::join(argv, " "));
    EXPECT_THAT(result.err, ::testing::HasSubstr("Operation not permitted"));
  }
  // `flush ruleset` succeeds for everything else and skips the owned table.
  foreign_tables_flushed_ = true;
  gateway_->RunChecked({"nft", "flush", "ruleset"});
  EXPECT_EQ(TableText(*gateway_), before);
  EXPECT_EQ(Drift()["repairs"], 0);
}

TEST_F(FailClosedTest, AnOwnedTableOutlivesAKilledNetdAndIsTakenBack) {
  auto vm = AddVm("sec1", "secure");
  auto before = TableText(*gateway_);
  netd_->Kill();
  // Persist: the table outlives the socket that owned it, and no one owns it now.
  EXPECT_EQ(TableText(*gateway_), before);
  auto orphaned = gateway_->Run({"nft", "add", "chain", "inet", "ticrypt", "probe"});
  EXPECT_TRUE(orphaned.ok()) << "an orphaned table is anyone's to change: " << orphaned.err;
  netd_->Start();
  EXPECT_THAT(TableText(*gateway_), ::testing::Not(::testing::HasSubstr("chain probe")));
  auto result = gateway_->Run({"nft", "delete", "table", "inet", "ticrypt"});
  EXPECT_NE(result.exit_code, 0) << "netd did not take the table back";
  EXPECT_EQ(SetElements("vm_bind4").size(), 1u);
}

TEST_F(FailClosedTest, ForwardingIsOwnedPerInterfaceAndRestored) {
  auto status = Api("GET", "/v1/status").Json()["firewall"]["route_guard"];
  for (const auto* sysctl :
       {"net.ipv4.conf.br-secure.forwarding", "net.ipv4.conf.br-service.forwarding",
        "net.ipv4.conf.br-datain.forwarding", "net.ipv4.conf.ext0.forwarding"}) {
    EXPECT_EQ(status["forwarding"][sysctl], true) << sysctl << " in " << status;
  }
  // Writing the global switch sets every interface's (the kernel acts only on a change: on,
  // then off); netd turns its own on again.
  gateway_->RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
  gateway_->RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=0"});
  EXPECT_TRUE(Within(1s, [&] {
    return Api("GET", "/v1/status").Json()["firewall"]["route_guard"]["forwarding_repairs"] >= 2;
  }));
  EXPECT_TRUE(Within(1s, [&] {
    return gateway_->RunChecked({"sysctl", "-n", "net.ipv4.conf.br-secure.forwarding"}).out ==
               "1\n" &&
           gateway_->RunChecked({"sysctl", "-n", "net.ipv4.conf.ext0.forwarding"}).out == "1\n";
  }));
  auto vm = AddVm("sec1", "secure");
  PutRule("license",
          {{"destinations", {kServer}}, {"protocol", "tcp"}, {"ports", {443}}, {"vms", {"sec1"}}});
  EXPECT_TRUE(Peer(*vm.ns, kServer, 443)) << "forwarding works with ip_forward=0";
}

TEST_F(FailClosedTest, DeletedGuardRulesAreRestored) {
  // As a set: a rule added again goes after the others of its priority.
  auto rules = [&] {
    std::multiset<std::string> lines;
    std::istringstream text(gateway_->RunChecked({"ip", "rule", "show"}).out);
    for (std::string line; std::getline(text, line);) lines.insert(line);
    return lines;
  };
  auto before = rules();
  EXPECT_THAT(before, ::testing::Contains(::testing::HasSubstr(
                          "fwmark 0/0x20000000 iif br-secure blackhole proto 110")));
  EXPECT_THAT(before, ::testing::Contains(::testing::HasSubstr(
                          "to 192.168.128.0/17 fwmark 0/0x20000000 blackhole proto 110")));
  gateway_->RunChecked({"ip", "rule", "del", "priority", "101", "iif", "br-secure"});
  EXPECT_TRUE(Within(1s, [&] { return rules() == before; }));
  EXPECT_GE(Api("GET", "/v1/status").Json()["firewall"]["route_guard"]["rule_repairs"], 1);
}

}  // namespace
}  // namespace netd
