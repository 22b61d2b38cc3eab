// netd as a process: command-line modes, start-up, lock file, signals, restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "netd/daemon/config.hpp"
#include "netd/lab/command.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/notify_listener.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd::testing {
namespace {

using ::testing::HasSubstr;

TEST(NetdCommandLine, CheckConfigExitsZeroOrOneWithTheError) {
  lab::TempDir dir("api");
  auto demo = lab::RunCommand({NetdBinary(), "--demo-config"});
  ASSERT_EQ(demo.exit_code, 0);
  std::ofstream(dir.path() / "good.toml") << demo.out;
  std::ofstream(dir.path() / "bad.toml") << Replace(demo.out, "vlan = 1082", "vlan = 0");
  auto good =
      lab::RunCommand({NetdBinary(), "--check-config", (dir.path() / "good.toml").string()});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  auto bad = lab::RunCommand({NetdBinary(), "--check-config", (dir.path() / "bad.toml").string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("bad.toml:37:8: network[1].vlan: expected an integer 1-4094"));
  auto missing =
      lab::RunCommand({NetdBinary(), "--check-config", (dir.path() / "none.toml").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot read"));
}

TEST(NetdCommandLine, UsageErrorsExitTwo) {
  EXPECT_EQ(lab::RunCommand({NetdBinary(), "--bogus"}).exit_code, 2);
  EXPECT_EQ(lab::RunCommand({NetdBinary()}).exit_code, 2);
  auto help = lab::RunCommand({NetdBinary(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("EXIT STATUS"));
  EXPECT_THAT(help.out, HasSubstr("SIGHUP"));
}

TEST(NetdDaemon, SecondInstanceOnTheSameStateDirectoryIsRefused) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  netd.Start();
  auto argv = netd.Argv();
  argv[4] = (dir.path() / "other.sock").string();
  auto second = lab::RunCommand(argv);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("another netd"));
  EXPECT_THAT(second.err, HasSubstr("netd.lock"));
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/status").status, 200);
}

TEST(NetdDaemon, NeverReplacesAFileThatIsNotASocket) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  std::ofstream(netd.socket()) << "precious";
  EXPECT_THROW(netd.Start(), std::runtime_error);
  EXPECT_THAT(netd.Log(), HasSubstr("is not a socket"));
  std::ifstream kept(netd.socket());
  std::string content;
  kept >> content;
  EXPECT_EQ(content, "precious");
}

TEST(NetdDaemon, SigtermStopsCleanlyAndRemovesTheSocket) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  netd.Start();
  EXPECT_EQ(netd.Stop(), 0);
  EXPECT_FALSE(std::filesystem::exists(netd.socket()));
  EXPECT_THAT(netd.Log(), HasSubstr("netd stopping on SIGTERM"));
}

// What netd tells systemd over NOTIFY_SOCKET, read from a datagram socket standing in for it.
TEST(NetdDaemon, NotifiesSystemdReadyReloadingAndStopping) {
  lab::TempDir dir("api");
  NotifyListener systemd(dir.path() / "notify");
  auto next_message = [&] { return systemd.Next(std::chrono::seconds(5)); };

  // The gateway role alone: a host's READY=1 waits for its bridges' flows (no switch here).
  NetdProcess netd(dir.path(), [](std::string text) {
    return testing::Replace(text, R"(roles = ["gateway", "host"])", R"(roles = ["gateway"])");
  });
  netd.NotifySocket(systemd.path());
  netd.Start();
  EXPECT_EQ(next_message(), "READY=1");
  netd.Signal(SIGHUP);
  EXPECT_EQ(next_message(), "RELOADING=1");
  EXPECT_EQ(next_message(), "READY=1");
  EXPECT_EQ(netd.Stop(), 0);
  EXPECT_EQ(next_message(), "STOPPING=1");
}

TEST(NetdDaemon, SocketIsMode0660) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  netd.Start();
  auto perms = std::filesystem::status(netd.socket()).permissions();
  EXPECT_EQ(perms, std::filesystem::perms(0660));
}

TEST(NetdDaemon, RestartKeepsBindingsAndContinuesTheAuditChain) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  netd.Start();
  auto bound = Request(netd.socket(), "PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  ASSERT_EQ(bound.status, 201) << bound.body;
  ASSERT_EQ(netd.Stop(), 0);
  netd.Start();
  auto shown = Request(netd.socket(), "GET", "/v1/vms/vm1");
  EXPECT_EQ(shown.Json()["ip"], bound.Json()["ip"]);
  EXPECT_EQ(Request(netd.socket(), "PUT", "/v1/vms/vm2", R"({"network":"secure"})").Json()["ip"],
            "192.168.129.2");
  auto verify = Request(netd.socket(), "GET", "/v1/audit/verify").Json();
  EXPECT_EQ(verify["ok"], true);
  EXPECT_EQ(verify["length"], 2);
}

TEST(NetdDaemon, RestartKeepsGroups) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  netd.Start();
  auto put = Request(netd.socket(), "PUT", "/v1/groups/slurm",
                     R"({"network":"secure","members":["vm1"],"protocol":"tcp","ports":[22]})");
  ASSERT_EQ(put.status, 201) << put.body;
  ASSERT_EQ(Request(netd.socket(), "PUT", "/v1/groups/slurm/members/vm2").status, 200);
  auto before = Request(netd.socket(), "GET", "/v1/groups").Json();
  ASSERT_EQ(netd.Stop(), 0);
  netd.Start();
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/groups").Json(), before);
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/status").Json()["groups"]["total"], 1);
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/audit/verify").Json()["length"], 2);
}

// Groups live on the gateway: a VM host's netd refuses their routes.
TEST(NetdDaemon, AHostOnlyNetdAnswersTheGroupRoutesWith409) {
  lab::TempDir dir("api");
  // A host without the gateway role follows a policy database; none answers here.
  auto policy = "[policy]\nremotes = [\"unix:" + (dir.path() / "policy.sock").string() + "\"]\n\n";
  NetdProcess netd(dir.path(), [&](std::string text) {
    text = Replace(text, "[[network]]", policy + "[[network]]");
    return Replace(text, R"(roles = ["gateway", "host"])", R"(roles = ["host"])");
  });
  netd.Start();
  auto put = Request(netd.socket(), "PUT", "/v1/groups/slurm", R"({"network":"secure"})");
  EXPECT_EQ(put.status, 409) << put.body;
  EXPECT_EQ(put.Json()["error"]["code"], "not_a_gateway");
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/groups").status, 409);
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/status").Json()["groups"], nullptr);
}

TEST(NetdDaemon, RefusesAStoreThatDoesNotFitTheConfiguration) {
  lab::TempDir dir("api");
  {
    NetdProcess netd(dir.path());
    netd.Start();
    ASSERT_EQ(Request(netd.socket(), "PUT", "/v1/vms/d1", R"({"network":"datain"})").status, 201);
  }
  NetdProcess shrunk(dir.path(), [](std::string text) {
    return Replace(text, "dhcp_first = \"192.168.123.3\"", "dhcp_first = \"192.168.123.10\"");
  });
  EXPECT_THROW(shrunk.Start(), std::runtime_error);
  EXPECT_THAT(shrunk.Log(), HasSubstr("192.168.123.3 outside the DHCP range"));
}

TEST(NetdDaemon, SighupAppliesWhatItCanAndNamesWhatNeedsARestart) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  netd.Start();
  {
    auto text = Replace(netd::DemoConfigText(), "log_level = \"info\"", "log_level = \"debug\"");
    std::ofstream(netd.config_path()) << Replace(text, "vlan = 1083", "vlan = 1093");
  }
  netd.Signal(SIGHUP);
  auto wait_for = [&](const std::string& line) {
    for (int i = 0; i < 200 && netd.Log().find(line) == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return netd.Log();
  };
  EXPECT_THAT(wait_for("reload: applied"), HasSubstr("reload: applied log_level=debug"));
  EXPECT_THAT(netd.Log(), HasSubstr("reload: network changed; it takes effect after a restart"));
  // The running networks are unchanged until a restart.
  auto networks = Request(netd.socket(), "GET", "/v1/networks").Json()["networks"];
  EXPECT_EQ(networks[2]["vlan"], 1083);

  std::ofstream(netd.config_path()) << "[netd\n";
  netd.Signal(SIGHUP);
  EXPECT_THAT(wait_for("keeping the running configuration"),
              HasSubstr("reload: keeping the running configuration"));
  EXPECT_EQ(Request(netd.socket(), "GET", "/v1/status").status, 200);
}

}  // namespace
}  // namespace netd::testing
