// The harness itself: commands, teardown by destructors, by signal handlers, and by the sweeper
// of a later run; dnsmasq serving a DHCP client across the userspace OVS.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/dnsmasq.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/harness.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"

namespace netd::lab {
namespace {

using namespace std::chrono_literals;

// What a harness run created, to check afterwards that none of it is left.
struct Footprint {
  std::vector<std::string> namespaces;
  std::vector<std::filesystem::path> dirs;
  std::vector<pid_t> pids;
};

bool NamespaceExists(const std::string& name) {
  return std::filesystem::exists(std::filesystem::path(kNetnsDir) / name);
}

bool ProcessExists(pid_t pid) {
  return kill(pid, 0) == 0;
}

void ExpectNothingLeft(const Footprint& footprint) {
  EXPECT_FALSE(footprint.namespaces.empty());
  for (const auto& name : footprint.namespaces) EXPECT_FALSE(NamespaceExists(name)) << name;
  for (const auto& dir : footprint.dirs) EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  for (pid_t pid : footprint.pids) EXPECT_FALSE(ProcessExists(pid)) << "pid " << pid;
}

// A pid that certainly belongs to no live process: a child that has exited and been reaped.
pid_t DeadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(LabHarness, RunCapturesOutputAndExitCode) {
  const CommandResult result = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "out\n");
  EXPECT_EQ(result.err, "err\n");
  EXPECT_THROW(RunCommandChecked({"false"}), std::runtime_error);
  EXPECT_THROW(RunCommand({"sleep", "5"}, {.env = {}, .timeout = 100ms}), std::runtime_error);
  EXPECT_EQ(RunCommand({"sh", "-c", "echo $NETD_LAB_X"}, {.env = {"NETD_LAB_X=y"}}).out, "y\n");
}

TEST(LabHarness, DestroyedObjectsLeaveNothingBehind) {
  NETD_REQUIRE_ROOT_OR_SKIP();
  Footprint footprint;
  {
    Namespace gateway("gw");
    OvsInstance ovs(gateway);
    ovs.AddBridge("br0");
    Namespace vm("vm");
    ovs.AttachNamespace("br0", vm, "eth0", "port-vm", 100);
    Dnsmasq dnsmasq(gateway, "port=0");
    Process sleeper = vm.Start({"sleep", "600"});
    EXPECT_TRUE(NamespaceExists(gateway.name()));
    EXPECT_TRUE(sleeper.Running());
    footprint = {{gateway.name(), vm.name()},
                 {ovs.dir(), dnsmasq.dir()},
                 {ovs.ovsdb_server_pid(), ovs.vswitchd_pid(), dnsmasq.pid(), sleeper.pid()}};
  }
  ExpectNothingLeft(footprint);
}

TEST(LabHarness, OvsStartupTimeoutReportsLogsAndCleansUp) {
  NETD_REQUIRE_ROOT_OR_SKIP();
  Namespace gateway("gw");
  try {
    OvsInstance ovs(gateway, 0ms);
    FAIL() << "an OVS instance cannot be ready within 0 ms";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("ovsdb-server not ready within 0 ms"), std::string::npos) << message;
    EXPECT_NE(message.find("ovsdb-server.log"), std::string::npos) << message;
  }
  EXPECT_EQ(
      RunCommand({"pgrep", "-f", "--", "--log-file=/tmp/netdt-" + std::to_string(getpid())}).out,
      "");
}

TEST(LabHarness, DnsmasqConfigErrorIsReported) {
  NETD_REQUIRE_ROOT_OR_SKIP();
  Namespace gateway("gw");
  try {
    Dnsmasq dnsmasq(gateway, "no-such-option\n");
    FAIL() << "dnsmasq accepted an unknown option";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("dnsmasq exited during startup"), std::string::npos) << message;
    EXPECT_NE(message.find("bad option at line 1"), std::string::npos) << message;
  }
}

TEST(LabHarness, DnsmasqLeasesAnAddressAcrossOvs) {
  NETD_REQUIRE_ROOT_OR_SKIP();
  Namespace gateway("gw");
  OvsInstance ovs(gateway);
  ovs.AddBridge("br0");
  gateway.AddAddress("br0", "192.0.2.1/24");
  gateway.SetLinkUp("br0");
  Namespace client("client");
  ovs.AttachNamespace("br0", client, "eth0", "port-client");
  // no-ping: dnsmasq otherwise pings each new address before offering it, costing ~3 s.
  Dnsmasq dnsmasq(gateway,
                  "port=0\ninterface=br0\nbind-interfaces\nno-ping\n"
                  "dhcp-range=192.0.2.100,192.0.2.109,255.255.255.0,1h\n");

  const CommandResult dhcp = client.Run({"busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-T",
                                         "1", "-i", "eth0", "-s", "/bin/true"},
                                        {.env = {}, .timeout = 15s});
  ASSERT_TRUE(dhcp.ok()) << dhcp.err << dhcp.out;
  const std::string mac = client.RunChecked({"cat", "/sys/class/net/eth0/address"}).out;
  std::ifstream leases(dnsmasq.lease_file());
  std::stringstream text;
  text << leases.rdbuf();
  EXPECT_NE(text.str().find(mac.substr(0, mac.size() - 1) + " 192.0.2.10"), std::string::npos)
      << text.str();
}

TEST(LabHarness, SweeperRemovesLeftoversOfDeadRuns) {
  NETD_REQUIRE_ROOT_OR_SKIP();
  StartHarness();  // sweeps now, so the explicit sweep below sees only this test's leftovers
  const std::string prefix = std::string(kResourcePrefix) + std::to_string(DeadPid());
  const std::string stale_namespace = prefix + "-0-stale";
  const std::filesystem::path stale_dir = std::filesystem::path(kTempBase) / (prefix + "-1-stale");
  RunCommandChecked({"ip", "netns", "add", stale_namespace});
  std::filesystem::create_directory(stale_dir);
  // Processes of the dead run: one inside its namespace, one named by a pidfile in its directory
  // (a daemon's arguments mention its directory, which is how the sweeper recognises it).
  Process in_namespace = StartProcess({"ip", "netns", "exec", stale_namespace, "sleep", "600"});
  std::ofstream(stale_dir / "keep").flush();
  Process with_pidfile = StartProcess({"tail", "-f", (stale_dir / "keep").string()});
  std::ofstream(stale_dir / "tail.pid") << with_pidfile.pid() << "\n";
  std::this_thread::sleep_for(100ms);  // let `ip netns exec` enter the namespace

  SweepLeftoversOfDeadRuns();

  EXPECT_FALSE(NamespaceExists(stale_namespace));
  EXPECT_FALSE(std::filesystem::exists(stale_dir));
  EXPECT_EQ(in_namespace.WaitForExit(2s), 128 + SIGKILL);
  EXPECT_EQ(with_pidfile.WaitForExit(2s), 128 + SIGKILL);
}

class LabHarnessInterrupted : public ::testing::TestWithParam<int> {};

TEST_P(LabHarnessInterrupted, SignalHandlersRemoveEverything) {
  NETD_REQUIRE_ROOT_OR_SKIP();
  TempDir scratch("interrupted");
  const auto output = scratch.path() / "probe.out";
  Process probe = StartProcess({NETD_LAB_INTERRUPT_PROBE}, {.env = {}, .output = output});

  Footprint footprint;
  bool ready = false;
  for (int wait = 0; wait < 300 && !ready && probe.Running(); ++wait) {
    std::this_thread::sleep_for(50ms);
    std::ifstream in(output);
    footprint = {};
    for (std::string kind, value; in >> kind;) {
      if (kind == "ready") ready = true;
      if (kind == "ready" || !(in >> value)) continue;
      if (kind == "namespace") footprint.namespaces.push_back(value);
      if (kind == "dir") footprint.dirs.emplace_back(value);
      if (kind == "pid") footprint.pids.push_back(std::stoi(value));
    }
  }
  ASSERT_TRUE(ready) << "probe did not come up; its output is in " << output;
  for (const auto& name : footprint.namespaces) ASSERT_TRUE(NamespaceExists(name));

  ASSERT_EQ(kill(probe.pid(), GetParam()), 0);
  EXPECT_EQ(probe.WaitForExit(10s), 128 + GetParam());
  ExpectNothingLeft(footprint);
}

INSTANTIATE_TEST_SUITE_P(Signals, LabHarnessInterrupted, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

}  // namespace
}  // namespace netd::lab
