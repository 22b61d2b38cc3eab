// Two VM hosts, each with its own Open vSwitch and its own netd host role (HostRole, as the
// daemon composes it, from a parsed configuration), trunked to a switch namespace that also
// holds the gateway's interfaces (lab::TwoHostLab). Real pings between namespaces.
#include "netd/lab/two_host.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "netd/daemon/config.hpp"
#include "netd/daemon/host_role.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;

// One host's configuration: the host role only, its private OVS, the lab's uplinks as trunks.
std::string HostConfigText(const lab::OvsInstance& ovs) {
  return fmt::format(R"(
[netd]
roles = ["host"]
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
                     ovs.db_remote(), ovs.dir().string());
}

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
    auto status = role.StatusJson();
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

  bool Pinned(int number, const std::string& port) {
    for (const auto& entry : roles_[number - 1]->PortsJson()) {
      if (entry["port"] == port) {
        return entry["state"] == "pinned" && entry["flows_installed"].get<bool>();
      }
    }
    return false;
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

}  // namespace
}  // namespace netd
