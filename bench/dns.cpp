// bench/dns: the filtered DNS against dnsmasq, one run, same client, same upstream, same
// query file, same path. dnsperf in a secure VM namespace asks 200 allowed names (A) over and
// over of the VM's gateway address, port 53: in turn netd's filtered DNS, and dnsmasq
// (--cache-size=1000) on the same address while netd is stopped (its table stays in the
// kernel, so both answer through the same bridge, conntrack and rules), both forwarding to
// one upstream dnsmasq that holds the names. Then the added latency of a first answer: 1,000
// names nobody asked before, each asked of netd (upstream, kernel insert) and then straight
// of the upstream by the same VM.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "support.hpp"

namespace {

using netd::bench::CpuSeconds;
using netd::bench::Percentile;
using namespace std::chrono_literals;
using netd::lab::Namespace;
using nlohmann::json;

constexpr int kNames = 200;
constexpr int kFirstAnswers = 1000;
constexpr int kSeconds = 10;
constexpr const char* kGateway = "192.168.128.1";
constexpr const char* kUpstream = "198.51.100.2";

[[noreturn]] void Fail(const std::string& what) {
  fmt::print(stderr, "bench/dns: {}\n", what);
  std::exit(1);
}

struct DnsperfResult {
  double qps = 0;
  std::uint64_t completed = 0;
  double average_latency_ms = 0;
  std::uint64_t lost = 0;
};

DnsperfResult Dnsperf(const Namespace& vm, const std::string& server,
                      const std::filesystem::path& queries, int seconds) {
  auto result = vm.Run({"dnsperf", "-s", server, "-d", queries.string(), "-l",
                        std::to_string(seconds), "-q", "100", "-t", "2"});
  if (!result.ok()) Fail("dnsperf against " + server + " failed: " + result.err + result.out);
  DnsperfResult parsed;
  std::smatch match;
  if (std::regex_search(result.out, match, std::regex(R"(Queries per second:\s+([0-9.]+))"))) {
    parsed.qps = std::stod(match[1]);
  }
  if (std::regex_search(result.out, match, std::regex(R"(Average Latency \(s\):\s+([0-9.]+))"))) {
    parsed.average_latency_ms = std::stod(match[1]) * 1000;
  }
  if (std::regex_search(result.out, match, std::regex(R"(Queries completed:\s+([0-9]+))"))) {
    parsed.completed = std::stoull(match[1]);
  }
  if (std::regex_search(result.out, match, std::regex(R"(Queries lost:\s+([0-9]+))"))) {
    parsed.lost = std::stoull(match[1]);
  }
  if (parsed.qps == 0) Fail("no dnsperf figures against " + server + ":\n" + result.out);
  return parsed;
}

}  // namespace

int main() {
  Namespace gateway("bdns-gw");
  Namespace outside("bdns-out");
  Namespace vm("bdns-vm");
  netd::lab::TempDir dir("bdns");
  gateway.RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
  gateway.RunChecked({"ip", "link", "add", "br-secure", "type", "bridge"});
  gateway.SetLinkUp("br-secure");
  gateway.AddAddress("br-secure", std::string(kGateway) + "/17");
  netd::lab::CreateVethPair(gateway, "ext0", outside, "eth0");
  gateway.AddAddress("ext0", "198.51.100.1/24");
  outside.AddAddress("eth0", std::string(kUpstream) + "/24");

  // The upstream: every name the bench asks, from memory.
  auto upstream_conf = dir.path() / "upstream.conf";
  {
    std::ofstream conf(upstream_conf);
    conf << "port=53\nlisten-address=" << kUpstream
         << "\nbind-interfaces\nno-resolv\nno-hosts\nuser=root\ngroup=root\n"
            "local-ttl=3600\n";
    for (int i = 0; i < kNames; ++i) {
      conf << "host-record=n" << i << ".bench.example,203.0.113." << i % 250 << "\n";
    }
    for (int i = 0; i < kFirstAnswers; ++i) {
      // Outside the gateway's external subnet, whose addresses answers do not open.
      conf << "host-record=f" << i << ".bench.example,198.18.0." << 10 + i % 200 << "\n";
    }
  }
  auto upstream =
      outside.Start({"dnsmasq", "--keep-in-foreground", "--conf-file=" + upstream_conf.string()});
  auto peer_conf = dir.path() / "peer.conf";
  std::ofstream(peer_conf) << "port=53\nlisten-address=" << kGateway
                           << "\nbind-interfaces\nno-resolv\nno-hosts\nuser=root\ngroup=root\n"
                              "cache-size=1000\nserver="
                           << kUpstream << "\n";

  netd::testing::NetdProcess netd(dir.path(), [](std::string config) {
    return config + "\n[dns]\nupstream = [\"" + kUpstream +
           "\"]\nvm_queries_per_second = 1000000\nmax_in_flight = 100000\n"
           "vm_wildcard_names = 1000000\n";
  });
  netd.RunInNamespace(gateway.name());
  netd.Start();
  auto api = [&](const std::string& method, const std::string& target, const json& body) {
    auto answer = netd::testing::Request(netd.socket(), method, target, body.dump());
    if (answer.status >= 300) Fail(method + " " + target + ": " + answer.body);
    return answer.Json();
  };
  auto bound = api("PUT", "/v1/vms/bench", {{"network", "secure"}});
  netd::lab::CreateVethPair(gateway, "p-bench", vm, "eth0");
  gateway.RunChecked({"ip", "link", "set", "p-bench", "master", "br-secure"});
  vm.RunChecked({"ip", "link", "set", "eth0", "address", bound["mac"].get<std::string>()});
  vm.AddAddress("eth0", bound["ip"].get<std::string>() + "/17");
  vm.AddRoute("default", kGateway);
  api("PUT", "/v1/allowlist/bench",
      {{"destinations", {"*.bench.example"}},
       {"protocol", "tcp"},
       {"ports", {443}},
       {"vms", {"bench"}}});
  // So that the VM may ask the upstream straight, for the first-answer comparison.
  api("PUT", "/v1/allowlist/upstream",
      {{"destinations", {kUpstream}}, {"protocol", "udp"}, {"ports", {53}}, {"vms", {"bench"}}});

  auto queries = dir.path() / "queries.txt";
  {
    std::ofstream file(queries);
    for (int i = 0; i < kNames; ++i) file << "n" << i << ".bench.example A\n";
  }
  // Whoever serves the gateway address answers before the clock starts; a short run fills
  // its cache.
  auto warm_up = [&](const char* who) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!vm.Run({"dig", "+short", "+time=1", "+tries=1", std::string("@") + kGateway,
                    "n0.bench.example"})
                .out.starts_with("203.0.113.")) {
      if (std::chrono::steady_clock::now() > deadline) Fail(std::string(who) + " never answered");
      std::this_thread::sleep_for(50ms);
    }
    Dnsperf(vm, kGateway, queries, 1);
  };

  fmt::print("bench/dns: dnsperf, {} names, 100 queries outstanding, {} s per run, alternating\n",
             kNames, kSeconds);
  // dnsperf and the server share the machine's cores, so q/s may be the client's limit; the
  // server's CPU time per answered query (user + system, which includes delivering its
  // answers) shows its own cost.
  std::vector<double> netd_qps;
  std::vector<double> peer_qps;
  std::vector<double> netd_cpu_us;
  std::vector<double> peer_cpu_us;
  for (int round = 0; round < 2; ++round) {
    if (round > 0) netd.Start();
    warm_up("netd");
    auto cpu_before = CpuSeconds(netd.pid());
    auto ours = Dnsperf(vm, kGateway, queries, kSeconds);
    auto ours_cpu_us =
        (CpuSeconds(netd.pid()) - cpu_before) * 1e6 / static_cast<double>(ours.completed);
    if (netd.Stop() != 0) Fail("netd did not stop cleanly");
    auto peer =
        gateway.Start({"dnsmasq", "--keep-in-foreground", "--conf-file=" + peer_conf.string()});
    warm_up("dnsmasq");
    cpu_before = CpuSeconds(peer.pid());
    auto theirs = Dnsperf(vm, kGateway, queries, kSeconds);
    auto theirs_cpu_us =
        (CpuSeconds(peer.pid()) - cpu_before) * 1e6 / static_cast<double>(theirs.completed);
    peer = {};
    fmt::print(
        "  round {}: netd {:.0f} q/s (avg {:.3f} ms, {:.1f} us CPU/query, lost {}), "
        "dnsmasq {:.0f} q/s (avg {:.3f} ms, {:.1f} us CPU/query, lost {})\n",
        round + 1, ours.qps, ours.average_latency_ms, ours_cpu_us, ours.lost, theirs.qps,
        theirs.average_latency_ms, theirs_cpu_us, theirs.lost);
    netd_qps.push_back(ours.qps);
    peer_qps.push_back(theirs.qps);
    netd_cpu_us.push_back(ours_cpu_us);
    peer_cpu_us.push_back(theirs_cpu_us);
  }
  netd.Start();
  auto mean = [](const std::vector<double>& values) {
    double sum = 0;
    for (double value : values) sum += value;
    return sum / static_cast<double>(values.size());
  };

  auto paired = vm.Run({"/usr/bin/python3", NETD_DNS_PROBE, "paired-latency", kGateway, kUpstream,
                        "f{}.bench.example", std::to_string(kFirstAnswers)});
  if (!paired.ok()) Fail("paired latency: " + paired.err);
  std::vector<double> via_netd;
  std::vector<double> direct;
  std::vector<double> added;
  std::istringstream lines(paired.out);
  for (double a = 0, b = 0; lines >> a >> b;) {
    via_netd.push_back(a);
    direct.push_back(b);
    added.push_back(a - b);
  }
  if (via_netd.size() != static_cast<std::size_t>(kFirstAnswers)) Fail("paired latency: short");
  auto learned = api("GET", "/v1/status", nullptr)["dns"]["learned_destinations"].get<int>();
  fmt::print(
      "  first answers (each opens its address): netd p50 {:.3f} ms p99 {:.3f} ms, "
      "upstream straight p50 {:.3f} ms p99 {:.3f} ms; {} learned destinations\n",
      Percentile(via_netd, 0.5), Percentile(via_netd, 0.99), Percentile(direct, 0.5),
      Percentile(direct, 0.99), learned);

  fmt::print("BENCH dns netd_qps {:.0f} q/s\n", mean(netd_qps));
  fmt::print("BENCH dns dnsmasq_qps {:.0f} q/s\n", mean(peer_qps));
  fmt::print("BENCH dns qps_ratio {:.2f} x\n", mean(netd_qps) / mean(peer_qps));
  fmt::print("TARGET dns qps_ratio >= 1.0\n");
  fmt::print("BENCH dns netd_cpu_per_query {:.2f} us\n", mean(netd_cpu_us));
  fmt::print("BENCH dns dnsmasq_cpu_per_query {:.2f} us\n", mean(peer_cpu_us));
  fmt::print("BENCH dns cpu_per_query_ratio {:.2f} x\n", mean(netd_cpu_us) / mean(peer_cpu_us));
  fmt::print("BENCH dns first_answer_added_p50 {:.3f} ms\n", Percentile(added, 0.5));
  fmt::print("BENCH dns first_answer_added_p99 {:.3f} ms\n", Percentile(added, 0.99));
  fmt::print("TARGET dns first_answer_added_p99 <= 2\n");
  return 0;
}
