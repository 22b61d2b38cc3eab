// DHCP from a hostile VM (docs/dhcp.md, "What a VM may send"): crafted requests cannot make the
// gateway's dnsmasq write anywhere but to the asking VM, nor take another VM's lease away.
// Judged where the packets would arrive: receivers outside and in other VMs, and the victim.
#include <fmt/format.h>

#include <fstream>

#include "gateway_fixture.hpp"

namespace netd {
namespace {

using namespace gateway_test;

constexpr const char* kSecureGateway = "192.168.128.1";

class DhcpAbuseTest : public GatewayFirewallTest {
 protected:
  // Sends a crafted DHCP message from `vm`'s interface.
  void Send(const Vm& vm, const std::string& type, const std::string& source,
            const std::string& destination, const std::vector<std::string>& fields = {}) {
    std::vector<std::string> argv = {
        "python3", NETD_DHCP_MESSAGE_TOOL, "eth0", type, vm.mac, source, destination};
    argv.insert(argv.end(), fields.begin(), fields.end());
    vm.ns->RunChecked(argv);
  }

  UdpReceiver Receiver(const Namespace& ns, const std::string& name, std::vector<int> ports) {
    return UdpReceiver(ns, NETD_FLOOD_TOOL, temp_->path() / name, ports);
  }

  // The address busybox udhcpc in `vm` is given, or nullopt without a lease.
  std::optional<std::string> Lease(const Vm& vm, const std::string& requested = "") {
    auto script = temp_->path() / "udhcpc.sh";
    std::ofstream(script) << "#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip\"\nexit 0\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    std::vector<std::string> argv = {"busybox", "udhcpc", "-i", "eth0", "-f", "-q",           "-n",
                                     "-t",      "4",      "-T", "1",    "-s", script.string()};
    if (!requested.empty()) argv.insert(argv.end(), {"-r", requested});
    auto result = vm.ns->Run(argv);
    auto at = result.out.find("ip=");
    if (!result.ok() || at == std::string::npos) return std::nullopt;
    return result.out.substr(at + 3, result.out.find('\n', at) - at - 3);
  }

  std::string LeaseFile() const {
    std::ifstream file(netd_->state_dir() / "dnsmasq.leases");
    return {std::istreambuf_iterator<char>(file), {}};
  }
};

TEST_F(DhcpAbuseTest, AnInformCannotMakeTheGatewayAnswerOutside) {
  auto attacker = AddVm("sec1", "secure");
  auto service = AddVm("svc1", "service");
  auto outside = Receiver(*outside_, "outside", {67, 68});
  auto own = Receiver(*attacker.ns, "own", {68});

  // dnsmasq answers an INFORM to the address in ciaddr: to the VM's own address, it does.
  Send(attacker, "inform", attacker.ip, kSecureGateway, {"ciaddr=" + attacker.ip});
  ASSERT_TRUE(Within(3s, [&] { return own.Count(68) > 0; })) << "dnsmasq never answers INFORM";

  auto denied = Counter("dhcp_denied");
  Send(attacker, "inform", attacker.ip, kSecureGateway, {std::string("ciaddr=") + kServer});
  Send(attacker, "inform", attacker.ip, "255.255.255.255", {std::string("ciaddr=") + kServer});
  Send(service, "inform", service.ip, "192.168.122.1", {std::string("ciaddr=") + kServer});
  // Also another VM's address in ciaddr: the answer would carry the attacker's bytes there.
  Send(attacker, "inform", attacker.ip, kSecureGateway, {"ciaddr=" + service.ip});
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(outside.Count(68) + outside.Count(67), 0u) << "the gateway answered outside";
  EXPECT_GE(Counter("dhcp_denied"), denied + 4);
}

TEST_F(DhcpAbuseTest, NothingTheDhcpServerSendsLeavesButByItsNetworksBridge) {
  auto outside = Receiver(*outside_, "outside", {68});
  auto misdirected = Counter("dhcp_misdirected");
  // As dnsmasq would answer from the secure gateway address to an outside ciaddr (a raw
  // socket: dnsmasq holds port 67). The drop on output refuses the send itself (EPERM).
  gateway_->Run(
      {"python3", "-c",
       fmt::format("import socket, struct\n"
                   "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)\n"
                   "s.bind(('{}', 0))\n"
                   "s.sendto(struct.pack('!HHHH', 67, 68, 9, 0) + b'x', ('{}', 0))\n",
                   kSecureGateway, kServer)});
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(outside.Count(68), 0u);
  EXPECT_GT(Counter("dhcp_misdirected"), misdirected);
}

TEST_F(DhcpAbuseTest, ARelayAddressIsRefusedOnEveryNetwork) {
  auto attacker = AddVm("sec1", "secure");
  auto service = AddVm("svc1", "service");
  auto outside = Receiver(*outside_, "outside", {67});
  auto relay = Receiver(*service.ns, "relay", {67});
  auto denied = Counter("dhcp_denied");
  Send(attacker, "discover", "0.0.0.0", "255.255.255.255", {"giaddr=" + service.ip});
  Send(attacker, "discover", "0.0.0.0", "255.255.255.255", {std::string("giaddr=") + kServer});
  Send(attacker, "request", attacker.ip, kSecureGateway,
       {"ciaddr=" + attacker.ip, std::string("giaddr=") + kServer});
  Send(service, "discover", "0.0.0.0", "255.255.255.255", {std::string("giaddr=") + kServer});
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(relay.Count(67), 0u) << "the gateway answered into another network";
  EXPECT_EQ(outside.Count(67), 0u) << "the gateway answered outside";
  EXPECT_GE(Counter("dhcp_denied"), denied + 4);
}

TEST_F(DhcpAbuseTest, AnotherVmsLeaseSurvivesReleasesAndDeclines) {
  auto attacker = AddVm("sec1", "secure");
  auto bound = Api("PUT", "/v1/vms/sec2", {{"network", "secure"}}).Json();
  auto victim = PlugVm("sec2", "secure", bound["mac"]);
  auto address = Lease(victim);
  ASSERT_EQ(address, bound["ip"].get<std::string>());
  ASSERT_THAT(LeaseFile(), ::testing::HasSubstr(victim.mac));

  auto server = std::string("server=") + kSecureGateway;
  // The victim's MAC in chaddr, from the attacker's own frame.
  Send(attacker, "release", attacker.ip, kSecureGateway,
       {"ciaddr=" + *address, "chaddr=" + victim.mac, server});
  Send(attacker, "decline", "0.0.0.0", "255.255.255.255",
       {"chaddr=" + victim.mac, "requested=" + *address, server});
  // The attacker's own chaddr with the victim's client identifier.
  Send(attacker, "release", attacker.ip, kSecureGateway,
       {"ciaddr=" + *address, "clientid=" + victim.mac, server});
  Send(attacker, "decline", "0.0.0.0", "255.255.255.255",
       {"clientid=" + victim.mac, "requested=" + *address, server});
  std::this_thread::sleep_for(1s);
  EXPECT_THAT(LeaseFile(), ::testing::HasSubstr(victim.mac)) << "the victim's lease is gone";
  EXPECT_EQ(Lease(victim, *address), address) << "the victim lost its address";
}

}  // namespace
}  // namespace netd
