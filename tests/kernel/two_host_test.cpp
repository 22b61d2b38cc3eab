// Two VM hosts, each with its own Open vSwitch and its own netd host role (HostRole, as the
// daemon composes it, from a parsed configuration), trunked to a switch namespace that also
// holds the gateway's interfaces (lab::TwoHostLab). Real pings between namespaces, and crafted
// frames (tools/frames.py) looked for where they must not arrive.
#include "netd/lab/two_host.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "frames.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/host_role.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/testing/status_of.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;

// One host's configuration: the host role only (or with the gateway role, the single-server
// shape), its private OVS, the lab's uplinks as trunks.
std::string HostConfigText(const lab::OvsInstance& ovs, bool gateway_role = false) {
  return fmt::format(R"(
[netd]
roles = {}
{}
[host]
datapath_type = "netdev"
ovsdb_remote = "{}"
openvswitch_rundir = "{}"
libvirt_uri = ""

[[network]]
name = "secure"
bridge = "br-secure"
vlan = 1081
cidr = "192.168.128.0/17"
gateway = "192.168.128.1"
dhcp_first = "192.168.129.1"
dhcp_last = "192.168.255.254"
egress = "allowlist"
uplink = "up1081"
uplink_mode = "trunk"

[[network]]
name = "service"
bridge = "br-service"
vlan = 1082
cidr = "192.168.122.0/24"
gateway = "192.168.122.1"
dhcp_first = "192.168.122.3"
dhcp_last = "192.168.122.254"
egress = "open"
uplink = "up1082"
uplink_mode = "trunk"
)",
                     gateway_role ? R"(["gateway", "host"])" : R"(["host"])",
                     gateway_role ? "[gateway]\nexternal_interface = \"ext0\"" : "",
                     ovs.db_remote(), ovs.dir().string());
}

constexpr const char* kVmaMac = "52:54:c0:a8:81:0a";  // 192.168.129.10
constexpr const char* kVmbMac = "52:54:c0:a8:81:0b";  // 192.168.129.11

class TwoHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    lab_.emplace(std::vector<lab::TwoHostLab::Network>{{"br-secure", 1081, "192.168.128.1/17"},
                                                       {"br-service", 1082, "192.168.122.1/24"}});
    for (int number : {1, 2}) {
      configs_[number - 1] = ParseConfig(HostConfigText(lab_->host_ovs(number)), "host");
      roles_[number - 1] = std::make_unique<HostRole>(io_, configs_[number - 1]);
      roles_[number - 1]->Start();
    }
    ASSERT_TRUE(testing::RunUntil(io_, 10s,
                                  [&] { return Connected(*roles_[0]) && Connected(*roles_[1]); }));
  }

  static bool Connected(const HostRole& role) {
    auto status = testing::StatusOf(role)["host"];
    if (!status["bridges"]["in_sync"].get<bool>()) return false;
    for (const auto& bridge : status["bridges"]["per_bridge"]) {
      if (!bridge["openflow_connected"].get<bool>()) return false;
    }
    return true;
  }

  // A VM namespace attached to host `number`'s bridge the way libvirt attaches it.
  const lab::Namespace& Vm(int number, const std::string& tag, const std::string& bridge, int vlan,
                           const std::string& mac, const std::string& address) {
    vms_.push_back(std::make_unique<lab::Namespace>(tag));
    lab_->host_ovs(number).AttachVm(bridge, *vms_.back(), "eth0", tag,
                                    {.mac = mac, .vm_id = tag, .vlan_tag = vlan});
    vms_.back()->AddAddress("eth0", address);
    return *vms_.back();
  }

  bool PortIs(int number, const std::string& port, const std::string& state) {
    for (const auto& entry : roles_[number - 1]->PortsJson()) {
      if (entry["port"] == port) {
        return entry["state"] == state && entry["flows_installed"].get<bool>();
      }
    }
    return false;
  }
  bool Pinned(int number, const std::string& port) { return PortIs(number, port, "pinned"); }

  // Host `number` as a router would be, were a VM's frames to reach its stack: an address on
  // br-secure's internal port, forwarding on, and a route to the namespace `beyond`
  // (10.99.0.2, behind out0), which the test owns. Returns `beyond`.
  const lab::Namespace& RoutingHost(int number) {
    const auto& host = lab_->host(number);
    host.SetLinkUp("br-secure");
    host.AddAddress("br-secure", "192.168.128.2/17");
    vms_.push_back(std::make_unique<lab::Namespace>("beyond"));
    const auto& beyond = *vms_.back();
    lab::CreateVethPair(host, "out0", beyond, "eth0");
    host.AddAddress("out0", "10.99.0.1/24");
    beyond.AddAddress("eth0", "10.99.0.2/24");
    beyond.AddRoute("default", "10.99.0.1");
    for (const auto* setting : {"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                                "net.ipv4.conf.br-secure.rp_filter=0"}) {
      host.RunChecked({"sysctl", "-qw", setting});
    }
    return beyond;
  }

  static std::string MacOf(const lab::Namespace& ns, const std::string& ifname) {
    auto mac = ns.RunChecked({"cat", "/sys/class/net/" + ifname + "/address"}).out;
    return mac.substr(0, mac.find('\n'));
  }

  // Whether `ovs-ofctl show` lists OFPPC_NO_FWD in the config of the bridge's internal port.
  bool LocalPortIsolated(int number) {
    auto shown = lab_->host_ovs(number).Ofctl({"-O", "OpenFlow13", "show", "br-secure"}).out;
    auto config = shown.find("config:", shown.find("LOCAL(br-secure)"));
    return shown.substr(config, shown.find('\n', config) - config).find("NO_FWD") !=
           std::string::npos;
  }

  boost::asio::io_context io_;
  std::optional<lab::TwoHostLab> lab_;
  Config configs_[2];
  std::unique_ptr<HostRole> roles_[2];
  std::vector<std::unique_ptr<lab::Namespace>> vms_;

  void TearDown() override {
    for (auto& role : roles_) {
      if (role) role->Stop();
    }
  }
};

TEST_F(TwoHostTest, SecureVmsOnTwoHostsReachEachOtherAndTheGatewayThroughTheTrunks) {
  const auto& a = Vm(1, "vma", "br-secure", 1081, "52:54:c0:a8:81:0a", "192.168.129.10/17");
  const auto& b = Vm(2, "vmb", "br-secure", 1081, "52:54:c0:a8:81:0b", "192.168.129.11/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vma") && Pinned(2, "vmb"); }));
  EXPECT_TRUE(a.Ping("192.168.129.11")) << "secure VMs on two hosts cannot reach each other";
  EXPECT_TRUE(a.Ping("192.168.128.1"));
  EXPECT_TRUE(b.Ping("192.168.128.1"));
  // The switch learned both VMs on VLAN 1081: their frames crossed the trunks tagged.
  auto fdb = lab_->switch_ovs().Appctl({"fdb/show", "fabric"}).out;
  EXPECT_NE(fdb.find("1081  52:54:c0:a8:81:0a"), std::string::npos) << fdb;
  EXPECT_NE(fdb.find("1081  52:54:c0:a8:81:0b"), std::string::npos) << fdb;
}

TEST_F(TwoHostTest, ASecureVmWithAServiceAddressByHandReachesNothingOnTheServiceNetwork) {
  const auto& service_vm =
      Vm(2, "vmd", "br-service", 1082, "52:54:c0:a8:7a:0b", "192.168.122.11/24");
  // A secure VM (its MAC encodes 192.168.129.20) that gives itself a service address.
  const auto& rogue = Vm(1, "vmc", "br-secure", 1081, "52:54:c0:a8:81:14", "192.168.122.50/24");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vmc") && Pinned(2, "vmd"); }));
  EXPECT_TRUE(service_vm.Ping("192.168.122.1")) << "the service network itself does not work";
  EXPECT_FALSE(rogue.Ping("192.168.122.1", 2)) << "reached the service gateway";
  EXPECT_FALSE(rogue.Ping("192.168.122.11", 2)) << "reached a service VM";
  // Not only the VLANs keep it out: its port on host1 let nothing of it through (its ARP for
  // the service addresses hit the port's drop flows, none of its allow flows).
  auto number = lab_->host_ovs(1).Vsctl({"get", "Interface", "vmc", "ofport"}).out;
  number = number.substr(0, number.find('\n'));
  auto flows = lab_->host_ovs(1)
                   .Ofctl({"-O", "OpenFlow13", "dump-flows", "br-secure", "in_port=" + number})
                   .out;
  std::uint64_t allowed = 0;
  std::uint64_t dropped = 0;
  std::istringstream lines(flows);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find("n_packets=");
    if (at == std::string::npos) continue;
    auto packets = std::stoull(line.substr(at + 10));
    (line.find("actions=NORMAL") != std::string::npos ? allowed : dropped) += packets;
  }
  EXPECT_EQ(allowed, 0u) << flows;
  EXPECT_GT(dropped, 0u) << flows;
}

// What a hostile root user in a VM on a host-only VM host sends at the host, judged at the host's
// internal port and behind the host: nothing arrives, while the VM (and one on the other host,
// through the uplinks) still reaches the gateway.
TEST_F(TwoHostTest, OnAHostOnlyHostVmsReachNothingOnTheBridgesInternalPort) {
  const auto& beyond = RoutingHost(1);
  ASSERT_TRUE(lab_->host(1).Ping("10.99.0.2")) << "the route through host1 does not work";
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  const auto& b = Vm(2, "vmb", "br-secure", 1081, kVmbMac, "192.168.129.11/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] {
    return Pinned(1, "vma") && Pinned(2, "vmb") && PortIs(1, "br-secure", "isolated");
  }));
  EXPECT_TRUE(LocalPortIsolated(1));
  const auto host_mac = MacOf(lab_->host(1), "br-secure");
  const auto gateway_mac = MacOf(lab_->gateway(), "gw1081");
  testing::FrameListener internal_port(lab_->host(1), "br-secure");
  testing::FrameListener behind_host(beyond, "eth0");
  testing::FrameListener gateway(lab_->gateway(), "gw1081");

  auto send = [](const lab::Namespace& vm, const char* mac, const char* ip, const char* kind,
                 const std::string& marker, const std::vector<std::string>& to = {}) {
    testing::SendFrame(vm, "eth0", kind, mac, ip, marker, to);
  };
  const char* a_ip = "192.168.129.10";
  send(a, kVmaMac, a_ip, "ipv4", "routed-via-host", {host_mac, "10.99.0.2"});
  send(a, kVmaMac, a_ip, "ipv4", "to-host-address", {host_mac, "192.168.128.2"});
  send(a, kVmaMac, a_ip, "arp", "arp-for-host", {"ff:ff:ff:ff:ff:ff", "192.168.128.2"});
  send(a, kVmaMac, a_ip, "arp", "arp-to-host-mac", {host_mac, "192.168.128.2"});
  send(a, kVmaMac, a_ip, "ipv4", "broadcast");
  send(a, kVmaMac, "0.0.0.0", "dhcp-discover", "dhcp-discover");
  send(a, kVmaMac, a_ip, "ipv4", "multicast", {"01:00:5e:00:00:fb", "224.0.0.251"});
  send(a, kVmaMac, a_ip, "ipv4", "unknown-unicast", {"02:00:00:00:99:99", "10.99.0.2"});
  send(a, kVmaMac, a_ip, "ipv4", "host-address-to-gateway-mac", {gateway_mac, "192.168.128.2"});
  // A VM of the other host, through the uplinks.
  const char* b_ip = "192.168.129.11";
  send(b, kVmbMac, b_ip, "ipv4", "routed-via-host-from-host2", {host_mac, "10.99.0.2"});
  send(b, kVmbMac, b_ip, "ipv4", "broadcast-from-host2");
  // Positive controls, last: one port's frames are forwarded in order, so once these reached
  // the gateway the others had their chance.
  send(b, kVmbMac, b_ip, "ipv4", "to-gateway-from-host2", {gateway_mac, "192.168.128.1"});
  send(a, kVmaMac, a_ip, "ipv4", "to-gateway", {gateway_mac, "192.168.128.1"});
  ASSERT_TRUE(testing::Within(5s, [&] {
    auto seen = gateway.Seen();
    return seen.contains("to-gateway") && seen.contains("to-gateway-from-host2");
  })) << "the VMs' frames did not reach the gateway";
  // Time for host1's stack to route what it might have received.
  std::this_thread::sleep_for(500ms);
  auto at_gateway = gateway.Seen();
  for (const auto* flooded : {"broadcast", "dhcp-discover", "arp-for-host", "multicast"}) {
    EXPECT_TRUE(at_gateway.contains(flooded)) << flooded << " did not reach the gateway";
  }
  EXPECT_TRUE(internal_port.Seen().empty())
      << "reached host1's internal port: "
      << fmt::format("{}", fmt::join(internal_port.Seen(), " "));
  EXPECT_TRUE(behind_host.Seen().empty())
      << "routed by host1: " << fmt::format("{}", fmt::join(behind_host.Seen(), " "));
  // The listener behind the host hears what does arrive there.
  testing::SendFrame(lab_->host(1), "out0", "ipv4", MacOf(lab_->host(1), "out0"), "10.99.0.1",
                     "listener-alive");
  EXPECT_TRUE(testing::Within(5s, [&] { return behind_host.Seen().contains("listener-alive"); }));
  EXPECT_TRUE(a.Ping("192.168.128.1")) << "the VM no longer reaches its gateway";
  EXPECT_FALSE(a.Ping("192.168.128.2", 2)) << "the VM reaches host1's address";
}

// The single-server shape: with the gateway role too, the internal port is the gateway's
// interface and receives VM frames (here, routed on by the host: the setup above would see a
// host that routes). The isolation left by the host-only netd before it is lifted.
TEST_F(TwoHostTest, WithTheGatewayRoleTooTheInternalPortReceivesVmFrames) {
  const auto& beyond = RoutingHost(1);
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  ASSERT_TRUE(testing::RunUntil(
      io_, 5s, [&] { return Pinned(1, "vma") && PortIs(1, "br-secure", "isolated"); }));
  roles_[0]->Stop();
  roles_[0].reset();
  configs_[0] = ParseConfig(HostConfigText(lab_->host_ovs(1), /*gateway_role=*/true), "host");
  roles_[0] = std::make_unique<HostRole>(io_, configs_[0]);
  roles_[0]->Start();
  ASSERT_TRUE(testing::RunUntil(
      io_, 5s, [&] { return Pinned(1, "vma") && PortIs(1, "br-secure", "forward"); }));
  EXPECT_FALSE(LocalPortIsolated(1));
  testing::FrameListener internal_port(lab_->host(1), "br-secure");
  testing::FrameListener behind_host(beyond, "eth0");
  testing::SendFrame(a, "eth0", "ipv4", kVmaMac, "192.168.129.10", "routed-via-host",
                     {MacOf(lab_->host(1), "br-secure"), "10.99.0.2"});
  EXPECT_TRUE(testing::Within(5s, [&] { return behind_host.Seen().contains("routed-via-host"); }));
  EXPECT_TRUE(internal_port.Seen().contains("routed-via-host"));
  EXPECT_TRUE(a.Ping("192.168.128.2")) << "the VM does not reach the gateway's interface";
}

TEST_F(TwoHostTest, AnInternalPortMadeToForwardBehindNetdsBackIsIsolatedAgain) {
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return PortIs(1, "br-secure", "isolated"); }));
  ASSERT_TRUE(lab_->host_ovs(1)
                  .Ofctl({"-O", "OpenFlow13", "mod-port", "br-secure", "br-secure", "forward"})
                  .ok());
  ASSERT_FALSE(LocalPortIsolated(1));
  auto repairs = [&] {
    return testing::StatusOf(*roles_[0])["host"]["bridges"]["per_bridge"][0]["local_port_repairs"]
        .get<int>();
  };
  EXPECT_TRUE(testing::RunUntil(io_, 5s, [&] { return repairs() >= 1; }));
  EXPECT_TRUE(LocalPortIsolated(1));
}

}  // namespace
}  // namespace netd
