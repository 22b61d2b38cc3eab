// bench/policy_hosts: the policy database's whole path, in processes as deployed. A gateway netd
// (gateway role) whose store holds 30,000 bindings and 1,000 groups (30 members each, TCP 22 and
// 6817) publishes them into the distribution's ovsdb-server; four host-role netd processes, each
// in a network namespace of its own with its own Open vSwitch (ovsdb-server and ovs-vswitchd,
// userspace datapath), follow it; 100 monitors of the Policy row stand in for more followers.
// Host h holds 5·2^h of the bound VMs' ports (5, 10, 20, 40).
//
// Figures: the hosts' first sync; from the API's answer to the flows acknowledged (barrier) on
// the host that holds the port, for an unbind and a bind; from the API's answer to every host's
// flows acknowledged, for a member joining and leaving a group that has a member on each host;
// beside the peer (the distribution's `ovsdb-client monitor`, timed from the same answer to the
// row's line); flows per host against its VMs; each host netd's RSS; the gateway netd's and
// ovsdb-server's CPU per change.
//
// One ovsdb-server, not a cluster: the hosts reach it by its unix socket from their namespaces
// (the lab's cluster members listen on TCP in namespaces of their own, which the hosts' do not
// route to). ovn-controller is not compared: OVN is not installed here (docs/policy.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/daemon/store.hpp"
#include "netd/lab/command.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "netd/testing/within.hpp"
#include "support.hpp"

namespace {

using netd::bench::Clock;
using netd::bench::CpuSeconds;
using netd::bench::Ms;
using netd::bench::Percentile;
using netd::bench::RssKib;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kBindings = 30000;
constexpr int kGroups = 1000;
constexpr int kGroupSize = 30;
constexpr int kHosts = 4;
constexpr int kMonitors = 100;
constexpr int kRounds = 100;  // per figure, spread over the hosts

// Thrown, so that the processes, namespaces and files made so far are cleaned up on the way
// out (netd's dnsmasq goes with netd's SIGTERM, not with the SIGKILL an exit would give it).
[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what);
}

std::string VmName(int i) {
  return fmt::format("vm{}", i);
}

// VM i's address: the secure network's DHCP range from its first address, every address bound,
// so that an address an unbind frees is the lowest free one and the next bind takes it again.
netd::Ipv4Address VmAddress(int i) {
  return netd::Ipv4Address(netd::Ipv4Address::Parse("192.168.129.1")->value() +
                           static_cast<std::uint32_t>(i));
}

// Host h's VMs: vm<1000h> onwards, in seeded groups of their own host's VMs and others.
int HostedVm(int host, int j) {
  return host * 1000 + j;
}
int HostedCount(int host) {
  return 5 << host;
}

void SeedStore(const std::filesystem::path& state_dir) {
  std::filesystem::create_directories(state_dir);
  netd::Store store(state_dir / "netd.db");
  store.Transact([&] {
    for (int i = 0; i < kBindings; ++i) {
      auto ip = VmAddress(i);
      store.InsertBinding({VmName(i), "secure", ip, netd::MacAddress::ForVmAddress(ip), {}, 0});
    }
    for (int g = 0; g < kGroups; ++g) {
      netd::policy::PublishedGroup group{
          fmt::format("g{}", g), "secure", {}, "tcp", {22, 6817}, ""};
      for (int m = 0; m < kGroupSize; ++m) group.members.insert(VmName(g * kGroupSize + m));
      store.PutGroup({group, 0, 0});
    }
  });
}

json Api(const netd::testing::NetdProcess& netd, const std::string& method,
         const std::string& target, const std::string& body = "", int expected = 200) {
  auto answer = netd::testing::Request(netd.socket(), method, target, body);
  if (answer.status != expected) {
    Fail(fmt::format("{} {}: {} {}", method, target, answer.status, answer.body));
  }
  return answer.body.empty() ? json() : answer.Json();
}

// A host: its namespace, its Open vSwitch, its netd in the host role following the database.
struct Host {
  Host(int number, const std::filesystem::path& dir, const std::string& policy_remote)
      : ns(fmt::format("bph{}", number)), ovs(ns) {
    // The uplink (no dummy links in this kernel: a veth whose other end goes nowhere).
    ns.RunChecked({"ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0-far"});
    ns.SetLinkUp("up0");
    ns.SetLinkUp("up0-far");
    auto own = dir / fmt::format("host{}", number);
    std::filesystem::create_directories(own);
    netd.emplace(own, [&](std::string text) {
      using netd::testing::Replace;
      text = Replace(text, R"(roles = ["gateway", "host"])", R"(roles = ["host"])");
      text = Replace(text, (own / "ovs" / "db.sock").string(), ovs.db_socket().string());
      text = Replace(text, "libvirt_uri = \"test:///default\"", "libvirt_uri = \"\"");
      text = Replace(text, '"' + (own / "ovs").string() + '"', '"' + ovs.dir().string() + '"');
      // The secure network's (the first) uplink: the trunk to the gateway.
      text = Replace(text, "uplink_mode = \"trunk\"", "uplink_mode = \"trunk\"\nuplink = \"up0\"");
      return text + fmt::format("\n[policy]\nremotes = [\"{}\"]\n", policy_remote);
    });
    netd->RunInNamespace(ns.name());
  }

  json Ports() const { return Api(*netd, "GET", "/v1/host/ports").at("ports"); }
  // The port's entry (null when absent).
  json Port(const std::string& name) const {
    for (auto& port : Ports()) {
      if (port.at("port") == name) return port;
    }
    return nullptr;
  }
  json Status() const { return Api(*netd, "GET", "/v1/status").at("host"); }

  netd::lab::Namespace ns;
  netd::lab::OvsInstance ovs;
  std::optional<netd::testing::NetdProcess> netd;
};

bool Acknowledged(const json& port, const std::string& state) {
  return !port.is_null() && port.at("state") == state && port.at("flows_installed").get<bool>();
}

// Polls until `done` holds; the time it was first seen to hold.
Clock::time_point PollUntil(std::chrono::seconds limit, const std::string& what,
                            const std::function<bool()>& done) {
  auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline)
      Fail(what + " did not happen within " + std::to_string(limit.count()) + " s");
    std::this_thread::sleep_for(500us);
  }
  return Clock::now();
}

}  // namespace

int Run() {
  netd::lab::TempDir dir("bpolhosts");
  netd::bench::PolicyDatabaseServer server(dir.path());
  const auto& remote_text = server.remote();

  fmt::print(
      "bench/policy_hosts: {} bindings and {} groups of {} in the gateway's store; {} host netd "
      "processes with their own Open vSwitch; {} monitors of the Policy row\n",
      kBindings, kGroups, kGroupSize, kHosts, kMonitors);
  auto gateway_dir = dir.path() / "gateway";
  std::filesystem::create_directories(gateway_dir);
  netd::testing::NetdProcess gateway(gateway_dir, [&](std::string text) {
    text = netd::testing::Replace(text, R"(roles = ["gateway", "host"])", R"(roles = ["gateway"])");
    return text + fmt::format("\n[policy]\nremotes = [\"{}\"]\n", remote_text);
  });
  SeedStore(gateway.state_dir());
  auto started = Clock::now();
  gateway.Start();
  PollUntil(300s, "the first publication", [&] {
    auto policy = Api(gateway, "GET", "/v1/status").at("policy");
    return policy.at("in_sync").get<bool>() && policy.at("pending_rows") == 0;
  });
  auto publish_s = std::chrono::duration<double>(Clock::now() - started).count();
  fmt::print("  the gateway started and published the store: {:.2f} s\n", publish_s);

  std::vector<std::unique_ptr<Host>> hosts;
  for (int h = 0; h < kHosts; ++h) {
    hosts.push_back(std::make_unique<Host>(h, dir.path(), remote_text));
  }
  started = Clock::now();
  for (auto& host : hosts) host->netd->Start();
  for (int h = 0; h < kHosts; ++h) {
    for (int j = 0; j < HostedCount(h); ++j) {
      auto i = HostedVm(h, j);
      auto port = VmName(i);
      auto result =
          hosts[h]->ovs.Vsctl({"--no-wait", "add-port", "br-secure", port, "tag=1081", "--", "set",
                               "Interface", port, "type=internal",
                               "external_ids:attached-mac=\"" +
                                   netd::MacAddress::ForVmAddress(VmAddress(i)).ToString() + "\"",
                               "external_ids:iface-id=" + port, "external_ids:vm-id=" + port});
      if (!result.ok() && result.err.find("no bridge named") != std::string::npos) {
        // netd has not made the bridge yet.
        std::this_thread::sleep_for(50ms);
        --j;
        continue;
      }
      if (!result.ok()) Fail("ovs-vsctl add-port " + port + ": " + result.err);
    }
  }
  PollUntil(300s, "the hosts' first sync", [&] {
    for (int h = 0; h < kHosts; ++h) {
      auto status = hosts[h]->Status();
      if (status.at("policy").at("state") != "current") return false;
      for (const auto& bridge : status.at("bridges").at("per_bridge")) {
        if (bridge.at("bridge") == "br-secure" &&
            bridge.at("vm_ports_pinned").get<int>() != HostedCount(h)) {
          return false;
        }
      }
      for (const auto& port : hosts[h]->Ports()) {
        if (!port.at("flows_installed").get<bool>()) return false;
      }
    }
    return true;
  });
  auto sync_s = std::chrono::duration<double>(Clock::now() - started).count();
  fmt::print("  the hosts started, followed the database and pinned their ports: {:.2f} s\n",
             sync_s);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  auto monitors = netd::bench::StartPolicyWatchers(io, remote_text, kMonitors);
  // Stopped and joined on every way out, before the monitors go.
  struct LoopThread {
    boost::asio::io_context& io;
    std::thread thread;
    ~LoopThread() {
      io.stop();
      thread.join();
    }
  } monitor_loop{io, std::thread([&] { io.run(); })};
  netd::bench::OvsdbMonitorProcess peer(dir.path() / "monitor.fifo", remote_text,
                                        std::string(netd::policy::kDatabase), "Binding", "vm");
  PollUntil(60s, "ovsdb-client monitor's first lines",
            [&] { return peer.Seen(VmName(kBindings - 1)).has_value(); });

  // A group with a member on every host: a member joining or leaving changes every host's
  // flows.
  auto anchor = [](int h) { return VmName(HostedVm(h, 1)); };
  auto mover = [](int h) { return VmName(HostedVm(h, 2)); };
  json members = json::array();
  for (int h = 0; h < kHosts; ++h) members.push_back(anchor(h));
  Api(gateway, "PUT", "/v1/groups/bench",
      json{{"network", "secure"}, {"members", members}, {"protocol", "tcp"}, {"ports", {22}}}
          .dump(),
      201);
  auto sees = [&](int h, const std::string& port_name, const std::string& vm, bool present) {
    auto port = hosts[h]->Port(port_name);
    if (!Acknowledged(port, "pinned")) return false;
    const auto& peers = port.at("peers");
    return (std::find(peers.begin(), peers.end(), vm) != peers.end()) == present;
  };
  // Whether the group joins (or no longer joins) host h's VM `vm` with the other hosts'
  // anchors, on every host, flows acknowledged: each anchor's port has it among its peers, and
  // its own port has the anchors.
  auto group_holds = [&](int h, const std::string& vm, bool present) {
    for (int j = 0; j < kHosts; ++j) {
      if (j == h) continue;
      if (!sees(j, anchor(j), vm, present) || !sees(h, vm, anchor(j), present)) return false;
    }
    return true;
  };
  PollUntil(30s, "the group on every host", [&] {
    for (int h = 0; h < kHosts; ++h) {
      if (!group_holds(h, anchor(h), true)) return false;
    }
    return true;
  });

  auto gateway_cpu = CpuSeconds(gateway.pid());
  auto server_cpu = CpuSeconds(server.pid());
  int changes = 0;
  std::vector<double> unbind_ms, bind_ms, peer_bind_ms, join_ms, leave_ms;
  for (int k = 0; k < kRounds; ++k) {
    auto h = k % kHosts;
    auto& host = *hosts[h];
    auto vm = VmName(HostedVm(h, 0));
    Api(gateway, "DELETE", "/v1/vms/" + vm);
    auto answered = Clock::now();
    auto done = PollUntil(30s, "an unbind on host " + std::to_string(h), [&] {
      auto port = host.Port(vm);
      return !port.is_null() && port.at("state") == "refused" && port.at("flows") == 0;
    });
    unbind_ms.push_back(Ms(done - answered));
    auto asked = Clock::now();
    auto bound = Api(gateway, "PUT", "/v1/vms/" + vm, R"({"network":"secure"})", 201);
    answered = Clock::now();
    if (bound.at("mac") != netd::MacAddress::ForVmAddress(VmAddress(HostedVm(h, 0))).ToString()) {
      Fail("the bind took another address: " + bound.dump());
    }
    done = PollUntil(30s, "a bind on host " + std::to_string(h),
                     [&] { return Acknowledged(host.Port(vm), "pinned"); });
    bind_ms.push_back(Ms(done - answered));
    PollUntil(30s, "the peer's line for a bind",
              [&] { return peer.Seen(vm, "insert", asked).has_value(); });
    // Timed from the same answer; a line that came before it counts as 0.
    peer_bind_ms.push_back(std::max(0.0, Ms(*peer.Seen(vm, "insert", asked) - answered)));

    Api(gateway, "PUT", "/v1/groups/bench/members/" + mover(h), "", 200);
    answered = Clock::now();
    done = PollUntil(30s, "a member joining", [&] { return group_holds(h, mover(h), true); });
    join_ms.push_back(Ms(done - answered));
    Api(gateway, "DELETE", "/v1/groups/bench/members/" + mover(h));
    answered = Clock::now();
    done = PollUntil(30s, "a member leaving", [&] { return group_holds(h, mover(h), false); });
    leave_ms.push_back(Ms(done - answered));
    changes += 4;
  }
  gateway_cpu = CpuSeconds(gateway.pid()) - gateway_cpu;
  server_cpu = CpuSeconds(server.pid()) - server_cpu;

  fmt::print("  from the API's answer to the flows acknowledged ({} of each):\n", kRounds);
  auto line = [](const char* what, const std::vector<double>& ms) {
    fmt::print("    {:<46} p50 {:6.2f} ms, p99 {:6.2f} ms\n", what, Percentile(ms, 0.5),
               Percentile(ms, 0.99));
  };
  line("an unbind, on the VM's host", unbind_ms);
  line("a bind, on the VM's host", bind_ms);
  line("the peer: the bind's row in ovsdb-client monitor", peer_bind_ms);
  line("a member joining, on every host", join_ms);
  line("a member leaving, on every host", leave_ms);

  double max_rss_mib = 0;
  for (int h = 0; h < kHosts; ++h) {
    auto flows = hosts[h]->ovs.Ofctl({"-O", "OpenFlow13", "--no-stats", "dump-flows", "br-secure"});
    auto count = std::count(flows.out.begin(), flows.out.end(), '\n') - 1;
    auto rss_mib = static_cast<double>(RssKib(hosts[h]->netd->pid())) / 1024.0;
    max_rss_mib = std::max(max_rss_mib, rss_mib);
    fmt::print("  host {}: {} VMs, {} flows on br-secure ({:.0f} per VM), netd RSS {:.1f} MiB\n", h,
               HostedCount(h), count, static_cast<double>(count) / HostedCount(h), rss_mib);
  }
  fmt::print(
      "  CPU per change ({} changes, {} followers): gateway netd {:.2f} ms, ovsdb-server {:.2f} "
      "ms\n",
      changes, kHosts + kMonitors + 1, gateway_cpu * 1000 / changes, server_cpu * 1000 / changes);
  auto bind_p99 = Percentile(bind_ms, 0.99);
  auto join_p99 = Percentile(join_ms, 0.99);
  fmt::print("BENCH policy_hosts publish_at_start {:.2f} s\n", publish_s);
  fmt::print("BENCH policy_hosts hosts_first_sync {:.2f} s\n", sync_s);
  fmt::print("BENCH policy_hosts unbind_to_flows_p99 {:.2f} ms\n", Percentile(unbind_ms, 0.99));
  fmt::print("BENCH policy_hosts bind_to_flows_p50 {:.2f} ms\n", Percentile(bind_ms, 0.5));
  fmt::print("BENCH policy_hosts bind_to_flows_p99 {:.2f} ms\n", bind_p99);
  fmt::print("TARGET policy_hosts bind_to_flows_p99 <= 100\n");
  fmt::print("BENCH policy_hosts peer_bind_p99 {:.2f} ms\n", Percentile(peer_bind_ms, 0.99));
  fmt::print("BENCH policy_hosts group_join_to_every_host_p50 {:.2f} ms\n",
             Percentile(join_ms, 0.5));
  fmt::print("BENCH policy_hosts group_join_to_every_host_p99 {:.2f} ms\n", join_p99);
  fmt::print("TARGET policy_hosts group_join_to_every_host_p99 <= 100\n");
  fmt::print("BENCH policy_hosts group_leave_to_every_host_p99 {:.2f} ms\n",
             Percentile(leave_ms, 0.99));
  fmt::print("TARGET policy_hosts group_leave_to_every_host_p99 <= 100\n");
  fmt::print("BENCH policy_hosts host_rss_max {:.1f} MiB\n", max_rss_mib);
  fmt::print("TARGET policy_hosts host_rss_max <= 64\n");
  fmt::print("BENCH policy_hosts gateway_cpu_per_change {:.2f} ms\n", gateway_cpu * 1000 / changes);
  fmt::print("BENCH policy_hosts ovsdb_server_cpu_per_change {:.2f} ms\n",
             server_cpu * 1000 / changes);
  return 0;
}

int main() {
  spdlog::set_level(spdlog::level::err);
  try {
    return Run();
  } catch (const std::exception& failure) {
    fmt::print(stderr, "bench/policy_hosts: {}\n", failure.what());
    return 1;
  }
}
