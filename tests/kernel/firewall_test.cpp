// The gateway firewall end to end (tests/kernel/gateway_fixture.hpp).
#include <sys/stat.h>

#include <regex>

#include "gateway_fixture.hpp"

namespace netd {
namespace {

using namespace gateway_test;

// `nft -j list table inet ticrypt` against a checked-in dump; NETD_UPDATE_GOLDEN=1 rewrites
// the dump instead.
void ExpectGoldenTable(const Namespace& gateway, const std::string& name) {
  auto dump = Normalized(
      json::parse(gateway.RunChecked({"nft", "-j", "list", "table", "inet", "ticrypt"}).out));
  const auto golden = std::filesystem::path(NETD_GOLDEN_DIR) / name;
  if (std::getenv("NETD_UPDATE_GOLDEN")) std::ofstream(golden) << dump.dump(1) << "\n";
  std::ifstream file(golden);
  ASSERT_TRUE(file) << golden;
  auto expected = json::parse(file);
  EXPECT_EQ(dump, expected) << "got:\n" << dump.dump(1);
}

TEST_F(GatewayFirewallTest, TableMatchesTheGoldenDumpOfTheDemoConfiguration) {
  ExpectGoldenTable(*gateway_, "demo_table.json");
}

TEST_F(GatewayFirewallTest, ElementsMatchTheGoldenDump) {
  auto secure = AddVm("sec1", "secure");
  auto service = AddVm("svc1", "service");
  PutRule("license", {{"destinations", {kServer, "203.0.113.0/28"}},
                      {"protocol", "both"},
                      {"ports", {443, "27000-27010"}},
                      {"vms", {"sec1"}}});
  ExpectGoldenTable(*gateway_, "demo_table_with_elements.json");
}

// What `nft list` prints of the table is nft syntax that loads back, raw DHCP fields included:
// an operator can read, save and compare it with nft's own tools.
TEST_F(GatewayFirewallTest, TheListedTableLoadsBackWithNft) {
  AddVm("sec1", "secure");
  auto listed = gateway_->RunChecked({"nft", "list", "table", "inet", "ticrypt"}).out;
  EXPECT_THAT(listed, ::testing::HasSubstr("typeof ether saddr . @th,288,48 . @th,160,32"));
  // Without its owner flag: a table nft creates owned would go with nft's socket.
  listed = std::regex_replace(listed, std::regex(" # progname netd|\tflags owner\n\n"), "");
  auto file = temp_->path() / "table.nft";
  std::ofstream(file) << listed;
  Namespace copy("nft-copy");
  auto loaded = copy.Run({"nft", "-f", file.string()});
  ASSERT_TRUE(loaded.ok()) << loaded.err;
  EXPECT_EQ(copy.RunChecked({"nft", "list", "table", "inet", "ticrypt"}).out, listed);
}

TEST_F(GatewayFirewallTest, SecureEgressFollowsTheAllowlistExactly) {
  auto vm = AddVm("sec1", "secure");
  EXPECT_FALSE(Peer(*vm.ns, kServer, 443)) << "secure egress must be closed by default";
  auto denied = Counter("secure_egress_denied");
  EXPECT_GT(denied, 0u);

  PutRule(
      "license",
      {{"destinations", {kServer}}, {"protocol", "tcp"}, {"ports", {"443"}}, {"vms", {"sec1"}}});
  EXPECT_EQ(Peer(*vm.ns, kServer, 443), kGatewayOutside) << "allowed, and masqueraded";
  EXPECT_FALSE(Peer(*vm.ns, kServer, 444)) << "same address, another port";
  EXPECT_FALSE(UdpEchoes(*vm.ns, kServer, 1717)) << "no UDP rule yet";

  PutRule("flexlm",
          {{"destinations", {kServer}}, {"protocol", "udp"}, {"ports", {1717}}, {"vms", {"sec1"}}});
  EXPECT_TRUE(UdpEchoes(*vm.ns, kServer, 1717));
  EXPECT_FALSE(Peer(*vm.ns, kServer, 1717)) << "a UDP rule opens UDP only";

  PutRule("far", {{"destinations", {"203.0.113.0/24"}},
                  {"protocol", "both"},
                  {"ports", {"27000-27010"}},
                  {"vms", {"sec1"}}});
  EXPECT_EQ(Peer(*vm.ns, kFarServer, 27005), kGatewayOutside) << "CIDR and port range";
  EXPECT_FALSE(Peer(*vm.ns, kFarServer, 27011)) << "just past the range";

  EXPECT_THAT(SetElements("allow4").dump(), ::testing::HasSubstr(vm.ip));
  EXPECT_EQ(SetElements("vm_bind4").size(), 1u);

  ASSERT_EQ(Api("DELETE", "/v1/allowlist/license").status, 200);
  EXPECT_FALSE(Peer(*vm.ns, kServer, 443)) << "a deleted rule closes its destination";
  EXPECT_GT(Counter("secure_egress_denied"), denied);
}

TEST_F(GatewayFirewallTest, OpenNetworksAreMasqueradedAndNetworksAreIsolated) {
  auto service = AddVm("svc1", "service");
  auto datain = AddVm("dat1", "datain");
  auto secure = AddVm("sec1", "secure");
  PutRule("everything", {{"destinations", {"198.51.100.0/24"}},
                         {"protocol", "tcp"},
                         {"ports", {"1-65535"}},
                         {"vms", "*"}});
  EXPECT_EQ(Peer(*service.ns, kServer, 8080), kGatewayOutside);
  EXPECT_EQ(Peer(*datain.ns, kServer, 8080), kGatewayOutside);

  for (const auto* listener : {&service, &datain, &secure}) {
    processes_.push_back(listener->ns->Start(
        {"socat", "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo $SOCAT_PEERADDR"}));
  }
  std::this_thread::sleep_for(200ms);
  auto crossings = Counter("cross_network_denied");
  for (const auto* from : {&service, &datain, &secure}) {
    for (const auto* to : {&service, &datain, &secure}) {
      if (from == to) continue;
      EXPECT_FALSE(Peer(*from->ns, to->ip, 8080)) << from->id << " reached " << to->id;
    }
  }
  EXPECT_GE(Counter("cross_network_denied"), crossings + 6);

  // From outside, nothing reaches into a VM network: only replies come back in.
  outside_->RunChecked({"ip", "route", "add", "192.168.0.0/16", "via", kGatewayOutside});
  EXPECT_FALSE(Peer(*outside_, service.ip, 8080));
  EXPECT_GT(Counter("inbound_denied"), 0u);
}

TEST_F(GatewayFirewallTest, SpoofedAddressesAreDroppedAtTheGateway) {
  auto first = AddVm("sec1", "secure");
  auto second = AddVm("sec2", "secure");
  PutRule("license",
          {{"destinations", {kServer}}, {"protocol", "tcp"}, {"ports", {443}}, {"vms", "*"}});
  EXPECT_TRUE(Peer(*first.ns, kServer, 443));
  EXPECT_TRUE(Peer(*second.ns, kServer, 443));

  // sec1 borrows sec2's IP: its MAC does not go with that IP.
  auto spoofed = Counter("spoofed_forward");
  second.ns->RunChecked({"ip", "link", "set", "eth0", "down"});
  first.ns->RunChecked({"ip", "address", "flush", "dev", "eth0"});
  first.ns->AddAddress("eth0", second.ip + "/17");
  first.ns->AddRoute("default", "192.168.128.1");
  EXPECT_FALSE(Peer(*first.ns, kServer, 443));
  EXPECT_GT(Counter("spoofed_forward"), spoofed);

  // Its own IP again, but from a MAC nobody bound.
  first.ns->RunChecked({"ip", "address", "flush", "dev", "eth0"});
  first.ns->RunChecked({"ip", "link", "set", "eth0", "address", "52:54:00:00:00:99"});
  first.ns->AddAddress("eth0", first.ip + "/17");
  first.ns->AddRoute("default", "192.168.128.1");
  spoofed = Counter("spoofed_forward");
  EXPECT_FALSE(Peer(*first.ns, kServer, 443));
  EXPECT_GT(Counter("spoofed_forward"), spoofed);
}

TEST_F(GatewayFirewallTest, AVmNetworkSourceFromAnotherInterfaceIsDropped) {
  // The outside claims a secure VM's address and sends through the gateway to a service VM:
  // the packet must not get past the gateway on the strength of its source.
  auto service = AddVm("svc1", "service");
  processes_.push_back(
      service.ns->Start({"socat", "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo reached"}));
  outside_->RunChecked({"ip", "address", "add", "192.168.129.77/32", "dev", "eth0"});
  outside_->RunChecked({"ip", "route", "add", "192.168.122.0/24", "via", kGatewayOutside});
  auto spoofed = Counter("spoofed_forward");
  auto result = outside_->Run({"socat", "-u", "-T2",
                               "TCP:" + service.ip + ":8080,bind=192.168.129.77,connect-timeout=1",
                               "STDOUT"});
  EXPECT_FALSE(result.ok() && !result.out.empty()) << result.out;
  EXPECT_GT(Counter("spoofed_forward"), spoofed);
  // Also to the gateway itself.
  auto input = Counter("spoofed_input");
  outside_->Run({"ping", "-c1", "-W1", "-I", "192.168.129.77", kGatewayOutside});
  EXPECT_GT(Counter("spoofed_input"), input);
}

// The weak host model: the secure gateway address (netd's filtered DNS) is an address of the
// gateway, reachable from any interface unless the table pins it to its bridge.
TEST_F(GatewayFirewallTest, AGatewayAddressAnswersOnlyItsOwnNetwork) {
  auto secure = AddVm("sec1", "secure");
  auto service = AddVm("svc1", "service");
  auto dns_over_tcp = [](const Namespace& from) {
    return from.Run({"socat", "-u", "-T1", "TCP:192.168.128.1:53,connect-timeout=1", "/dev/null"})
        .ok();
  };
  ASSERT_TRUE(dns_over_tcp(*secure.ns)) << "the secure VM reaches its DNS";
  outside_->RunChecked({"ip", "route", "add", "192.168.128.1/32", "via", kGatewayOutside});
  auto denied = Counter("gateway_address_denied");
  EXPECT_FALSE(dns_over_tcp(*outside_)) << "the outside reached the secure network's DNS";
  EXPECT_FALSE(dns_over_tcp(*service.ns)) << "the service network reached it";
  EXPECT_GE(Counter("gateway_address_denied"), denied + 2);
}

TEST_F(GatewayFirewallTest, RevokingARuleCutsAnEstablishedConnection) {
  auto vm = AddVm("sec1", "secure");
  PutRule("session",
          {{"destinations", {kServer}}, {"protocol", "tcp"}, {"ports", {7000}}, {"vms", {"sec1"}}});
  auto received = temp_->path() / "received";
  auto fifo = temp_->path() / "to-server";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  processes_.push_back(
      outside_->Start({"socat", "-u", "TCP-LISTEN:7000,reuseaddr", "CREATE:" + received.string()}));
  std::fstream input(fifo, std::ios::in | std::ios::out);
  processes_.push_back(
      vm.ns->Start({"socat", "-u", "OPEN:" + fifo.string(),
                    "TCP:" + std::string(kServer) + ":7000,retry=100,interval=0.05"}));
  auto contents = [&] {
    std::ifstream file(received);
    return std::string(std::istreambuf_iterator<char>(file), {});
  };
  auto wait_for = [&](const std::string& text, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (contents().find(text) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    return contents().find(text) != std::string::npos;
  };
  input << "before\n" << std::flush;
  ASSERT_TRUE(wait_for("before", 5s)) << "the allowed session never carried data";

  ASSERT_EQ(Api("DELETE", "/v1/allowlist/session").status, 200);
  // netd cuts revoked flows on a thread of its own, just after the answer; within a second.
  EXPECT_TRUE(Within(1s, [&] {
    return Api("GET", "/metrics").body.find("netd_firewall_flows_cut_total 1") != std::string::npos;
  })) << "the revoked flow was not cut within a second";
  input << "after\n" << std::flush;
  EXPECT_FALSE(wait_for("after", 1500ms)) << "the revoked session still carries data";
}

TEST_F(GatewayFirewallTest, UnbindingRemovesTheVmFromEverySet) {
  auto vm = AddVm("sec1", "secure");
  PutRule("license", {{"destinations", {kServer, "203.0.113.0/24"}},
                      {"protocol", "tcp"},
                      {"ports", {443}},
                      {"vms", "*"}});
  EXPECT_EQ(SetElements("vm_bind4").size(), 1u);
  EXPECT_EQ(SetElements("allow4").size(), 1u);
  EXPECT_EQ(SetElements("allow4_ranges").size(), 1u);
  ASSERT_EQ(Api("DELETE", "/v1/vms/sec1").status, 200);
  // The unbound VM is gone; the next VM gets its address and MAC, which one bridge port only
  // may use.
  vm.ns.reset();
  EXPECT_EQ(SetElements("vm_bind4").size(), 0u);
  EXPECT_EQ(SetElements("allow4").size(), 0u);
  EXPECT_EQ(SetElements("allow4_ranges").size(), 0u);

  // The rule outlives the VM; a VM bound later gets it ("*").
  auto later = AddVm("sec2", "secure");
  EXPECT_EQ(SetElements("allow4").size(), 1u);
  EXPECT_TRUE(Peer(*later.ns, kServer, 443));
}

TEST_F(GatewayFirewallTest, ARestartReappliesTheStoredState) {
  auto vm = AddVm("sec1", "secure");
  PutRule("license",
          {{"destinations", {kServer}}, {"protocol", "tcp"}, {"ports", {443}}, {"vms", {"sec1"}}});
  ASSERT_EQ(netd_->Stop(), 0);
  EXPECT_TRUE(Peer(*vm.ns, kServer, 443)) << "the table stays while netd is down";
  gateway_->RunChecked({"nft", "delete", "table", "inet", "ticrypt"});
  netd_->Start();
  EXPECT_TRUE(Peer(*vm.ns, kServer, 443));
  EXPECT_FALSE(Peer(*vm.ns, kServer, 444));
}

TEST_F(GatewayFirewallTest, Ipv6FromVmNetworksIsDropped) {
  auto vm = AddVm("sec1", "secure");
  gateway_->RunChecked({"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"});
  gateway_->RunChecked({"ip", "-6", "address", "add", "fd00:1::1/64", "dev", "br-secure", "nodad"});
  gateway_->RunChecked({"ip", "-6", "address", "add", "fd00:99::1/64", "dev", "ext0", "nodad"});
  outside_->RunChecked({"ip", "-6", "address", "add", "fd00:99::2/64", "dev", "eth0", "nodad"});
  outside_->RunChecked({"ip", "-6", "route", "add", "fd00:1::/64", "via", "fd00:99::1"});
  vm.ns->RunChecked({"ip", "-6", "address", "add", "fd00:1::2/64", "dev", "eth0", "nodad"});
  vm.ns->RunChecked({"ip", "-6", "route", "add", "default", "via", "fd00:1::1"});
  // Neighbour discovery is IPv6 too and dropped on input: the VM is told the gateway's MAC, so
  // its packets reach the forward chain.
  auto gateway_mac =
      json::parse(gateway_->RunChecked({"ip", "-j", "link", "show", "br-secure"}).out)[0]["address"]
          .get<std::string>();
  vm.ns->RunChecked({"ip", "-6", "neigh", "add", "fd00:1::1", "lladdr", gateway_mac, "dev", "eth0",
                     "nud", "permanent"});
  ASSERT_TRUE(gateway_->Run({"ping", "-6", "-c1", "-W2", "fd00:99::2"}).ok())
      << "the outside answers IPv6 from the gateway";

  auto dropped = Counter("ipv6_dropped");
  EXPECT_FALSE(vm.ns->Run({"ping", "-6", "-c2", "-W1", "fd00:99::2"}).ok()) << "forwarded";
  EXPECT_FALSE(vm.ns->Run({"ping", "-6", "-c1", "-W1", "fd00:1::1"}).ok()) << "to the gateway";
  EXPECT_GE(Counter("ipv6_dropped"), dropped + 3);
}

TEST_F(GatewayFirewallTest, AStartTheKernelRefusesExitsWithTheReasonAndChangesNothing) {
  ASSERT_EQ(netd_->Stop(), 0);
  gateway_->RunChecked({"nft", "delete", "table", "inet", "ticrypt"});
  // A table of that name owned by another process (NFT_TABLE_F_OWNER): the kernel lets only
  // the owner's socket change it, so it refuses netd's transaction.
  processes_.push_back(gateway_->Start(
      {"bash", "-c",
       "(echo 'add table inet ticrypt { flags owner; }'; echo 'add chain inet ticrypt held';"
       " sleep 60) | nft -i"}));
  ASSERT_TRUE(Within(5s, [&] {
    return gateway_->Run({"nft", "list", "chain", "inet", "ticrypt", "held"}).ok();
  }));
  auto table = gateway_->RunChecked({"nft", "list", "table", "inet", "ticrypt"}).out;

  auto result = gateway_->Run(netd_->Argv());
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.err, ::testing::HasSubstr("the kernel refused table inet ticrypt"));
  EXPECT_THAT(result.err, ::testing::HasSubstr("Operation not permitted"));
  EXPECT_FALSE(std::filesystem::exists(netd_->socket())) << "the API never opened";
  EXPECT_EQ(gateway_->RunChecked({"nft", "list", "table", "inet", "ticrypt"}).out, table);
}

// A TCP service on the VM's port 22 that tells each client the address it came from.
void ServePort22(const Vm& vm, std::vector<Process>& processes) {
  processes.push_back(vm.ns->Start(
      {"socat", "TCP-LISTEN:22,fork,reuseaddr", "SYSTEM:echo vm sees $SOCAT_PEERADDR"}));
  for (int i = 0; i < 100; ++i) {
    if (vm.ns->Run({"sh", "-c", "ss -Hltn 'sport = :22' | grep -q ."}).ok()) return;
    std::this_thread::sleep_for(20ms);
  }
}

// What a client of the outside namespace, from `source`, gets from the gateway's `port`.
std::optional<std::string> ThroughForward(const Namespace& outside, const std::string& source,
                                          int port) {
  auto result = outside.Run({"socat", "-u", "-T3",
                             "TCP:" + std::string(kGatewayOutside) + ":" + std::to_string(port) +
                                 ",bind=" + source + ",connect-timeout=1",
                             "STDOUT"});
  if (!result.ok() || result.out.empty()) return std::nullopt;
  return result.out.substr(0, result.out.find('\n'));
}

TEST_F(GatewayFirewallTest, AForwardReachesTheVmFromItsClientOnly) {
  auto vm = AddVm("sec1", "secure");
  ServePort22(vm, processes_);
  auto opened = Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kServer}});
  ASSERT_EQ(opened.status, 201) << opened.body;
  auto forward = opened.Json();
  EXPECT_EQ(forward["listen_ip"], kGatewayOutside);
  EXPECT_EQ(forward["listen_port"], 6000);
  EXPECT_EQ(forward["vm_ip"], vm.ip);
  EXPECT_EQ(forward["vm_port"], 22);

  // The VM sees the client's own address: no proxy, no source NAT.
  EXPECT_EQ(ThroughForward(*outside_, kServer, 6000), std::string("vm sees ") + kServer);
  auto denied = Counter("forward_denied");
  EXPECT_FALSE(ThroughForward(*outside_, kFarServer, 6000)) << "another client got through";
  EXPECT_GT(Counter("forward_denied"), denied);
  EXPECT_FALSE(ThroughForward(*outside_, kServer, 6001)) << "a port without a forward";

  // Ports are allocated per client.
  auto second = Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kServer}});
  EXPECT_EQ(second.Json()["listen_port"], 6001);
  auto other = Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kFarServer}});
  EXPECT_EQ(other.Json()["listen_port"], 6000);
  EXPECT_EQ(ThroughForward(*outside_, kFarServer, 6000), std::string("vm sees ") + kFarServer);
  EXPECT_EQ(Api("GET", "/v1/forwards").Json()["forwards"].size(), 3u);
  EXPECT_EQ(SetElements("fwd4", "map").size(), 3u);
}

TEST_F(GatewayFirewallTest, BytesRoundTripIntactThroughAForward) {
  auto vm = AddVm("sec1", "secure");
  processes_.push_back(vm.ns->Start({"socat", "TCP-LISTEN:22,fork,reuseaddr", "EXEC:cat"}));
  ASSERT_EQ(Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kServer}}).status, 201);
  auto sent = temp_->path() / "sent";
  auto echoed = temp_->path() / "echoed";
  gateway_->RunChecked({"sh", "-c", "head -c 262144 /dev/urandom > " + sent.string()});
  auto result =
      outside_->Run({"sh", "-c",
                     std::string("socat -t3 -T5 - TCP:") + kGatewayOutside +
                         ":6000,connect-timeout=2 < " + sent.string() + " > " + echoed.string()});
  ASSERT_TRUE(result.ok()) << result.err;
  auto read = [](const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), {});
  };
  auto bytes = read(sent);
  ASSERT_EQ(bytes.size(), 262144u);
  EXPECT_TRUE(read(echoed) == bytes) << "the echo differs from what was sent";
}

TEST_F(GatewayFirewallTest, ClosingAForwardCutsItsSession) {
  auto vm = AddVm("sec1", "secure");
  auto received = temp_->path() / "received";
  auto fifo = temp_->path() / "to-vm";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  processes_.push_back(
      vm.ns->Start({"socat", "-u", "TCP-LISTEN:22,reuseaddr", "CREATE:" + received.string()}));
  auto opened = Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kServer}});
  ASSERT_EQ(opened.status, 201) << opened.body;
  auto id = opened.Json()["id"].get<std::string>();
  std::fstream input(fifo, std::ios::in | std::ios::out);
  processes_.push_back(
      outside_->Start({"socat", "-u", "OPEN:" + fifo.string(),
                       "TCP:" + std::string(kGatewayOutside) + ":6000,retry=100,interval=0.05"}));
  auto contents = [&] {
    std::ifstream file(received);
    return std::string(std::istreambuf_iterator<char>(file), {});
  };
  input << "before\n" << std::flush;
  ASSERT_TRUE(Within(5s, [&] { return contents().find("before") != std::string::npos; }))
      << "the forwarded session never carried data";

  ASSERT_EQ(Api("DELETE", "/v1/forwards/" + id).status, 200);
  input << "after\n" << std::flush;
  EXPECT_FALSE(Within(1500ms, [&] { return contents().find("after") != std::string::npos; }))
      << "the closed forward's session still carries data";
  EXPECT_EQ(Api("GET", "/v1/forwards/" + id).status, 404);
}

TEST_F(GatewayFirewallTest, AForwardEndsAtItsExpiryAndSurvivesARestartBeforeIt) {
  auto vm = AddVm("sec1", "secure");
  ServePort22(vm, processes_);
  auto lasting =
      Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kServer}, {"ttl_s", 600}});
  auto brief =
      Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kFarServer}, {"ttl_s", 2}});
  ASSERT_EQ(lasting.status, 201) << lasting.body;
  ASSERT_EQ(brief.status, 201) << brief.body;
  auto before = lasting.Json();

  ASSERT_EQ(netd_->Stop(), 0);
  gateway_->RunChecked({"nft", "delete", "table", "inet", "ticrypt"});
  netd_->Start();
  auto after = Api("GET", "/v1/forwards/" + before["id"].get<std::string>());
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.Json()["expires_at"], before["expires_at"]) << "the remaining time is kept";
  EXPECT_EQ(ThroughForward(*outside_, kServer, 6000), std::string("vm sees ") + kServer);

  auto brief_id = brief.Json()["id"].get<std::string>();
  EXPECT_TRUE(Within(4s, [&] { return Api("GET", "/v1/forwards/" + brief_id).status == 404; }))
      << "the store never let the brief forward go";
  EXPECT_FALSE(ThroughForward(*outside_, kFarServer, 6000)) << "an expired forward still works";
  auto audit = Api("GET", "/v1/audit?limit=100").Json();
  EXPECT_NE(audit.dump().find("forward.expire"), std::string::npos);
}

TEST_F(GatewayFirewallTest, UnbindingAVmClosesItsForwards) {
  auto vm = AddVm("sec1", "secure");
  ServePort22(vm, processes_);
  ASSERT_EQ(Api("POST", "/v1/forwards", {{"vm", "sec1"}, {"client_ip", kServer}}).status, 201);
  ASSERT_EQ(Api("DELETE", "/v1/vms/sec1").status, 200);
  EXPECT_EQ(Api("GET", "/v1/forwards").Json()["forwards"].size(), 0u);
  EXPECT_EQ(SetElements("fwd4", "map").size(), 0u);
  EXPECT_FALSE(ThroughForward(*outside_, kServer, 6000));
}

// Element lists are netlink attributes with a 16-bit length: thousands of elements must be cut
// into several messages, or the kernel silently keeps only the first of them.
TEST_F(GatewayFirewallTest, ThousandsOfElementsReachTheKernelWhole) {
  constexpr std::size_t kVms = 2500;
  for (std::size_t i = 0; i < kVms; ++i) {
    ASSERT_EQ(Api("PUT", "/v1/vms/many-" + std::to_string(i), {{"network", "secure"}}).status, 201);
  }
  PutRule("wide", {{"destinations", {kServer, "203.0.113.0/28"}},
                   {"protocol", "tcp"},
                   {"ports", {"27000-27010"}},
                   {"vms", "*"}});
  PutRule("one",
          {{"destinations", {kServer}}, {"protocol", "udp"}, {"ports", {1717}}, {"vms", "*"}});
  auto expect_all = [&](const char* when) {
    EXPECT_EQ(SetElements("vm_bind4").size(), kVms) << when;
    EXPECT_EQ(SetElements("allow4").size(), kVms) << when;
    EXPECT_EQ(SetElements("allow4_ranges").size(), 2 * kVms) << when;
  };
  expect_all("after the incremental updates");
  ASSERT_EQ(netd_->Stop(), 0);
  gateway_->RunChecked({"nft", "delete", "table", "inet", "ticrypt"});
  netd_->Start();
  expect_all("after a whole-table apply");
}

TEST_F(GatewayFirewallTest, ADeletedTableIsRepairedWithinASecond) {
  RestartWithTableMode("guard");
  auto vm = AddVm("sec1", "secure");
  PutRule("license",
          {{"destinations", {kServer}}, {"protocol", "tcp"}, {"ports", {443}}, {"vms", {"sec1"}}});
  EXPECT_EQ(Drift()["detected"], 0) << "netd's own transactions are not drift";

  gateway_->RunChecked({"nft", "delete", "table", "inet", "ticrypt"});
  EXPECT_TRUE(Within(1s, [&] { return ChainRules("forward_secure") > 0; }))
      << "the table is not back within a second";
  EXPECT_EQ(SetElements("allow4").size(), 1u);
  EXPECT_EQ(SetElements("vm_bind4").size(), 1u);
  EXPECT_TRUE(Peer(*vm.ns, kServer, 443));
  EXPECT_FALSE(Peer(*vm.ns, kServer, 444));
  auto drift = Drift();
  EXPECT_EQ(drift["repairs"], 1) << drift;
  EXPECT_THAT(Api("GET", "/metrics").body,
              ::testing::HasSubstr("netd_firewall_drift_repairs_total 1"));
  EXPECT_FALSE(Api("GET", "/v1/status").Json()["last_reconcile"].is_null());
}

TEST_F(GatewayFirewallTest, AFlushedChainIsRepairedWithinASecond) {
  RestartWithTableMode("guard");
  auto vm = AddVm("sec1", "secure");
  auto rules = ChainRules("forward");
  ASSERT_GT(rules, 0u);
  // Without its rules the base chain's policy accept would let every secure VM out.
  gateway_->RunChecked({"nft", "flush", "chain", "inet", "ticrypt", "forward"});
  EXPECT_TRUE(Within(1s, [&] { return ChainRules("forward") == rules; }))
      << "the forward chain is not back within a second";
  EXPECT_FALSE(Peer(*vm.ns, kServer, 443));
  EXPECT_EQ(Drift()["repairs"], 1);
}

TEST_F(GatewayFirewallTest, ChangesToOtherTablesAreNotDrift) {
  // Same name in another family, and another table in the same family.
  gateway_->RunChecked({"nft",
                        "add table ip ticrypt; add table inet other; add chain inet "
                        "other c; delete table inet other; delete table ip ticrypt"});
  gateway_->RunChecked({"iptables", "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "DROP"});
  gateway_->RunChecked({"iptables", "-D", "INPUT", "-p", "udp", "--dport", "9", "-j", "DROP"});
  std::this_thread::sleep_for(300ms);
  auto drift = Drift();
  EXPECT_EQ(drift["detected"], 0) << drift;
  EXPECT_EQ(drift["repairs"], 0) << drift;
}

}  // namespace
}  // namespace netd
