// DHCP through the enclave's switch: netd's dnsmasq in a gateway namespace whose bridges are a
// private userspace Open vSwitch (br-secure VLAN 1081, br-service 1082, br-datain 1083, the
// gateway addresses on their internal ports), busybox udhcpc in VM namespaces on access ports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using testing::Within;

using namespace std::chrono_literals;
using nlohmann::json;

struct Network {
  const char* bridge;
  int vlan;
  const char* address;
};
constexpr Network kNetworks[] = {{"br-secure", 1081, "192.168.128.1/17"},
                                 {"br-service", 1082, "192.168.122.1/24"},
                                 {"br-datain", 1083, "192.168.123.1/24"}};
constexpr const char* kSecureLease =
    "ip=192.168.129.1 router=192.168.128.1 dns=192.168.128.1 lease=3600";

class DhcpOverOvsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    gateway_.emplace("dhcp-gw");
    ovs_.emplace(*gateway_);
    for (const auto& network : kNetworks) {
      ovs_->AddBridge(network.bridge);
      ovs_->Vsctl({"set", "Port", network.bridge, "tag=" + std::to_string(network.vlan)});
      gateway_->SetLinkUp(network.bridge);
      gateway_->AddAddress(network.bridge, network.address);
    }
    temp_.emplace("dhcp-ovs");
    StartNetd(temp_->path(), {});
    script_ = temp_->path() / "udhcpc.sh";
    std::ofstream(script_) << "#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip router=$router "
                              "dns=$dns lease=$lease\"\nexit 0\n";
    std::filesystem::permissions(script_, std::filesystem::perms::owner_all);
  }

  void StartNetd(const std::filesystem::path& dir, const testing::NetdProcess::ConfigEdit& edit) {
    netd_.emplace(dir, edit);
    netd_->RunInNamespace(gateway_->name());
    netd_->Start();
  }

  testing::HttpAnswer Api(const std::string& method, const std::string& target,
                          const json& body = nullptr) {
    return testing::Request(netd_->socket(), method, target, body.is_null() ? "" : body.dump());
  }

  // A VM namespace with `mac` on an access port of `network`'s VLAN.
  lab::Namespace& Plug(const std::string& tag, const std::string& network, const std::string& mac) {
    const auto& net = *std::find_if(std::begin(kNetworks), std::end(kNetworks),
                                    [&](auto& n) { return n.bridge == "br-" + network; });
    auto& vm = vms_.emplace_back(tag);
    ovs_->AttachNamespace(net.bridge, vm, "eth0", "p-" + tag, net.vlan);
    vm.RunChecked({"ip", "link", "set", "eth0", "address", mac});
    return vm;
  }

  // Binds `id` through the API and plugs its namespace with the MAC netd allocated.
  lab::Namespace& Bind(const std::string& id, const json& body = {{"network", "secure"}}) {
    auto answer = Api("PUT", "/v1/vms/" + id, body);
    EXPECT_EQ(answer.status, 201) << answer.body;
    return Plug(id, body["network"], answer.Json()["mac"]);
  }

  // What udhcpc in `vm` got: "ip=… router=… dns=… lease=…", or nullopt without a lease.
  // `requested`: the address the client asks for again, as a client renewing its lease does.
  std::optional<std::string> Lease(const lab::Namespace& vm, const std::string& requested = "") {
    std::vector<std::string> argv = {
        "busybox", "udhcpc", "-i", "eth0",          "-f", "-q", "-n", "-t", "4",
        "-T",      "1",      "-s", script_.string()};
    if (!requested.empty()) {
      argv.push_back("-r");
      argv.push_back(requested);
    }
    auto result = vm.Run(argv);
    auto at = result.out.find("ip=");
    if (!result.ok() || at == std::string::npos) return std::nullopt;
    return result.out.substr(at, result.out.find('\n', at) - at);
  }

  // Pids of the dnsmasq processes in this test's gateway namespace.
  std::vector<std::string> DnsmasqPids() const {
    auto listed = gateway_->RunChecked(
        {"sh", "-c",
         "for pid in $(ip netns pids " + gateway_->name() +
             "); do grep -qx dnsmasq /proc/$pid/comm 2>/dev/null && echo $pid; done; true"});
    std::vector<std::string> pids;
    std::istringstream lines(listed.out);
    for (std::string pid; std::getline(lines, pid);) pids.push_back(pid);
    return pids;
  }

  std::filesystem::path HostsFile() const {
    return netd_->state_dir().parent_path() / "run" / "dnsmasq.hosts";
  }

  // Declaration order is teardown order, reversed: VMs, netd, OVS, then its namespace.
  std::optional<lab::Namespace> gateway_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<lab::TempDir> temp_;
  std::optional<testing::NetdProcess> netd_;
  std::filesystem::path script_;
  std::list<lab::Namespace> vms_;
};

TEST_F(DhcpOverOvsTest, ABoundVmGetsItsReservedAddressTheGatewayAsRouterAndDns) {
  auto& vm = Bind("vm1", {{"network", "secure"}, {"hostname", "analysis-1"}});
  EXPECT_EQ(Api("GET", "/v1/vms/vm1").Json()["lease"], nullptr);
  EXPECT_EQ(Lease(vm), kSecureLease);
  auto status = Api("GET", "/v1/status").Json();
  EXPECT_EQ(status["dhcp"]["state"], "running") << status;
  EXPECT_TRUE(Within(2s, [&] {
    return Api("GET", "/v1/vms/vm1").Json()["lease"].value("state", "") == "active";
  })) << "the lease file does not show the lease";
  EXPECT_THAT(Api("GET", "/metrics").body,
              ::testing::HasSubstr("netd_dhcp_leases{network=\"secure\"} 1"));
}

TEST_F(DhcpOverOvsTest, AnUnknownMacOnTheSecureNetworkGetsNoOffer) {
  EXPECT_FALSE(Lease(Plug("dhcp-x", "secure", "52:54:c0:a8:81:42")));
}

TEST_F(DhcpOverOvsTest, AnOpenNetworkWithADynamicPoolLeasesToUnknownMacs) {
  auto& stranger = Plug("svc-x", "service", "52:54:c0:a8:7a:63");
  EXPECT_FALSE(Lease(stranger)) << "reservations only by default";
  ASSERT_EQ(netd_->Stop(), 0);
  netd_.reset();
  std::filesystem::create_directory(temp_->path() / "dynamic");
  StartNetd(temp_->path() / "dynamic", [](std::string config) {
    return testing::Replace(std::move(config), "egress = \"open\"",
                            "egress = \"open\"\ndhcp_dynamic = true");
  });
  auto lease = Lease(stranger);
  ASSERT_TRUE(lease);
  EXPECT_THAT(*lease, ::testing::StartsWith("ip=192.168.122."));
  EXPECT_THAT(*lease, ::testing::HasSubstr(" router=192.168.122.1 "));
}

TEST_F(DhcpOverOvsTest, ABurstOfBindsIsServedAfterFewReloads) {
  constexpr int kVms = 200;
  for (int i = 0; i < kVms; ++i) {
    ASSERT_EQ(Api("PUT", "/v1/vms/burst-" + std::to_string(i), {{"network", "secure"}}).status,
              201);
  }
  auto lines = [&] {
    std::ifstream file(HostsFile());
    return std::count(std::istreambuf_iterator<char>(file), {}, '\n');
  };
  EXPECT_TRUE(Within(2s, [&] { return lines() == kVms; })) << lines() << " reservations";
  auto reloads = Api("GET", "/v1/status").Json()["dhcp"]["reloads"].get<int>();
  EXPECT_GE(reloads, 1);
  EXPECT_LE(reloads, kVms / 10) << "every bind reloaded dnsmasq";
  auto last = Api("GET", "/v1/vms/burst-199").Json();
  auto lease = Lease(Plug("burst-199", "secure", last["mac"]));
  ASSERT_TRUE(lease);
  EXPECT_THAT(*lease, ::testing::StartsWith("ip=" + last["ip"].get<std::string>() + " "));
}

TEST_F(DhcpOverOvsTest, UnbindingRemovesTheReservationAndARenewingClientIsRefused) {
  auto& vm = Bind("vm1");
  ASSERT_TRUE(Lease(vm));
  auto leases = [&] { return Api("GET", "/metrics").body; };
  ASSERT_TRUE(Within(2s, [&] {
    return leases().find("netd_dhcp_leases{network=\"secure\"} 1") != std::string::npos;
  }));
  ASSERT_EQ(Api("DELETE", "/v1/vms/vm1").status, 200);
  EXPECT_TRUE(Within(2s, [&] {
    return leases().find("netd_dhcp_leases{network=\"secure\"} 0") != std::string::npos;
  })) << "the unbound VM's lease was not released";
  EXPECT_TRUE(Within(2s, [&] {
    std::ifstream file(HostsFile());
    return std::string(std::istreambuf_iterator<char>(file), {}).empty();
  }));
  EXPECT_FALSE(Lease(vm, "192.168.129.1"))
      << "an unbound VM asking for its old address still gets it";
}

TEST_F(DhcpOverOvsTest, AKilledDnsmasqIsRestartedAndServesAgain) {
  auto& vm = Bind("vm1");
  ASSERT_EQ(Lease(vm), kSecureLease);
  // Only the dnsmasq of this test's gateway namespace.
  gateway_->RunChecked({"sh", "-c",
                        "for pid in $(ip netns pids " + gateway_->name() +
                            "); do grep -qx dnsmasq /proc/$pid/comm && kill -KILL $pid; done; "
                            "true"});
  EXPECT_TRUE(Within(5s, [&] { return Api("GET", "/v1/status").Json()["dhcp"]["restarts"] == 1; }));
  EXPECT_EQ(Lease(vm, "192.168.129.1"), kSecureLease) << "the renewing client lost its lease";
}

TEST_F(DhcpOverOvsTest, DnsmasqRunsWithoutRootAndAKilledNetdsDnsmasqIsEndedAtTheNextStart) {
  auto& vm = Bind("vm1");
  auto pids = DnsmasqPids();
  ASSERT_EQ(pids.size(), 1u);
  std::ifstream status("/proc/" + pids[0] + "/status");
  std::string text(std::istreambuf_iterator<char>(status), {});
  int uid = -1;
  std::istringstream(text.substr(text.find("Uid:") + 4)) >> uid;
  EXPECT_NE(uid, 0) << "dnsmasq kept root";
  EXPECT_NE(uid, -1) << text;

  netd_->Signal(SIGKILL);
  netd_->Kill();
  EXPECT_EQ(DnsmasqPids(), pids) << "dnsmasq outlives a killed netd (its privileges are dropped)";
  netd_->Start();
  auto after = DnsmasqPids();
  ASSERT_EQ(after.size(), 1u) << "the earlier netd's dnsmasq is still running";
  EXPECT_NE(after, pids);
  EXPECT_EQ(Lease(vm, "192.168.129.1"), kSecureLease);
}

// The capabilities netd.service leaves netd (CapabilityBoundingSet=).
std::vector<std::string> UnitCapabilities() {
  std::ifstream unit(NETD_UNIT_FILE);
  std::vector<std::string> names;
  for (std::string line; std::getline(unit, line);) {
    if (line.rfind("CapabilityBoundingSet=", 0) != 0) continue;
    std::istringstream words(line.substr(line.find('=') + 1));
    for (std::string name; words >> name;) names.push_back(name);
  }
  return names;
}

TEST_F(DhcpOverOvsTest, TheUnitsCapabilitiesServeTheGatewayAndItsDnsmasq) {
  auto capabilities = UnitCapabilities();
  ASSERT_FALSE(capabilities.empty()) << "no CapabilityBoundingSet= in " << NETD_UNIT_FILE;
  netd_->Stop();
  netd_.reset();
  lab::TempDir dir("dhcp-caps");
  netd_.emplace(dir.path());
  netd_->RunInNamespace(gateway_->name());
  netd_->LimitCapabilities(capabilities);
  netd_->Start();
  // The table applied, dnsmasq started and dropped to its user, a lease served through it.
  auto& vm = Bind("vm1");
  EXPECT_EQ(Lease(vm), kSecureLease);
  auto status = Api("GET", "/v1/status").Json();
  EXPECT_EQ(status["dhcp"]["state"], "running") << status;
  EXPECT_EQ(status["firewall"]["full_applies"], 1) << status;
  EXPECT_EQ(status["firewall"]["kernel_failures"], 0) << status;
  // netd signals the unprivileged dnsmasq: a reload (a new reservation) and its stop.
  auto& second = Bind("vm2");
  EXPECT_EQ(Lease(second), "ip=192.168.129.2 router=192.168.128.1 dns=192.168.128.1 lease=3600");
  auto pids = DnsmasqPids();
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_EQ(netd_->Stop(), 0) << netd_->Log();
  EXPECT_TRUE(Within(2s, [&] { return DnsmasqPids().empty(); }))
      << "netd could not stop its dnsmasq without CAP_KILL beyond the unit's set";
  EXPECT_THAT(netd_->Log(), ::testing::Not(::testing::HasSubstr("Operation not permitted")));
  netd_.reset();
}

}  // namespace
}  // namespace netd
