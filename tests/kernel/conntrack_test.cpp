// ConntrackTable against a real conntrack table: two clients reach a server through a router
// namespace whose nftables forward chain lets through only flows conntrack knows (plus their first
// packet). Addresses are TEST-NET ranges that exist only inside the test's namespaces.
#include "netd/firewall/conntrack.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/command.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"

namespace netd::firewall {
namespace {

using namespace std::chrono_literals;
using lab::Namespace;
using lab::Process;

constexpr const char* kClientA = "192.0.2.2";
constexpr const char* kClientB = "203.0.113.2";
constexpr const char* kServer = "198.51.100.2";
// A second server address outside 198.51.100.0/25.
constexpr const char* kServerHigh = "198.51.100.130";

// A TCP segment that arrives after its entry was deleted is "new" but not a SYN, so it is dropped:
// deleting the entry ends an established connection. Client B's flows live in conntrack zone 7, so
// deleting them works only if the delete names the zone.
constexpr const char* kRouterRuleset = R"(
table ip conntrack_test {
  chain prerouting {
    type filter hook prerouting priority raw;
    ip saddr 203.0.113.2 ct zone set 7
    ip daddr 203.0.113.2 ct zone set 7
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state new tcp flags & (fin | syn | rst | ack) == syn accept
    ct state new meta l4proto udp accept
  }
})";

Ipv4Address Address(const char* text) {
  return *Ipv4Address::Parse(text);
}
Ipv4Cidr Cidr(const char* text) {
  return *Ipv4Cidr::Parse(text);
}

// The value of the first "key=value" word of a `conntrack -L` line (the original direction).
std::string Field(const std::string& line, const std::string& key) {
  const auto start = line.find(" " + key + "=");
  if (start == std::string::npos) return "";
  const auto value = start + key.size() + 2;
  return line.substr(value, line.find(' ', value) - value);
}

// A connection whose client sends what the test writes into a FIFO and whose server stores what
// it receives in a file.
struct PipedConnection {
  Process server;
  Process client;
  // Opened read-write: that never blocks on a FIFO, and the client never sees end-of-file.
  std::fstream input;
  std::filesystem::path received;

  void Write(const std::string& text) { input << text << std::flush; }
  std::string Received() const {
    std::ifstream file(received);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }
};

class ConntrackDelete : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    for (const char* tool : {"conntrack", "nft", "socat", "bash", "sysctl"}) {
      if (lab::FindExecutable(tool)) continue;
      if (lab::RunningInCi()) FAIL() << "kernel test cannot run in CI without " << tool;
      GTEST_SKIP() << "conntrack test needs " << tool;
    }
    router_.emplace("router");
    client_a_.emplace("client-a");
    client_b_.emplace("client-b");
    server_.emplace("server");
    Link(*client_a_, "to-a", "192.0.2.1", kClientA);
    Link(*client_b_, "to-b", "203.0.113.1", kClientB);
    Link(*server_, "to-server", "198.51.100.1", kServer);
    server_->AddAddress("eth0", std::string(kServerHigh) + "/24");
    router_->RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    router_->RunChecked({"nft", kRouterRuleset});
  }

  // Connects `peer` (eth0, `address`/24, default route via the router) to the router.
  void Link(const Namespace& peer, const std::string& router_ifname, const std::string& gateway,
            const std::string& address) {
    lab::CreateVethPair(*router_, router_ifname, peer, "eth0");
    router_->AddAddress(router_ifname, gateway + "/24");
    peer.AddAddress("eth0", address + "/24");
    peer.AddRoute("default", gateway);
  }

  // The router's table; the socket stays in the router's namespace after the scope ends.
  ConntrackTable OpenRouterTable() {
    lab::NamespaceScope scope(*router_);
    return ConntrackTable();
  }

  void Listen(const std::string& port) {
    processes_.push_back(
        server_->Start({"socat", "-u", "TCP-LISTEN:" + port + ",fork,reuseaddr", "STDOUT"}));
  }

  // An idle TCP connection: the client only reads and the server never writes. `retry` waits
  // for the listener.
  void Connect(const Namespace& client, const std::string& destination, const std::string& port) {
    processes_.push_back(client.Start(
        {"socat", "-u", "TCP:" + destination + ":" + port + ",retry=100,interval=0.05", "STDOUT"}));
  }

  // Sends one UDP datagram to each destination port; each one is a conntrack entry.
  void SendUdp(const Namespace& client, const std::string& destination, int first_port,
               int last_port) {
    client.RunChecked({"bash", "-c",
                       "for port in $(seq " + std::to_string(first_port) + " " +
                           std::to_string(last_port) + "); do echo x >/dev/udp/" + destination +
                           "/$port; done"});
  }

  PipedConnection Pipe(const Namespace& client, const std::string& port) {
    const std::filesystem::path fifo = temp_->path() / ("to-" + port);
    if (mkfifo(fifo.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + fifo.string());
    PipedConnection connection;
    connection.received = temp_->path() / ("received-" + port);
    connection.server = server_->Start({"socat", "-u", "TCP-LISTEN:" + port + ",reuseaddr",
                                        "CREATE:" + connection.received.string()});
    connection.input.open(fifo, std::ios::in | std::ios::out);
    connection.client =
        client.Start({"socat", "-u", "OPEN:" + fifo.string(),
                      "TCP:" + std::string(kServer) + ":" + port + ",retry=100,interval=0.05"});
    return connection;
  }

  // The router's IPv4 entries as "protocol [state] source destination port" of the original
  // direction, e.g. "tcp ESTABLISHED 192.0.2.2 198.51.100.2 7000" or "udp 192.0.2.2 ...".
  std::multiset<std::string> Flows() const {
    const lab::CommandResult listing = router_->RunChecked({"conntrack", "-L", "-f", "ipv4"});
    std::multiset<std::string> flows;
    std::istringstream lines(listing.out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string protocol, number, timeout, state;
      words >> protocol >> number >> timeout >> state;
      std::string flow = protocol;
      if (state.find('=') == std::string::npos) flow += " " + state;
      flows.insert(flow + " " + Field(line, "src") + " " + Field(line, "dst") + " " +
                   Field(line, "dport"));
    }
    return flows;
  }

  // Polls until the router's table holds exactly `expected` (TCP handshakes finish, packets cross
  // the router); returns the last listing for the assertion.
  std::multiset<std::string> WaitForFlows(const std::multiset<std::string>& expected) const {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::multiset<std::string> flows = Flows();
    while (flows != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      flows = Flows();
    }
    return flows;
  }

  // Declaration order is teardown order, reversed: processes stop before their namespaces go.
  std::optional<Namespace> router_;
  std::optional<Namespace> client_a_;
  std::optional<Namespace> client_b_;
  std::optional<Namespace> server_;
  std::optional<lab::TempDir> temp_;
  std::vector<Process> processes_;
};

TEST_F(ConntrackDelete, DeletesOnlyTheEntriesTheFilterMatches) {
  for (const char* port : {"7000", "7001", "7002"}) Listen(port);
  Connect(*client_a_, kServer, "7000");
  Connect(*client_a_, kServer, "7001");
  Connect(*client_a_, kServer, "7002");      // port outside the range
  Connect(*client_b_, kServer, "7000");      // other source
  Connect(*client_a_, kServerHigh, "7000");  // destination outside the CIDR
  SendUdp(*client_a_, kServer, 7000, 7000);  // other protocol
  const std::multiset<std::string> kept = {
      "tcp ESTABLISHED 192.0.2.2 198.51.100.2 7002",
      "tcp ESTABLISHED 203.0.113.2 198.51.100.2 7000",
      "tcp ESTABLISHED 192.0.2.2 198.51.100.130 7000",
      "udp 192.0.2.2 198.51.100.2 7000",
  };
  std::multiset<std::string> before = kept;
  before.insert("tcp ESTABLISHED 192.0.2.2 198.51.100.2 7000");
  before.insert("tcp ESTABLISHED 192.0.2.2 198.51.100.2 7001");
  ASSERT_EQ(WaitForFlows(before), before);

  ConntrackTable table = OpenRouterTable();
  // What a revocation does: the policy that remains keeps port 7001 open.
  const ConntrackFilter revocation{
      .source = Address(kClientA),
      .destination = Cidr("198.51.100.0/25"),
      .protocol = IPPROTO_TCP,
      .destination_ports = PortRange{7000, 7001},
      .keep = [](const FlowTuple& flow) { return flow.destination_port == 7001; }};
  EXPECT_EQ(table.Delete(revocation), 1U);
  auto still_allowed = kept;
  still_allowed.insert("tcp ESTABLISHED 192.0.2.2 198.51.100.2 7001");
  EXPECT_EQ(Flows(), still_allowed);

  const ConntrackFilter filter{.source = Address(kClientA),
                               .destination = Cidr("198.51.100.0/25"),
                               .protocol = IPPROTO_TCP,
                               .destination_ports = PortRange{7000, 7001},
                               .keep = {}};
  EXPECT_EQ(table.Delete(filter), 1U);
  EXPECT_EQ(Flows(), kept);

  // Nothing left to delete; the socket serves any number of calls.
  EXPECT_EQ(table.Delete(filter), 0U);
  EXPECT_EQ(Flows(), kept);
}

TEST_F(ConntrackDelete, EstablishedConnectionStopsOnceItsEntryIsDeleted) {
  temp_.emplace("conntrack");
  PipedConnection revoked = Pipe(*client_a_, "7100");
  PipedConnection control = Pipe(*client_b_, "7101");
  revoked.Write("before\n");
  control.Write("before\n");
  const auto arrived = [](const PipedConnection& connection, const std::string& text,
                          std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (connection.Received() != text && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    return connection.Received() == text;
  };
  ASSERT_TRUE(arrived(revoked, "before\n"));
  ASSERT_TRUE(arrived(control, "before\n"));

  // What revoking a port forward does: the client's flows to that one port.
  ConntrackTable table = OpenRouterTable();
  EXPECT_EQ(table.Delete({.source = Address(kClientA),
                          .destination = std::nullopt,
                          .protocol = IPPROTO_TCP,
                          .destination_ports = PortRange{7100, 7100},
                          .keep = {}}),
            1U);

  revoked.Write("after\n");
  control.Write("after\n");
  // The control connection crossing the router bounds how long the revoked bytes had to arrive;
  // a further second covers several retransmissions.
  ASSERT_TRUE(arrived(control, "before\nafter\n"));
  EXPECT_FALSE(arrived(revoked, "before\nafter\n", 1s)) << "bytes crossed the router after Delete";
  EXPECT_EQ(revoked.Received(), "before\n");
  // The retransmissions were dropped, not picked up again as a new entry.
  EXPECT_EQ(Flows(), std::multiset<std::string>{"tcp ESTABLISHED 203.0.113.2 198.51.100.2 7101"});
}

TEST_F(ConntrackDelete, DeletesAThousandEntriesQuickly) {
  SendUdp(*client_a_, kServer, 10000, 10999);
  SendUdp(*client_b_, kServer, 10000, 10199);
  std::multiset<std::string> before;
  for (int port = 10000; port <= 10999; ++port) {
    before.insert("udp 192.0.2.2 198.51.100.2 " + std::to_string(port));
    if (port <= 10199) before.insert("udp 203.0.113.2 198.51.100.2 " + std::to_string(port));
  }
  ASSERT_TRUE(WaitForFlows(before) == before);

  ConntrackTable table = OpenRouterTable();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(table.Delete({.source = Address(kClientA),
                          .destination = std::nullopt,
                          .protocol = IPPROTO_UDP,
                          .destination_ports = PortRange{10000, 10999},
                          .keep = {}}),
            1000U);
  const auto by_source = std::chrono::steady_clock::now() - start;
  EXPECT_LT(by_source, 1s);
  RecordProperty(
      "delete_1000_by_source_us",
      std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(by_source).count()));
  const std::multiset<std::string> after = Flows();
  ASSERT_EQ(after.size(), 200U);
  for (const std::string& flow : after) EXPECT_EQ(flow.rfind("udp 203.0.113.2 ", 0), 0U) << flow;

  // Without a source the kernel filters by the exact destination only. These entries are in zone 7.
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(table.Delete({.source = std::nullopt,
                          .destination = Cidr("198.51.100.2/32"),
                          .protocol = IPPROTO_UDP,
                          .destination_ports = PortRange{10000, 10199},
                          .keep = {}}),
            200U);
  const auto by_destination = std::chrono::steady_clock::now() - start;
  RecordProperty(
      "delete_200_by_destination_us",
      std::to_string(
          std::chrono::duration_cast<std::chrono::microseconds>(by_destination).count()));
  EXPECT_TRUE(Flows().empty());
}

}  // namespace
}  // namespace netd::firewall
