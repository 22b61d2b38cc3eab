// Two VM hosts, each with its own Open vSwitch and its own netd host role (HostRole, as the
// daemon composes it, from a parsed configuration), trunked to a switch namespace that also
// holds the gateway's interfaces (lab::TwoHostLab). The hosts follow the policy database, a
// three-member ovsdb-server cluster (each member in a namespace of its own) over ssl: with
// certificates the test makes, where the gateway's publisher (PolicyPublisher, as the gateway
// runs it) writes the bindings; in TwoHostGatewayTest a real netd in the gateway role, in the
// gateway's namespace, is the writer instead. Real pings between namespaces, real sessions, and
// crafted frames (tools/frames.py) looked for where they must not arrive.
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
#include "netd/common/asio_clock.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/host_role.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/ovsdb_cluster.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/lab/test_pki.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/policy/policy_publisher.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "netd/testing/status_of.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;

// Where the hosts read the policy database: the read-only listener the gateway keeps as a
// Connection row, opened by every member.
constexpr int kHostListenerPort = 6700;

// One host's configuration: the host role only (or with the gateway role, the single-server
// shape), its private OVS, the lab's uplinks as trunks, the policy database's members.
std::string HostConfigText(const lab::OvsInstance& ovs, const lab::OvsdbCluster& cluster,
                           const lab::TestPki::Files& tls, const std::string& ca,
                           bool gateway_role = false) {
  std::string remotes;
  for (int member = 0; member < cluster.size(); ++member) {
    remotes += fmt::format("{}\"ssl:{}:{}\"", member ? ", " : "", cluster.address(member),
                           kHostListenerPort);
  }
  return fmt::format(R"(
[netd]
roles = {}
{}
[host]
datapath_type = "netdev"
ovsdb_remote = "{}"
openvswitch_rundir = "{}"
libvirt_uri = ""

[policy]
remotes = [{}]
private_key = "{}"
certificate = "{}"
ca_certificate = "{}"

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
                     ovs.db_remote(), ovs.dir().string(), remotes, tls.private_key.string(),
                     tls.certificate.string(), ca);
}

constexpr const char* kVmaMac = "52:54:c0:a8:81:0a";  // 192.168.129.10
constexpr const char* kVmbMac = "52:54:c0:a8:81:0b";  // 192.168.129.11

class TwoHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    lab_.emplace(std::vector<lab::TwoHostLab::Network>{{"br-secure", 1081, "192.168.128.1/17"},
                                                       {"br-service", 1082, "192.168.122.1/24"}});
    // The policy database's members behind `control_`, where this thread's sockets (the
    // publisher's, the hosts' feeds) live for the test.
    control_.emplace("control");
    scope_.emplace(*control_);
    pki_dir_.emplace("pki");
    pki_.emplace(pki_dir_->path(), "ca");
    auto member = pki_->Issue("member");
    cluster_.emplace(*control_, policy::SchemaPath(),
                     lab::OvsdbCluster::Options{
                         .tls = lab::OvsdbCluster::Tls{member.private_key, member.certificate,
                                                       pki_->ca_certificate()},
                         .remotes = {"db:netd_policy,Policy,connections"}});
    StartGateway();
    for (int number : {1, 2}) {
      host_tls_[number - 1] = pki_->Issue("host" + std::to_string(number));
      StartHost(number);
    }
    ASSERT_TRUE(testing::RunUntil(io_, 15s, [&] {
      return Connected(*roles_[0]) && Connected(*roles_[1]);
    })) << testing::StatusOf(*roles_[0]).dump();
  }

  // The gateway's side: here its publisher in this process (TwoHostGatewayTest runs a netd).
  virtual void StartGateway() { StartPublisher(); }

  // The gateway's publisher, writing through the members' pssl: remotes.
  void StartPublisher() {
    std::vector<ovs::Remote> remotes;
    for (const auto& remote : cluster_->ssl_remotes()) {
      remotes.push_back(ovs::ParseOvsdbRemote(remote));
    }
    auto gateway = pki_->Issue("gateway");
    publisher_.emplace(
        io_,
        policy::PublisherOptions{
            .remotes = remotes,
            .tls = {gateway.private_key, gateway.certificate, pki_->ca_certificate()},
            .host_listeners = {"pssl:" + std::to_string(kHostListenerPort)}},
        clock_);
    publisher_->Start({});
  }

  void StartHost(int number, bool gateway_role = false) {
    configs_[number - 1] =
        ParseConfig(HostConfigText(lab_->host_ovs(number), *cluster_, host_tls_[number - 1],
                                   pki_->ca_certificate().string(), gateway_role),
                    "host");
    roles_[number - 1] = std::make_unique<HostRole>(io_, configs_[number - 1], clock_);
    roles_[number - 1]->Start();
  }

  // Binds `mac` on `network` to the address it encodes, as the gateway publishes a binding; back
  // once the database holds it.
  void Bind(const std::string& vm, const std::string& mac, const std::string& network = "secure") {
    auto parsed = *MacAddress::Parse(mac);
    publisher_->Bind({vm, network, parsed, *parsed.EncodedVmAddress()});
    Published();
  }
  void Unbind(const std::string& vm) {
    publisher_->Unbind(vm);
    Published();
  }
  void Published() {
    bool done = false;
    publisher_->WhenPublished([&] { done = true; });
    ASSERT_TRUE(testing::RunUntil(io_, 10s, [&] { return done; }));
  }

  static std::string FeedState(const HostRole& role) {
    return testing::StatusOf(role)["host"]["policy"]["state"].get<std::string>();
  }

  static bool Connected(const HostRole& role) {
    auto status = testing::StatusOf(role)["host"];
    if (status["policy"]["state"] != "current") return false;
    if (!status["bridges"]["in_sync"].get<bool>()) return false;
    for (const auto& bridge : status["bridges"]["per_bridge"]) {
      if (!bridge["openflow_connected"].get<bool>()) return false;
    }
    return true;
  }

  // A VM namespace attached to host `number`'s bridge the way libvirt attaches it; on the secure
  // network bound first, as the gateway would have.
  const lab::Namespace& Vm(int number, const std::string& tag, const std::string& bridge, int vlan,
                           const std::string& mac, const std::string& address, bool bind = true) {
    if (bind && bridge == "br-secure") Bind(tag, mac);
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
  // The port as GET /v1/host/ports shows it (null when absent).
  nlohmann::json PortOf(int number, const std::string& port) {
    for (const auto& entry : roles_[number - 1]->PortsJson()) {
      if (entry["port"] == port) return entry;
    }
    return nullptr;
  }
  bool Unbound(int number, const std::string& port) {
    auto entry = PortOf(number, port);
    return !entry.is_null() && entry["state"] == "refused" && entry["flows"] == 0 &&
           entry["reason"] == "MAC not bound on secure";
  }
  // netd's flows for the port's OpenFlow number in host `number`'s br-secure.
  std::string PortFlows(int number, const std::string& port) {
    const auto& ovs = lab_->host_ovs(number);
    auto ofport = ovs.Vsctl({"get", "Interface", port, "ofport"}).out;
    return ovs
        .Ofctl({"-O", "OpenFlow13", "--no-stats", "dump-flows", "br-secure",
                "in_port=" + ofport.substr(0, ofport.find('\n'))})
        .out;
  }
  void KillPolicyDatabase() {
    for (int member = 0; member < cluster_->size(); ++member) cluster_->Kill(member);
  }
  void RestartPolicyDatabase() {
    for (int member = 0; member < cluster_->size(); ++member) cluster_->Restart(member);
    cluster_->WaitForLeader(20s);
  }

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
  AsioClock clock_{io_};
  std::optional<lab::TwoHostLab> lab_;
  std::optional<lab::Namespace> control_;
  std::optional<lab::NamespaceScope> scope_;
  std::optional<lab::TempDir> pki_dir_;
  std::optional<lab::TestPki> pki_;
  std::optional<lab::OvsdbCluster> cluster_;
  std::optional<policy::PolicyPublisher> publisher_;
  lab::TestPki::Files host_tls_[2];
  Config configs_[2];
  std::unique_ptr<HostRole> roles_[2];
  std::vector<std::unique_ptr<lab::Namespace>> vms_;

  void TearDown() override {
    for (auto& role : roles_) {
      if (role) role->Stop();
    }
    if (publisher_) publisher_->Stop();
  }
};

// Segmentation across the trunks: secure VMs reach the gateway, and each other only as a group
// lets them (judged at the receiving VM's interface); a VM of neither group hears nothing.
TEST_F(TwoHostTest, SecureVmsReachTheGatewayAndEachOtherOnlyAsTheirGroupsAllow) {
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  const auto& b = Vm(2, "vmb", "br-secure", 1081, kVmbMac, "192.168.129.11/17");
  const char* kVmcMac = "52:54:c0:a8:81:0c";
  const auto& c = Vm(1, "vmc", "br-secure", 1081, kVmcMac, "192.168.129.12/17");
  ASSERT_TRUE(testing::RunUntil(
      io_, 5s, [&] { return Pinned(1, "vma") && Pinned(2, "vmb") && Pinned(1, "vmc"); }));
  EXPECT_TRUE(a.Ping("192.168.128.1"));
  EXPECT_TRUE(b.Ping("192.168.128.1"));
  const auto gateway_mac = MacOf(lab_->gateway(), "gw1081");
  testing::FrameListener at_a(a, "eth0");
  testing::FrameListener at_b(b, "eth0");
  testing::FrameListener at_c(c, "eth0");
  testing::FrameListener at_gateway(lab_->gateway(), "gw1081");
  const char* a_ip = "192.168.129.10";
  const char* b_ip = "192.168.129.11";
  auto send = [&](const char* kind, const std::string& marker, const std::string& mac,
                  const std::string& ip) {
    testing::SendFrame(a, "eth0", kind, kVmaMac, a_ip, marker, {mac, ip});
  };
  // What reached b (and c) once a frame sent after the others reached the gateway.
  auto settled = [&](const std::string& control) {
    send("ipv4", control, gateway_mac, "192.168.128.1");
    EXPECT_TRUE(testing::Within(5s, [&] { return at_gateway.Seen().contains(control); }));
    std::this_thread::sleep_for(300ms);
  };

  // No group: nothing of a reaches b (on host2) or c (on a's own host), not even its ARP.
  send("ipv4", "no-group-to-b", kVmbMac, b_ip);
  send("ipv4", "no-group-to-c", kVmcMac, "192.168.129.12");
  send("arp", "no-group-arp-for-b", "ff:ff:ff:ff:ff:ff", b_ip);
  send("ipv4", "no-group-to-b-via-broadcast-mac", "ff:ff:ff:ff:ff:ff", b_ip);
  // The gateway's address in a frame to another VM's MAC (the fabric carries a frame by its
  // MAC), and the network's broadcast address.
  send("ipv4", "gateway-address-to-b-mac", kVmbMac, "192.168.128.1");
  send("ipv4", "gateway-address-to-c-mac", kVmcMac, "192.168.128.1");
  send("ipv4", "subnet-broadcast", "ff:ff:ff:ff:ff:ff", "192.168.255.255");
  // A compromised host1 whose switch lets anything out: a's frame put straight on its uplink.
  // host2 decides alone, and drops it.
  testing::SendFrame(lab_->host(1), lab::TwoHostLab::Uplink(1081), "tagged-secure", kVmaMac, a_ip,
                     "from-host1-uplink", {kVmbMac, b_ip});
  settled("control-1");
  EXPECT_TRUE(at_b.Seen().empty()) << fmt::format("{}", fmt::join(at_b.Seen(), " "));
  EXPECT_TRUE(at_c.Seen().empty()) << fmt::format("{}", fmt::join(at_c.Seen(), " "));
  EXPECT_FALSE(at_gateway.Seen().contains("no-group-arp-for-b"));
  EXPECT_FALSE(a.Ping(b_ip, 1));

  // A group of a and b on UDP port 9 (what the frames are): a's datagram reaches b, both hosts
  // deciding; a's ARP for b is answered on host1 and never leaves it.
  publisher_->SetGroup({"pair", "secure", {"vma", "vmb"}, "udp", {9}, ""});
  Published();
  int attempt = 0;
  EXPECT_TRUE(testing::Within(5s, [&] {
    auto marker = fmt::format("udp9-{}", ++attempt);
    send("ipv4", marker, kVmbMac, b_ip);
    std::this_thread::sleep_for(50ms);
    return at_b.Seen().contains(marker);
  })) << "the group's datagram did not reach b";
  // The frame host2 dropped from host1's uplink now passes: it was dropped for want of a group.
  EXPECT_TRUE(testing::Within(5s, [&] {
    auto marker = fmt::format("from-host1-uplink-{}", ++attempt);
    testing::SendFrame(lab_->host(1), lab::TwoHostLab::Uplink(1081), "tagged-secure", kVmaMac, a_ip,
                       marker, {kVmbMac, b_ip});
    std::this_thread::sleep_for(50ms);
    return at_b.Seen().contains(marker);
  })) << "a frame from host1's uplink never reaches b, so the drop proved nothing";
  send("arp", "arp-for-b", "ff:ff:ff:ff:ff:ff", b_ip);
  EXPECT_TRUE(testing::Within(5s, [&] { return at_a.Seen().contains("arp-for-b"); }))
      << "a's ARP for b was not answered";
  settled("control-2");
  EXPECT_FALSE(at_b.Seen().contains("arp-for-b"));
  EXPECT_FALSE(at_gateway.Seen().contains("arp-for-b"));

  // The group on another port: UDP 9 no longer passes.
  publisher_->SetGroup({"pair", "secure", {"vma", "vmb"}, "udp", {53}, ""});
  Published();
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] {
    auto flows =
        lab_->host_ovs(1).Ofctl({"-O", "OpenFlow13", "dump-flows", "br-secure", "table=11"}).out;
    return flows.find("tp_dst=53") != std::string::npos &&
           flows.find("tp_dst=9,") == std::string::npos;
  }));
  send("ipv4", "udp9-after-change", kVmbMac, b_ip);
  settled("control-3");
  EXPECT_FALSE(at_b.Seen().contains("udp9-after-change"));

  // All traffic, both ways: ping, and its replies.
  publisher_->SetGroup({"pair", "secure", {"vma", "vmb"}, "all", {}, ""});
  Published();
  EXPECT_TRUE(testing::Within(5s, [&] { return a.Ping(b_ip, 1); }));
  EXPECT_TRUE(b.Ping(a_ip));
  // c was in no group: it heard nothing of a (a's broadcasts go to the gateway only).
  EXPECT_TRUE(at_c.Seen().empty()) << fmt::format("{}", fmt::join(at_c.Seen(), " "));

  // The group removed: the pair is cut.
  publisher_->RemoveGroup("pair");
  Published();
  EXPECT_TRUE(testing::Within(5s, [&] { return !a.Ping(b_ip, 1); }));
  EXPECT_TRUE(a.Ping("192.168.128.1"));
  auto status = testing::StatusOf(*roles_[0])["host"]["bridges"]["per_bridge"][0];
  EXPECT_GT(status["east_west_drops"].get<std::uint64_t>(), 0u) << status.dump();
  // The switch learned both VMs on VLAN 1081: their frames crossed the trunks tagged.
  auto fdb = lab_->switch_ovs().Appctl({"fdb/show", "fabric"}).out;
  EXPECT_NE(fdb.find("1081  52:54:c0:a8:81:0a"), std::string::npos) << fdb;
  EXPECT_NE(fdb.find("1081  52:54:c0:a8:81:0b"), std::string::npos) << fdb;
}

// A VM that announces another VM's MAC (RARP, as QEMU does after a live migration) to steal its
// place in the fabric's MAC table: only its own MAC's announce leaves its port, and the other VM
// keeps its traffic.
TEST_F(TwoHostTest, AVmAnnouncingAnotherVmsMacMovesNothingInTheFabric) {
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  const auto& b = Vm(2, "vmb", "br-secure", 1081, kVmbMac, "192.168.129.11/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vma") && Pinned(2, "vmb"); }));
  ASSERT_TRUE(a.Ping("192.168.128.1"));
  ASSERT_TRUE(b.Ping("192.168.128.1"));
  // The fabric's port for b's MAC on VLAN 1081 ("  5  1081  52:54:...  1").
  auto port_of_b = [&] {
    std::istringstream lines(lab_->switch_ovs().Appctl({"fdb/show", "fabric"}).out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(std::string("1081  ") + kVmbMac) != std::string::npos) {
        return line.substr(0, line.find("1081"));
      }
    }
    return std::string();
  };
  auto before = port_of_b();
  ASSERT_FALSE(before.empty());
  testing::FrameListener gateway(lab_->gateway(), "gw1081");
  testing::SendFrame(a, "eth0", "rarp", kVmbMac, "0.0.0.0", "stolen-announce");
  testing::SendFrame(a, "eth0", "rarp", kVmaMac, "0.0.0.0", "own-announce");
  ASSERT_TRUE(testing::Within(5s, [&] { return gateway.Seen().contains("own-announce"); }));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(gateway.Seen().contains("stolen-announce"));
  EXPECT_EQ(port_of_b(), before) << lab_->switch_ovs().Appctl({"fdb/show", "fabric"}).out;
  EXPECT_TRUE(b.Ping("192.168.128.1")) << "b lost its traffic";
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
  // Broadcasts and multicasts go to the gateway only; ARP for another address than the
  // gateway's nowhere.
  for (const auto* flooded : {"broadcast", "dhcp-discover", "multicast"}) {
    EXPECT_TRUE(at_gateway.contains(flooded)) << flooded << " did not reach the gateway";
  }
  EXPECT_FALSE(at_gateway.contains("arp-for-host"));
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
  StartHost(1, /*gateway_role=*/true);
  ASSERT_TRUE(testing::RunUntil(
      io_, 5s, [&] { return Pinned(1, "vma") && PortIs(1, "br-secure", "forward"); }));
  EXPECT_FALSE(LocalPortIsolated(1));
  testing::FrameListener internal_port(lab_->host(1), "br-secure");
  testing::FrameListener behind_host(beyond, "eth0");
  testing::SendFrame(a, "eth0", "ipv4", kVmaMac, "192.168.129.10", "routed-via-host",
                     {MacOf(lab_->host(1), "br-secure"), "10.99.0.2"});
  EXPECT_TRUE(testing::Within(5s, [&] { return behind_host.Seen().contains("routed-via-host"); }));
  EXPECT_TRUE(internal_port.Seen().contains("routed-via-host"));
  // Here the gateway is the internal port: frames for the gateway's address go there, and
  // nowhere else.
  testing::FrameListener gateway(lab_->gateway(), "gw1081");
  testing::SendFrame(a, "eth0", "ipv4", kVmaMac, "192.168.129.10", "to-gateway-address",
                     {MacOf(lab_->gateway(), "gw1081"), "192.168.128.1"});
  EXPECT_TRUE(
      testing::Within(5s, [&] { return internal_port.Seen().contains("to-gateway-address"); }));
  EXPECT_FALSE(gateway.Seen().contains("to-gateway-address"));
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
  // Counted when netd sends the port_mod; the switch applies it a moment later.
  EXPECT_TRUE(testing::RunUntil(io_, 5s, [&] { return repairs() >= 1 && LocalPortIsolated(1); }))
      << "repairs " << repairs();
}

// A hostile root user starts a VM by hand on a host, with a MAC of the gateway's plan that the
// gateway never bound: its port gets nothing, judged where its frames would arrive.
TEST_F(TwoHostTest, AnUnboundPortGetsNothingUntilTheGatewayBindsItAndLosesItAllWhenUnbound) {
  constexpr const char* kMac = "52:54:c0:a8:81:1e";  // 192.168.129.30
  const auto& rogue = Vm(1, "vmu", "br-secure", 1081, kMac, "192.168.129.30/17", /*bind=*/false);
  const auto& b = Vm(2, "vmb", "br-secure", 1081, kVmbMac, "192.168.129.11/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Unbound(1, "vmu") && Pinned(2, "vmb"); }))
      << PortOf(1, "vmu").dump();
  EXPECT_EQ(PortFlows(1, "vmu").find("in_port"), std::string::npos) << PortFlows(1, "vmu");
  auto bridge = testing::StatusOf(*roles_[0])["host"]["bridges"]["per_bridge"][0];
  EXPECT_EQ(bridge["vm_ports_unbound"], 1) << bridge.dump();
  EXPECT_GE(bridge["unbound_refusals"].get<int>(), 1) << bridge.dump();

  const auto gateway_mac = MacOf(lab_->gateway(), "gw1081");
  testing::FrameListener gateway(lab_->gateway(), "gw1081");
  testing::FrameListener other_vm(b, "eth0");
  testing::SendFrame(rogue, "eth0", "ipv4", kMac, "192.168.129.30", "unbound-to-gateway",
                     {gateway_mac, "192.168.128.1"});
  testing::SendFrame(rogue, "eth0", "ipv4", kMac, "192.168.129.30", "unbound-to-vm",
                     {kVmbMac, "192.168.129.11"});
  testing::SendFrame(rogue, "eth0", "arp", kMac, "192.168.129.30", "unbound-arp",
                     {"ff:ff:ff:ff:ff:ff", "192.168.128.1"});
  // The positive control, last.
  testing::SendFrame(b, "eth0", "ipv4", kVmbMac, "192.168.129.11", "bound-to-gateway",
                     {gateway_mac, "192.168.128.1"});
  ASSERT_TRUE(testing::Within(5s, [&] { return gateway.Seen().contains("bound-to-gateway"); }));
  for (const auto* marker : {"unbound-to-gateway", "unbound-arp"}) {
    EXPECT_FALSE(gateway.Seen().contains(marker)) << marker << " reached the gateway";
  }
  EXPECT_FALSE(other_vm.Seen().contains("unbound-to-vm")) << "reached another secure VM";
  EXPECT_FALSE(rogue.Ping("192.168.128.1", 2));

  // The gateway binds the MAC: pinned on its host at once, no call to the host.
  Bind("vmu", kMac);
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vmu"); }));
  EXPECT_TRUE(rogue.Ping("192.168.128.1")) << "a bound VM does not reach its gateway";
  // Unbound again: its flows go.
  Unbind("vmu");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Unbound(1, "vmu"); }));
  EXPECT_TRUE(testing::RunUntil(io_, 5s, [&] {
    return PortFlows(1, "vmu").find("in_port") == std::string::npos;
  })) << PortFlows(1, "vmu");
  EXPECT_FALSE(rogue.Ping("192.168.128.1", 2)) << "an unbound VM still reaches its gateway";
}

TEST_F(TwoHostTest, AHostReadsThePolicyDatabaseAndCannotWriteIt) {
  Bind("vma", kVmaMac);
  ovs::OvsdbClient::Options options;
  options.database = "netd_policy";
  options.tables = {{"Binding", {}}};
  options.tls = {host_tls_[0].private_key, host_tls_[0].certificate, pki_->ca_certificate()};
  ovs::OvsdbClient host(
      io_, ovs::ParseOvsdbRemote(fmt::format("ssl:{}:{}", cluster_->address(1), kHostListenerPort)),
      options);
  host.Start();
  ASSERT_TRUE(testing::RunUntil(io_, 10s, [&] { return host.synced(); }));
  EXPECT_EQ(host.rows("Binding").size(), 1u);
  std::optional<ovs::OvsdbClient::TransactionResult> outcome;
  host.Transact(nlohmann::json::array({{{"op", "insert"},
                                        {"table", "Binding"},
                                        {"row",
                                         {{"vm", "intruder"},
                                          {"network", "secure"},
                                          {"mac", "52:54:c0:a8:81:63"},
                                          {"ip", "192.168.129.99"}}}}}),
                [&](const auto& result) { outcome = result; });
  ASSERT_TRUE(testing::RunUntil(io_, 10s, [&] { return outcome.has_value(); }));
  EXPECT_FALSE(outcome->ok());
  EXPECT_NE(outcome->error.find("not allowed"), std::string::npos) << outcome->error;
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return publisher_->status().in_sync; }));
  EXPECT_EQ(host.rows("Binding").size(), 1u) << "the host's write reached the database";
  host.Stop();
}

// The cluster's leader dies: hosts keep their flows (VMs keep working), the gateway writes to
// the new leader, and a binding made after the failover reaches the hosts.
TEST_F(TwoHostTest, TheLeaderKilledHostsKeepTheirFlowsAndFollowTheNewLeader) {
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vma"); }));
  auto leader = cluster_->WaitForLeader(10s);
  cluster_->Kill(leader);
  EXPECT_TRUE(a.Ping("192.168.128.1")) << "the VM lost its network with the leader";
  auto new_leader = cluster_->WaitForLeader(20s);
  ASSERT_NE(new_leader, leader);
  const auto& b = Vm(2, "vmb", "br-secure", 1081, kVmbMac, "192.168.129.11/17");
  EXPECT_TRUE(testing::RunUntil(io_, 10s, [&] { return Pinned(2, "vmb"); }))
      << PortOf(2, "vmb").dump();
  EXPECT_TRUE(b.Ping("192.168.128.1"));
  EXPECT_EQ(publisher_->status().remote, cluster_->ssl_remote(new_leader));
  EXPECT_TRUE(Connected(*roles_[0]) && Connected(*roles_[1]));
  EXPECT_TRUE(a.Ping("192.168.128.1"));
}

// The whole database away: hosts keep what they knew and pin nothing they did not know; when it
// is back they follow it again.
TEST_F(TwoHostTest, WhileThePolicyDatabaseIsAwayHostsKeepTheirFlowsAndPinNothingNew) {
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vma"); }));
  KillPolicyDatabase();
  ASSERT_TRUE(testing::RunUntil(io_, 15s, [&] { return FeedState(*roles_[0]) == "stale"; }));
  EXPECT_TRUE(Pinned(1, "vma"));
  EXPECT_TRUE(a.Ping("192.168.128.1")) << "the VM lost its network with the database";
  constexpr const char* kMac = "52:54:c0:a8:81:1f";
  const auto& late = Vm(1, "vml", "br-secure", 1081, kMac, "192.168.129.31/17", /*bind=*/false);
  EXPECT_TRUE(testing::RunUntil(io_, 5s, [&] { return Unbound(1, "vml"); }));
  EXPECT_FALSE(late.Ping("192.168.128.1", 2));

  RestartPolicyDatabase();
  ASSERT_TRUE(testing::RunUntil(io_, 20s, [&] { return FeedState(*roles_[0]) == "current"; }));
  // The status tells the first sync from the one after the database came back.
  auto policy = testing::StatusOf(*roles_[0])["host"]["policy"];
  EXPECT_GE(policy["resumed_syncs"].get<int>() + policy["full_syncs"].get<int>(), 2) << policy;
  EXPECT_GE(policy["disconnects"].get<int>(), 1) << policy;
  Bind("vml", kMac);
  EXPECT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vml"); }));
  EXPECT_TRUE(late.Ping("192.168.128.1"));
  EXPECT_TRUE(a.Ping("192.168.128.1"));
}

// netd restarts on a host while the database is away: the switch keeps the flows it has (the
// VMs keep working), nothing is pinned anew until the database answers.
TEST_F(TwoHostTest, AHostStartingWithoutThePolicyDatabaseLeavesTheSwitchAlone) {
  const auto& a = Vm(1, "vma", "br-secure", 1081, kVmaMac, "192.168.129.10/17");
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(1, "vma"); }));
  auto flows = PortFlows(1, "vma");
  ASSERT_NE(flows.find("in_port"), std::string::npos);
  roles_[0]->Stop();
  roles_[0].reset();
  KillPolicyDatabase();
  StartHost(1);
  ASSERT_TRUE(testing::RunUntil(io_, 10s, [&] {
    auto status = testing::StatusOf(*roles_[0])["host"];
    return status["bridges"]["per_bridge"][0]["openflow_connected"].get<bool>() &&
           !PortOf(1, "vma").is_null();
  }));
  EXPECT_EQ(FeedState(*roles_[0]), "awaiting");
  EXPECT_EQ(PortOf(1, "vma")["state"], "pending") << PortOf(1, "vma").dump();
  EXPECT_EQ(PortFlows(1, "vma"), flows) << "the switch's flows were touched";
  EXPECT_TRUE(a.Ping("192.168.128.1")) << "the VM lost its network with netd's restart";

  RestartPolicyDatabase();
  ASSERT_TRUE(testing::RunUntil(io_, 20s, [&] { return Pinned(1, "vma"); }));
  EXPECT_TRUE(a.Ping("192.168.128.1"));
}

// A live migration as the hosts see it: the VM's port leaves host1 and appears on host2 with the
// same MAC (the guest itself, its neighbours and sockets, migrate unchanged), and QEMU announces
// the VM with RARP, as it does after every migration. No API call: the binding is the network's,
// so host2 pins the port as soon as its Interface row appears; the VM's open session to the
// gateway goes on within a second, and its group peer, left behind on host1, reaches it there.
// The two-host lab with the gateway as deployed: a netd in the gateway role in the gateway's
// namespace (its table, DNS and DHCP on the lab's gw<vlan> interfaces, ext0 to an outside
// namespace) publishes its store into the cluster, reached over a link from the control
// namespace, instead of the test's own publisher.
class TwoHostGatewayTest : public TwoHostTest {
 protected:
  static constexpr const char* kOutsideServer = "198.51.100.2";

  void StartGateway() override {
    const auto& gateway = lab_->gateway();
    outside_.emplace("outside");
    lab::CreateVethPair(gateway, "ext0", *outside_, "eth0");
    gateway.AddAddress("ext0", "198.51.100.1/24");
    outside_->AddAddress("eth0", std::string(kOutsideServer) + "/24");
    // The gateway reaches the members through the control namespace, which routes to them.
    lab::CreateVethPair(*control_, "gwctl", gateway, "ctl0");
    control_->AddAddress("gwctl", "10.198.0.1/30");
    gateway.AddAddress("ctl0", "10.198.0.2/30");
    gateway.AddRoute("10.199.0.0/16", "10.198.0.1");

    gateway_dir_.emplace("gwnetd");
    auto tls = pki_->Issue("gateway");
    std::string remotes;
    for (const auto& remote : cluster_->ssl_remotes()) {
      remotes += fmt::format("{}\"{}\"", remotes.empty() ? "" : ", ", remote);
    }
    netd_.emplace(gateway_dir_->path(), [&](std::string text) {
      using testing::Replace;
      text = Replace(text, R"(roles = ["gateway", "host"])", R"(roles = ["gateway"])");
      // On the gateway a network's `bridge` is the interface that holds its address.
      text = Replace(text, R"(bridge = "br-secure")", R"(bridge = "gw1081")");
      text = Replace(text, R"(bridge = "br-service")", R"(bridge = "gw1082")");
      text = text.substr(0, text.find("[[network]]\nname = \"datain\""));
      return text + fmt::format(R"(
[policy]
remotes = [{}]
private_key = "{}"
certificate = "{}"
ca_certificate = "{}"
host_listeners = ["pssl:{}"]
)",
                                remotes, tls.private_key.string(), tls.certificate.string(),
                                pki_->ca_certificate().string(), kHostListenerPort);
    });
    netd_->RunInNamespace(gateway.name());
    netd_->Start();
  }

  testing::HttpAnswer Api(const std::string& method, const std::string& target,
                          const nlohmann::json& body = nullptr) {
    return testing::Request(netd_->socket(), method, target, body.is_null() ? "" : body.dump());
  }

  struct BoundVm {
    const lab::Namespace* ns;
    std::string mac;
    std::string ip;
  };
  // `vm` bound through the gateway's API, attached to host `number` with the MAC and address
  // netd gave it, routed through the gateway.
  BoundVm Bound(int number, const std::string& vm) {
    auto answer = Api("PUT", "/v1/vms/" + vm, {{"network", "secure"}});
    EXPECT_EQ(answer.status, 201) << answer.body;
    auto binding = answer.Json();
    const auto& ns = Vm(number, vm, "br-secure", 1081, binding["mac"],
                        binding["ip"].get<std::string>() + "/17", /*bind=*/false);
    ns.AddRoute("default", "192.168.128.1");
    return {&ns, binding["mac"], binding["ip"]};
  }

  // Members destroyed before the lab's: netd leaves the gateway's namespace first.
  std::optional<lab::Namespace> outside_;
  std::optional<lab::TempDir> gateway_dir_;
  std::optional<testing::NetdProcess> netd_;
};

// A VM's port moved from host1 to host2, as libvirt re-attaches it after a migration: host2 pins
// it from its Interface row with no API call, the VM's open allowlisted session to a server
// outside the enclave (through the gateway netd's table) goes on within a second, what the
// allowlist does not open stays closed, and its group peer left on host1 reaches it on host2.
TEST_F(TwoHostGatewayTest, AVmMovedToAnotherHostIsPinnedThereAndKeepsItsSessionAndItsGroup) {
  auto moved = Bound(1, "vmm");
  auto peer = Bound(1, "vmp");
  const auto& vm = *moved.ns;
  ASSERT_EQ(
      Api("PUT", "/v1/groups/pair", {{"network", "secure"}, {"members", {"vmm", "vmp"}}}).status,
      201);
  ASSERT_EQ(Api("PUT", "/v1/allowlist/echo",
                {{"destinations", {kOutsideServer}},
                 {"protocol", "tcp"},
                 {"ports", {7000}},
                 {"vms", {"vmm"}}})
                .status,
            201);
  ASSERT_TRUE(testing::RunUntil(io_, 10s, [&] {
    return Pinned(1, "vmm") && Pinned(1, "vmp") && PortOf(1, "vmp")["peers"].size() == 1;
  })) << PortOf(1, "vmp").dump();
  ASSERT_TRUE(peer.ns->Ping(moved.ip)) << "the peers do not reach each other on one host";
  std::vector<lab::Process> servers;
  for (int port : {7000, 7001}) {
    servers.push_back(outside_->Start(
        {"socat", fmt::format("TCP-LISTEN:{},bind={},reuseaddr,fork", port, kOutsideServer),
         "EXEC:cat"}));
  }
  ASSERT_TRUE(testing::Within(5s, [&] {
    auto listening = outside_->Run({"ss", "-Hltn"}).out;
    return listening.find(":7000") != std::string::npos &&
           listening.find(":7001") != std::string::npos;
  }));
  // The session: one line echoed before the move; one more after it, whose echo must come back
  // within a second of the move.
  lab::TempDir dir("move");
  auto go = dir.path() / "go";
  auto out = dir.path() / "client.out";
  const char* kClient = R"(
import os, socket, sys, time
s = socket.create_connection((sys.argv[2], 7000), timeout=5)
s.sendall(b"before\n")
print("before", s.recv(100).decode().strip(), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
s.settimeout(1)
s.sendall(b"after\n")
print("after", s.recv(100).decode().strip(), flush=True)
)";
  auto client =
      vm.Start({"python3", "-c", kClient, go.string(), kOutsideServer}, {.env = {}, .output = out});
  auto output = [&] { return lab::RunCommand({"cat", out.string()}).out; };
  ASSERT_TRUE(
      testing::Within(5s, [&] { return output().find("before before") != std::string::npos; }))
      << output() << netd_->Log();

  // A migrated guest keeps its neighbour cache. Here the veth's carrier drops while its host end
  // moves, which would flush it (a real migration never drops the guest's link), so the
  // gateway's entry is pinned as the guest would still hold it.
  vm.RunChecked({"ip", "neigh", "replace", "192.168.128.1", "lladdr",
                 MacOf(lab_->gateway(), "gw1081"), "dev", "eth0", "nud", "permanent"});

  testing::FrameListener gateway(lab_->gateway(), "gw1081");
  lab_->host_ovs(1).MoveVmPort("br-secure", "vmm", lab_->host_ovs(2),
                               {.mac = moved.mac, .vm_id = "vmm", .vlan_tag = 1081});
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return Pinned(2, "vmm"); }))
      << PortOf(2, "vmm").dump();
  // The guest resumes as QEMU sends its first announce, then its further rounds (50 ms apart,
  // then 100 ms longer each time). The fabric, an Open vSwitch here, learns the MAC's new port
  // from them and from the guest's own frames, but updates its cached paths a moment later: a
  // frame for the VM just then still goes to host1, and TCP sends it again.
  testing::SendFrame(vm, "eth0", "rarp", moved.mac, "0.0.0.0", "announce");
  lab::RunCommandChecked({"touch", go.string()});
  auto delay = 50ms;
  for (int round = 1; round < 5; ++round, delay += 100ms) {
    std::this_thread::sleep_for(delay);
    testing::SendFrame(vm, "eth0", "rarp", moved.mac, "0.0.0.0", "announce");
  }
  EXPECT_TRUE(gateway.Seen().contains("announce"));
  EXPECT_EQ(client.WaitForExit(5s), 0) << "the session did not go on within a second of the move:\n"
                                       << output();
  EXPECT_NE(output().find("after after"), std::string::npos) << output();

  // On host2 the gateway still opens only what the allowlist says: a port it does not name on
  // the same server stays closed (a listener is there).
  EXPECT_FALSE(vm.Run({"python3", "-c",
                       "import socket, sys; socket.create_connection((sys.argv[1], 7001), "
                       "timeout=1)",
                       kOutsideServer})
                   .ok());

  // host1 forgot the port; its peer, still there, reaches it on host2 through both hosts'
  // pipelines, and the other way round.
  ASSERT_TRUE(testing::RunUntil(
      io_, 5s, [&] { return PortOf(1, "vmm").is_null() && Pinned(1, "vmp") && Pinned(2, "vmm"); }));
  EXPECT_TRUE(peer.ns->Ping(moved.ip)) << "the peer does not reach the moved VM";
  EXPECT_TRUE(vm.Ping(peer.ip)) << "the moved VM does not reach its peer";
  EXPECT_TRUE(vm.Ping("192.168.128.1"));
}

}  // namespace
}  // namespace netd
