// OpenFlow port security against a real ovs-vswitchd (userspace datapath), with real frames:
// netd's BridgeReconciler creates br-secure and br-service, PortSecurity pins VM ports attached
// the way libvirt attaches them, and frames crafted in the VM namespaces are looked for at the
// gateway's internal port.
#include "netd/ovs/port_security.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "frames.hpp"
#include "netd/lab/command.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/ovs/bridges.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;

constexpr const char* kVm1Mac = "52:54:0a:51:00:0a";  // 10.81.0.10
constexpr const char* kVm2Mac = "52:54:0a:51:00:0b";  // 10.81.0.11

using testing::FrameListener;

class PortSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    host_.emplace("pshost");
    ovs_.emplace(*host_);
    client_.emplace(io_, ovs_->db_socket());
    bridges_.emplace(
        io_, *client_,
        std::vector<BridgeSpec>{{"br-secure", "netdev", 1081, UplinkMode::kTrunk, ""},
                                {"br-service", "netdev", 1082, UplinkMode::kTrunk, ""}});
    secure_.emplace(io_, *client_,
                    PortSecuritySpec{.bridge = "br-secure",
                                     .cidr = *Ipv4Cidr::Parse("10.81.0.0/24"),
                                     .gateway = *Ipv4Address::Parse("10.81.0.1"),
                                     .dhcp_first = *Ipv4Address::Parse("10.81.0.10"),
                                     .dhcp_last = *Ipv4Address::Parse("10.81.0.200"),
                                     .pin_mac_only = false,
                                     .mgmt_socket = ovs_->mgmt_socket("br-secure")});
    service_.emplace(io_, *client_,
                     PortSecuritySpec{.bridge = "br-service",
                                      .cidr = *Ipv4Cidr::Parse("10.82.0.0/24"),
                                      .gateway = *Ipv4Address::Parse("10.82.0.1"),
                                      .dhcp_first = *Ipv4Address::Parse("10.82.0.10"),
                                      .dhcp_last = *Ipv4Address::Parse("10.82.0.200"),
                                      .pin_mac_only = true,
                                      .mgmt_socket = ovs_->mgmt_socket("br-service")});
    client_->Start();
    bridges_->Start();
    secure_->Start();
    service_->Start();
    // Every test starts from the bridge's whole table acknowledged (what it counts flows from).
    ASSERT_TRUE(RunUntil(5s, [&] {
      return bridges_->in_sync() && Installed(*secure_, "br-secure", PortState::kForward);
    }));
    SetUpGateway();
    vm1_.emplace("psvm1");
  }

  // The gateway's address on br-secure's internal port (again after ovs-vswitchd restarts).
  void SetUpGateway() {
    host_->SetLinkUp("br-secure");
    host_->RunChecked({"ip", "address", "replace", "10.81.0.1/24", "dev", "br-secure"});
  }

  // Attaches `vm` as libvirt would and gives its eth0 `address`. IPv6 is off in the VM, so
  // that only the test's frames reach the bridge from it (no router solicitations).
  void Attach(const lab::Namespace& vm, const std::string& port, const std::string& mac,
              const std::string& address, const std::string& bridge = "br-secure", int tag = 1081) {
    vm.RunChecked({"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"});
    vm.RunChecked({"sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"});
    ovs_->AttachVm(bridge, vm, "eth0", port, {.mac = mac, .vm_id = port, .vlan_tag = tag});
    vm.AddAddress("eth0", address);
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }

  static const PortSecurity::PortStatus* Port(const PortSecurity& security,
                                              const std::string& name) {
    static thread_local std::vector<PortSecurity::PortStatus> ports;
    ports = security.ports();
    for (const auto& port : ports) {
      if (port.plan.name == name) return &port;
    }
    return nullptr;
  }
  bool Installed(const PortSecurity& security, const std::string& name, PortState state) {
    const auto* port = Port(security, name);
    return port && port->plan.state == state && port->installed;
  }

  std::string DumpFlows(const std::string& bridge) {
    return ovs_->Ofctl({"-O", "OpenFlow13", "--no-stats", "dump-flows", bridge}).out;
  }
  // n_packets of the table-miss drop netd installs (priority 0).
  std::uint64_t BaselineDrops(const std::string& bridge) {
    std::istringstream lines(ovs_->Ofctl({"-O", "OpenFlow13", "dump-flows", bridge}).out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("priority=0 ") == std::string::npos &&
          line.find("priority=0,") == std::string::npos) {
        continue;
      }
      auto at = line.find("n_packets=");
      if (at != std::string::npos) return std::stoull(line.substr(at + 10));
    }
    return 0;
  }

  void Send(const lab::Namespace& vm, const std::string& kind, const std::string& mac,
            const std::string& ip, const std::string& marker) {
    testing::SendFrame(vm, "eth0", kind, mac, ip, marker);
  }

  boost::asio::io_context io_;
  std::optional<lab::Namespace> host_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<OvsdbClient> client_;
  std::optional<BridgeReconciler> bridges_;
  std::optional<PortSecurity> secure_;
  std::optional<PortSecurity> service_;
  std::optional<lab::Namespace> vm1_;
};

TEST_F(PortSecurityTest, AValidPortReachesTheGatewayAndSpoofedFramesAreDropped) {
  Attach(*vm1_, "vnet1", kVm1Mac, "10.81.0.10/24");
  ASSERT_TRUE(RunUntil(5s, [&] { return Installed(*secure_, "vnet1", PortState::kPinned); }));
  EXPECT_EQ(Port(*secure_, "vnet1")->plan.address->ToString(), "10.81.0.10");
  auto flows = DumpFlows("br-secure");
  EXPECT_NE(flows.find("dl_src=52:54:0a:51:00:0a,nw_src=10.81.0.10 actions=NORMAL"),
            std::string::npos)
      << flows;
  EXPECT_NE(flows.find("cookie=0x6e64"), std::string::npos) << flows;
  EXPECT_TRUE(vm1_->Ping("10.81.0.1")) << "a pinned VM cannot reach its gateway";

  FrameListener gateway(*host_, "br-secure");
  // Dropped: another source address, another MAC, a gratuitous ARP for another address, a DHCP
  // server's answer (even from its own address), IPv6, another ethertype.
  Send(*vm1_, "ipv4", kVm1Mac, "10.81.0.99", "spoofed-ip");
  Send(*vm1_, "ipv4", "52:54:0a:51:00:63", "10.81.0.99", "spoofed-mac-and-ip");
  Send(*vm1_, "ipv4", "52:54:0a:51:00:0b", "10.81.0.10", "spoofed-mac");
  Send(*vm1_, "arp", kVm1Mac, "10.81.0.99", "arp-for-another");
  Send(*vm1_, "dhcp-offer", kVm1Mac, "10.81.0.10", "dhcp-offer");
  Send(*vm1_, "dhcp-offer-sport", kVm1Mac, "10.81.0.10", "dhcp-offer-other-port");
  Send(*vm1_, "tagged", kVm1Mac, "10.81.0.10", "tagged");
  Send(*vm1_, "arp-other-sha", kVm1Mac, "10.81.0.10", "arp-other-sender-mac");
  Send(*vm1_, "ipv6", kVm1Mac, "10.81.0.10", "ipv6");
  Send(*vm1_, "other", kVm1Mac, "10.81.0.10", "other-ethertype");
  // Forwarded: its own address and MAC, ARP for itself, DHCP discovery. One port's frames are
  // forwarded in order, so once these arrived the dropped ones had their chance.
  Send(*vm1_, "ipv4", kVm1Mac, "10.81.0.10", "valid-ipv4");
  Send(*vm1_, "arp", kVm1Mac, "10.81.0.10", "valid-arp");
  Send(*vm1_, "dhcp-discover", kVm1Mac, "0.0.0.0", "valid-dhcp-discover");
  ASSERT_TRUE(testing::Within(5s, [&] { return gateway.Seen().contains("valid-dhcp-discover"); }));
  auto seen = gateway.Seen();
  EXPECT_TRUE(seen.contains("valid-ipv4"));
  EXPECT_TRUE(seen.contains("valid-arp"));
  for (const auto* dropped :
       {"spoofed-ip", "spoofed-mac-and-ip", "spoofed-mac", "arp-for-another", "dhcp-offer",
        "dhcp-offer-other-port", "tagged", "arp-other-sender-mac", "ipv6", "other-ethertype"}) {
    EXPECT_FALSE(seen.contains(dropped)) << dropped << " reached the gateway";
  }
}

TEST_F(PortSecurityTest, APortWithAForeignMacGetsNothingOnTheSecureBridge) {
  lab::Namespace stranger("psvmx");
  Attach(stranger, "vnetx", "02:00:00:00:00:32", "10.81.0.50/24");
  ASSERT_TRUE(RunUntil(5s, [&] {
    const auto* port = Port(*secure_, "vnetx");
    return port && port->plan.state == PortState::kRefused;
  }));
  EXPECT_NE(Port(*secure_, "vnetx")->plan.reason.find("does not encode"), std::string::npos);
  // A MAC of the form, but for an address outside the DHCP range: refused as well.
  lab::Namespace outside("psvmo");
  Attach(outside, "vneto", "52:54:0a:51:00:05", "10.81.0.5/24");
  ASSERT_TRUE(RunUntil(5s, [&] {
    const auto* port = Port(*secure_, "vneto");
    return port && port->plan.state == PortState::kRefused;
  }));
  EXPECT_NE(Port(*secure_, "vneto")->plan.reason.find("outside the DHCP range"), std::string::npos);
  EXPECT_EQ(secure_->counters().refused, 2u);

  FrameListener gateway(*host_, "br-secure");
  auto drops = BaselineDrops("br-secure");
  Send(stranger, "ipv4", "02:00:00:00:00:32", "10.81.0.50", "stranger-ipv4");
  Send(stranger, "arp", "02:00:00:00:00:32", "10.81.0.50", "stranger-arp");
  Send(stranger, "dhcp-discover", "02:00:00:00:00:32", "0.0.0.0", "stranger-discover");
  Send(outside, "ipv4", "52:54:0a:51:00:05", "10.81.0.5", "outside-ipv4");
  // Every frame hits netd's table-miss drop: once it counted four, none can still arrive.
  ASSERT_TRUE(testing::Within(5s, [&] { return BaselineDrops("br-secure") >= drops + 4; }));
  EXPECT_TRUE(gateway.Seen().empty());
  EXPECT_FALSE(stranger.Ping("10.81.0.1", 1));
}

TEST_F(PortSecurityTest, PortChangesReplaceTheirFlowsAsAUnit) {
  auto baseline_flows = secure_->counters().flows;
  lab::Namespace vm2("psvm2");
  Attach(vm2, "vnet2", kVm2Mac, "10.81.0.11/24");
  ASSERT_TRUE(RunUntil(5s, [&] { return Installed(*secure_, "vnet2", PortState::kPinned); }));
  // libvirt gives the interface another MAC: the old address's flows go, the new one's come.
  ovs_->Vsctl({"set", "Interface", "vnet2", "external_ids:attached-mac=\"52:54:0a:51:00:0c\""});
  ASSERT_TRUE(RunUntil(5s, [&] {
    const auto* port = Port(*secure_, "vnet2");
    return port && port->installed && port->plan.address &&
           port->plan.address->ToString() == "10.81.0.12";
  }));
  auto flows = DumpFlows("br-secure");
  EXPECT_EQ(flows.find("10.81.0.11"), std::string::npos) << flows;
  EXPECT_NE(flows.find("nw_src=10.81.0.12"), std::string::npos) << flows;
  // The port goes: so do its flows.
  ovs_->Vsctl({"del-port", "br-secure", "vnet2"});
  ASSERT_TRUE(RunUntil(5s, [&] {
    return Port(*secure_, "vnet2") == nullptr && secure_->counters().flows == baseline_flows;
  }));
  EXPECT_TRUE(testing::Within(2s, [&] {
    return DumpFlows("br-secure").find("10.81.0.12") == std::string::npos;
  })) << DumpFlows("br-secure");
}

TEST_F(PortSecurityTest, AfterOvsVswitchdRestartsNothingPassesUntilNetdReinstallsTheFlows) {
  Attach(*vm1_, "vnet1", kVm1Mac, "10.81.0.10/24");
  ASSERT_TRUE(RunUntil(5s, [&] { return Installed(*secure_, "vnet1", PortState::kPinned); }));
  ASSERT_TRUE(vm1_->Ping("10.81.0.1"));
  auto installs = secure_->counters().full_installs;

  // netd's loop does not run while ovs-vswitchd is down and back: the bridge has no flows.
  ovs_->KillVswitchd();
  ovs_->StartVswitchd();
  ASSERT_TRUE(testing::Within(5s, [&] { return ovs_->Vsctl({"br-exists", "br-secure"}).ok(); }));
  ASSERT_TRUE(testing::Within(5s, [&] {
    return host_->Run({"ip", "link", "show", "br-secure"}).ok();
  }));
  SetUpGateway();
  EXPECT_EQ(DumpFlows("br-secure").find("actions"), std::string::npos) << DumpFlows("br-secure");
  EXPECT_FALSE(vm1_->Ping("10.81.0.1", 2)) << "secure traffic passed a bridge without flows";

  ASSERT_TRUE(RunUntil(10s, [&] {
    return secure_->counters().full_installs > installs &&
           Installed(*secure_, "vnet1", PortState::kPinned);
  }));
  EXPECT_TRUE(vm1_->Ping("10.81.0.1")) << "the flows netd re-installed do not let the VM through";
}

TEST_F(PortSecurityTest, FlowsDeletedBehindNetdsBackAreInstalledAgain) {
  Attach(*vm1_, "vnet1", kVm1Mac, "10.81.0.10/24");
  ASSERT_TRUE(RunUntil(5s, [&] { return Installed(*secure_, "vnet1", PortState::kPinned); }));
  // An operator's del-flows: the secure bridge drops everything until netd notices.
  ASSERT_TRUE(ovs_->Ofctl({"del-flows", "br-secure"}).ok());
  EXPECT_EQ(DumpFlows("br-secure").find("actions"), std::string::npos);
  auto repaired = [&](std::uint64_t repairs) {
    return RunUntil(5s, [&] {
      return secure_->counters().flow_repairs >= repairs &&
             DumpFlows("br-secure").find("nw_src=10.81.0.10") != std::string::npos;
    });
  };
  ASSERT_TRUE(repaired(1)) << DumpFlows("br-secure");
  EXPECT_TRUE(vm1_->Ping("10.81.0.1"));
  // A changed fail_mode flushes the table twice (to standalone, and back to secure when netd
  // repairs the bridge): the flows come back after that too.
  ASSERT_TRUE(ovs_->Vsctl({"set", "Bridge", "br-secure", "fail_mode=standalone"}).ok());
  ASSERT_TRUE(RunUntil(5s, [&] {
    return ovs_->Vsctl({"get", "Bridge", "br-secure", "fail_mode"}).out == "secure\n";
  }));
  ASSERT_TRUE(repaired(2)) << DumpFlows("br-secure");
  EXPECT_TRUE(vm1_->Ping("10.81.0.1"));
  EXPECT_EQ(DumpFlows("br-secure").find("priority=0 actions=NORMAL"), std::string::npos)
      << "the standalone bridge's NORMAL flow outlived the repair";
}

TEST_F(PortSecurityTest, OnTheServiceBridgeAnUnplannedMacIsPinnedToItsMac) {
  host_->SetLinkUp("br-service");
  host_->AddAddress("br-service", "10.82.0.1/24");
  lab::Namespace vm("psvms");
  Attach(vm, "vnets", "02:00:00:00:00:4d", "10.82.0.77/24", "br-service", 1082);
  ASSERT_TRUE(RunUntil(5s, [&] { return Installed(*service_, "vnets", PortState::kPinnedMac); }));
  EXPECT_TRUE(vm.Ping("10.82.0.1"));
  FrameListener gateway(*host_, "br-service");
  Send(vm, "ipv4", "02:00:00:00:00:4e", "10.82.0.77", "other-mac");
  Send(vm, "ipv4", "02:00:00:00:00:4d", "10.81.0.77", "other-network");
  Send(vm, "ipv4", "02:00:00:00:00:4d", "10.82.0.78", "valid");
  ASSERT_TRUE(testing::Within(5s, [&] { return gateway.Seen().contains("valid"); }));
  EXPECT_FALSE(gateway.Seen().contains("other-mac"));
  EXPECT_FALSE(gateway.Seen().contains("other-network"));
}

}  // namespace
}  // namespace netd::ovs
