// The filtered DNS end to end: a real netd in a gateway namespace answers secure VMs on their
// gateway address, forwarding allowed names to a real upstream (dnsmasq in the outside
// namespace, logging every query it receives) and opening the answers' addresses in the
// kernel. Clients: tests/kernel/tools/dns_probe.py in VM namespaces. The gateway's external
// subnet (192.0.2.0/24, on ext0) is a link to the outside router; the outside world's servers
// (198.51.100.0/24) lie beyond it, since answers naming the external subnet are not opened.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using testing::Within;

using namespace std::chrono_literals;
using lab::Namespace;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kGateway = "192.168.128.1";
constexpr const char* kUpstream = "198.51.100.2";
constexpr const char* kOutsideRouter = "192.0.2.2";  // the outside's end of ext0's link
constexpr int kNamedServers = 20;                    // 198.51.100.10-29 answer on port 443
// <name>.lic.example.org answers an address no answer may open: the special-purpose ranges,
// the enclave's networks and gateway, the gateway's external subnet, and 203.0.113.192/26,
// which the tests add with dns.learned_deny.
constexpr std::pair<const char*, const char*> kDeniedAnswers[] = {
    {"zero", "0.0.0.1"},           {"loop", "127.0.0.1"},     {"meta", "169.254.169.254"},
    {"mcast", "224.0.0.251"},      {"reserved", "240.0.0.1"}, {"bcast", "255.255.255.255"},
    {"enclave", "192.168.129.9"},  {"gw", "192.168.128.1"},   {"extnet", "192.0.2.50"},
    {"operator", "203.0.113.200"},
};

class FilteredDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    gateway_.emplace("dns-gw");
    outside_.emplace("dns-out");
    temp_.emplace("dns");
    gateway_->RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    gateway_->RunChecked({"ip", "link", "add", "br-secure", "type", "bridge"});
    gateway_->SetLinkUp("br-secure");
    gateway_->AddAddress("br-secure", std::string(kGateway) + "/17");
    lab::CreateVethPair(*gateway_, "ext0", *outside_, "eth0");
    gateway_->AddAddress("ext0", "192.0.2.1/24");
    outside_->AddAddress("eth0", std::string(kOutsideRouter) + "/24");
    outside_->AddAddress("eth0", std::string(kUpstream) + "/24");
    gateway_->AddRoute("198.51.100.0/24", kOutsideRouter);
    for (int i = 0; i < kNamedServers; ++i) {
      outside_->AddAddress("eth0", "198.51.100." + std::to_string(10 + i) + "/24");
    }
    StartUpstream();
    // Accepts and closes connections on port 443 of every outside address.
    processes_.push_back(outside_->Start(
        {"/usr/bin/python3", "-c",
         "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, "
         "socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', 443))\ns.listen(1024)\nwhile True:\n"
         "    c, _ = s.accept()\n    c.close()\n"}));
  }

  // dnsmasq as the outside world's resolver: license.example.org, n<i>.lic.example.org on
  // the named servers, a dual-stack name, a name with 40 addresses, names whose addresses are
  // on the learned-address deny list, a TXT record, any name under exfil.example.net; every
  // query logged.
  void StartUpstream() {
    auto conf = temp_->path() / "upstream.conf";
    upstream_log_ = temp_->path() / "upstream.log";
    std::ofstream file(conf);
    file << "port=53\nlisten-address=" << kUpstream
         << "\nbind-interfaces\nno-resolv\nno-hosts\nuser=root\ngroup=root\nlog-queries\n"
            "log-facility="
         << upstream_log_.string()
         << "\nlocal-ttl=300\nhost-record=license.example.org,198.51.100.2\n"
            "cname=alias.example.org,license.example.org\n"
            "host-record=dual.lic.example.org,198.51.100.12,2001:db8::12\n";
    for (int i = 0; i < 1000; ++i) {
      file << "host-record=n" << i << ".lic.example.org,198.51.100." << 10 + i % kNamedServers
           << "\n";
    }
    for (int i = 0; i < 40; ++i) file << "host-record=big.lic.example.org,203.0.113." << i << "\n";
    for (const auto& [name, address] : kDeniedAnswers) {
      file << "host-record=" << name << ".lic.example.org," << address << "\n";
    }
    file << "host-record=mixed.lic.example.org,198.51.100.20\n"
            "host-record=mixed.lic.example.org,127.0.0.1\n"
            "txt-record=notes.lic.example.org,\"licence notes\"\n"
            "address=/exfil.example.net/198.51.100.30\n"
            "address=/exfil.example.net/2001:db8::30\n";
    file.close();
    processes_.push_back(
        outside_->Start({"dnsmasq", "--keep-in-foreground", "--conf-file=" + conf.string()}));
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!outside_
                ->Run({"dig", "+short", "+time=1", "+tries=1", "@" + std::string(kUpstream),
                       "license.example.org"})
                .out.starts_with("198.51.100.2") &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }

  // netd with the demo configuration, the filtered DNS forwarding to the upstream, and
  // `dns_settings` added to its [dns] table.
  void StartNetd(const std::string& dns_settings = "") {
    netd_.emplace(temp_->path(), [dns_settings](std::string config) {
      return config + "\n[dns]\nupstream = [\"" + kUpstream +
             "\"]\nlocal_names = { \"backend.enclave\" = \"" + kGateway + "\" }\n" + dns_settings;
    });
    netd_->RunInNamespace(gateway_->name());
    netd_->Start();
  }

  testing::HttpAnswer Api(const std::string& method, const std::string& target,
                          const json& body = nullptr) {
    return testing::Request(netd_->socket(), method, target, body.is_null() ? "" : body.dump());
  }

  void PutRule(const std::string& name, const json& rule) {
    auto answer = Api("PUT", "/v1/allowlist/" + name, rule);
    ASSERT_TRUE(answer.status == 200 || answer.status == 201) << answer.body;
  }

  // A rule opening tcp/`port` of `host` for `vms`.
  void PutHostRule(const std::string& name, const std::string& host,
                   const json& vms = json::array({"sec1"}), int port = 443) {
    PutRule(name, {{"destinations", {host}}, {"protocol", "tcp"}, {"ports", {port}}, {"vms", vms}});
  }

  // A VM namespace on br-secure with `ip` (bound through the API unless `bind` is false).
  Namespace& AddVm(const std::string& id, bool bind = true) {
    std::string ip = "192.168.200.200";
    std::string mac = "52:54:c0:a8:c8:c8";
    if (bind) {
      auto answer = Api("PUT", "/v1/vms/" + id, {{"network", "secure"}});
      EXPECT_EQ(answer.status, 201) << answer.body;
      ip = answer.Json()["ip"];
      mac = answer.Json()["mac"];
    }
    auto& vm = *vms_.emplace_back(std::make_unique<Namespace>(id));
    lab::CreateVethPair(*gateway_, "p-" + id, vm, "eth0");
    gateway_->RunChecked({"ip", "link", "set", "p-" + id, "master", "br-secure"});
    vm.RunChecked({"ip", "link", "set", "eth0", "address", mac});
    vm.AddAddress("eth0", ip + "/17");
    vm.AddRoute("default", kGateway);
    return vm;
  }

  // dns_probe.py in `vm`; its first output line, or "failed: …".
  static std::string Probe(const Namespace& vm, std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/python3", NETD_DNS_PROBE});
    auto result = vm.Run(args);
    if (!result.ok()) return "failed: " + result.err;
    return result.out;
  }

  static std::string Query(const Namespace& vm, const std::string& name,
                           std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"query", kGateway, name};
    args.insert(args.end(), flags.begin(), flags.end());
    auto out = Probe(vm, args);
    return out.substr(0, out.find('\n'));
  }

  static bool Connects(const Namespace& vm, const std::string& address, int port) {
    return vm
        .Run({"/usr/bin/python3", "-c",
              "import socket; socket.create_connection(('" + address + "', " +
                  std::to_string(port) + "), timeout=1)"})
        .ok();
  }

  // Each allow4 element as JSON text, for looking for addresses in it.
  std::vector<std::string> Allow4Texts() const {
    std::vector<std::string> texts;
    for (const auto& element : Allow4()) texts.push_back(element.dump());
    return texts;
  }

  json Allow4() const {
    auto dump = json::parse(
        gateway_->RunChecked({"nft", "-j", "list", "set", "inet", "ticrypt", "allow4"}).out);
    for (const auto& item : dump["nftables"]) {
      if (item.contains("set")) return item["set"].value("elem", json::array());
    }
    return json::array();
  }

  std::string UpstreamLog() const {
    std::ifstream file(upstream_log_);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  std::optional<Namespace> gateway_;
  std::optional<Namespace> outside_;
  std::optional<lab::TempDir> temp_;
  std::vector<lab::Process> processes_;
  std::optional<testing::NetdProcess> netd_;
  std::vector<std::unique_ptr<Namespace>> vms_;
  std::filesystem::path upstream_log_;
};

TEST_F(FilteredDnsTest, AnAllowlistedNameOpensExactlyItsAddressBeforeTheVmSeesIt) {
  StartNetd();
  auto& vm = AddVm("sec1");
  PutHostRule("license", "license.example.org");
  EXPECT_FALSE(Connects(vm, kUpstream, 443)) << "open before any answer";
  EXPECT_EQ(Allow4().size(), 0u);

  EXPECT_EQ(Query(vm, "License.Example.ORG"), "rcode=0 tc=0 a=198.51.100.2 other=");
  auto elements = Allow4();
  ASSERT_EQ(elements.size(), 1u) << elements;
  EXPECT_TRUE(elements[0].contains("elem") && elements[0]["elem"].contains("timeout"))
      << "a learned element carries a timeout: " << elements[0];
  EXPECT_TRUE(Connects(vm, kUpstream, 443));
  EXPECT_FALSE(Connects(vm, kUpstream, 444)) << "only the rule's port is open";

  auto learned = Api("GET", "/v1/vms/sec1").Json()["dns_learned"];
  ASSERT_EQ(learned.size(), 1u) << learned;
  EXPECT_EQ(learned[0]["destination"], kUpstream);
  EXPECT_EQ(learned[0]["port"], 443);
  EXPECT_EQ(learned[0]["name"], "license.example.org");
  auto log = Api("GET", "/v1/dns/log?vm=sec1").Json()["decisions"];
  ASSERT_GE(log.size(), 1u);
  EXPECT_EQ(log[0]["verdict"], "allowed");
  EXPECT_EQ(log[0]["opened"], json::array({kUpstream}));

  // A second ask is served from the cache.
  EXPECT_EQ(Query(vm, "license.example.org"), "rcode=0 tc=0 a=198.51.100.2 other=");
  EXPECT_EQ(Api("GET", "/v1/dns/log?vm=sec1&limit=1").Json()["decisions"][0]["verdict"], "cached");
  // An allowed alias opens the address its CNAME chain leads to, on the alias rule's port.
  PutHostRule("alias", "alias.example.org", json::array({"sec1"}), 444);
  EXPECT_EQ(Query(vm, "alias.example.org"), "rcode=0 tc=0 a=198.51.100.2 other=5");
  EXPECT_EQ(Allow4().size(), 2u);
  EXPECT_EQ(Query(vm, "backend.enclave"), "rcode=0 tc=0 a=192.168.128.1 other=")
      << "the backend's own names are answered locally";
  EXPECT_THAT(Api("GET", "/metrics").body,
              HasSubstr("netd_dns_queries_total{verdict=\"allowed\"} 2"));
}

TEST_F(FilteredDnsTest, AThousandAllowedNamesAreReachableTheMomentTheyAreAnswered) {
  StartNetd("vm_queries_per_second = 100000\nvm_wildcard_names = 100000\n");
  auto& vm = AddVm("sec1");
  PutHostRule("lic", "*.lic.example.org");
  auto out = Probe(vm, {"resolve-connect", kGateway, "n{}.lic.example.org", "1000", "443"});
  EXPECT_THAT(out, StartsWith("resolved=1000 connected=1000 failed=0")) << out;
  EXPECT_EQ(Allow4().size(), static_cast<std::size_t>(kNamedServers));
}

TEST_F(FilteredDnsTest, NamesThatAreNotAllowedAreRefusedAndNeverLeaveTheBackend) {
  StartNetd("vm_queries_per_second = 100000\n");
  auto& vm = AddVm("sec1");
  PutHostRule("license", "license.example.org");
  auto out = Probe(vm, {"refused", kGateway, "exfil.example", "1000"});
  EXPECT_EQ(out, "rcode=5 1000\n");
  auto log = UpstreamLog();
  EXPECT_THAT(log, HasSubstr("license.example.org")) << "the upstream log is not being written";
  for (char& c : log) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(log.find("exfil"), std::string::npos) << "a refused name reached the upstream";
  EXPECT_EQ(Allow4().size(), 0u);
  EXPECT_THAT(Api("GET", "/metrics").body, HasSubstr("netd_dns_refused_total{vm=\"sec1\"} 1000"));
}

TEST_F(FilteredDnsTest, AVmAskingTooFastIsRefusedAndOthersAreNot) {
  StartNetd("vm_queries_per_second = 10\nvm_wildcard_names = 100000\n");
  auto& noisy = AddVm("sec1");
  auto& quiet = AddVm("sec2");
  PutHostRule("lic", "*.lic.example.org", "*");
  // A burst of twice the rate is answered, then about the rate; the rest is refused.
  auto out = Probe(noisy, {"resolve-connect", kGateway, "n{}.lic.example.org", "100", "443"});
  int resolved = std::stoi(out.substr(out.find('=') + 1));
  EXPECT_GE(resolved, 20) << out;
  EXPECT_LT(resolved, 100) << out;
  EXPECT_THAT(out, HasSubstr(": rcode 5,")) << out;
  EXPECT_EQ(Query(quiet, "n1.lic.example.org"), "rcode=0 tc=0 a=198.51.100.11 other=");
  EXPECT_THAT(
      Api("GET", "/metrics").body,
      ::testing::ContainsRegex("netd_dns_queries_total\\{verdict=\"rate_limited\"\\} [0-9]+"));
}

TEST_F(FilteredDnsTest, WildcardsMatchOneLabelAndAnAnswerOpensOnlyForTheVmThatAsked) {
  StartNetd();
  auto& first = AddVm("sec1");
  auto& second = AddVm("sec2");
  auto& stranger = AddVm("stranger", false);
  PutHostRule("lic", "*.lic.example.org");
  EXPECT_EQ(Query(first, "n1.lic.example.org"), "rcode=0 tc=0 a=198.51.100.11 other=");
  EXPECT_THAT(Query(first, "x.n1.lic.example.org"), StartsWith("rcode=5 "));
  EXPECT_THAT(Query(first, "lic.example.org"), StartsWith("rcode=5 "));
  EXPECT_THAT(Query(second, "n1.lic.example.org"), StartsWith("rcode=5 "));
  EXPECT_THAT(Query(stranger, "n1.lic.example.org"), StartsWith("failed"))
      << "an address no VM is bound to is dropped before it reaches the resolver";
  EXPECT_TRUE(Connects(first, "198.51.100.11", 443));
  EXPECT_FALSE(Connects(second, "198.51.100.11", 443)) << "opened for sec1 only";
}

TEST_F(FilteredDnsTest, LearnedAddressesCloseAtTheirExpiryAndWithTheirRule) {
  StartNetd("min_ttl_s = 0\nmax_ttl_s = 1\ngrace_s = 0\n");
  auto& vm = AddVm("sec1");
  json rule = {{"destinations", {"*.lic.example.org"}},
               {"protocol", "tcp"},
               {"ports", {443}},
               {"vms", {"sec1"}}};
  PutRule("lic", rule);
  // The answer's TTL (300 upstream) is capped at max_ttl_s for the VM too.
  EXPECT_EQ(Query(vm, "n3.lic.example.org"), "rcode=0 tc=0 a=198.51.100.13 other=");
  EXPECT_EQ(Allow4().size(), 1u);
  EXPECT_TRUE(Within(4s, [&] { return Allow4().empty(); })) << "the learned address stayed";
  EXPECT_EQ(Api("GET", "/v1/vms/sec1").Json()["dns_learned"].size(), 0u);
  EXPECT_FALSE(Connects(vm, "198.51.100.13", 443));

  EXPECT_THAT(Query(vm, "n4.lic.example.org"), StartsWith("rcode=0 "));
  ASSERT_EQ(Allow4().size(), 1u);
  ASSERT_EQ(Api("DELETE", "/v1/allowlist/lic").status, 200);
  EXPECT_EQ(Allow4().size(), 0u) << "a removed rule's learned addresses stay open";
  EXPECT_FALSE(Connects(vm, "198.51.100.14", 443));
}

TEST_F(FilteredDnsTest, ARestartKeepsWhatAnswersOpenedForTheRestOfTheirTime) {
  StartNetd();
  auto& vm = AddVm("sec1");
  PutHostRule("lic", "*.lic.example.org");
  ASSERT_EQ(Query(vm, "n5.lic.example.org"), "rcode=0 tc=0 a=198.51.100.15 other=");
  ASSERT_EQ(netd_->Stop(), 0);
  netd_->Start();
  auto learned = Api("GET", "/v1/vms/sec1").Json()["dns_learned"];
  ASSERT_EQ(learned.size(), 1u) << learned;
  EXPECT_EQ(learned[0]["destination"], "198.51.100.15");
  auto elements = Allow4();
  ASSERT_EQ(elements.size(), 1u);
  EXPECT_TRUE(elements[0]["elem"].contains("timeout")) << elements[0];
  EXPECT_TRUE(Connects(vm, "198.51.100.15", 443)) << "the VM lost what its answer opened";
}

TEST_F(FilteredDnsTest, SecureVmsReachNoOtherResolver) {
  StartNetd();
  auto& vm = AddVm("sec1");
  PutHostRule("license", "license.example.org");
  EXPECT_THAT(Probe(vm, {"query", kUpstream, "license.example.org"}), StartsWith("failed"));
  EXPECT_THAT(Probe(vm, {"query", kUpstream, "license.example.org", "--tcp"}),
              StartsWith("failed"));
}

TEST_F(FilteredDnsTest, AnUnreachableUpstreamGivesServfailWithinTheBound) {
  gateway_->AddRoute("203.0.113.0/24", kOutsideRouter);  // 203.0.113.53 answers nothing
  netd_.emplace(temp_->path(), [](std::string config) {
    return config + "\n[dns]\nupstream = [\"203.0.113.53\"]\nupstream_timeout_ms = 500\n";
  });
  netd_->RunInNamespace(gateway_->name());
  netd_->Start();
  auto& vm = AddVm("sec1");
  PutHostRule("license", "license.example.org");
  auto started = std::chrono::steady_clock::now();
  EXPECT_THAT(Query(vm, "license.example.org"), StartsWith("rcode=2 "));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "SERVFAIL came late";
  EXPECT_EQ(Allow4().size(), 0u);
}

TEST_F(FilteredDnsTest, QueriesBeyondTheInFlightBoundGetServfailAtOnce) {
  gateway_->AddRoute("203.0.113.0/24", kOutsideRouter);  // 203.0.113.53 answers nothing
  netd_.emplace(temp_->path(), [](std::string config) {
    return config +
           "\n[dns]\nupstream = [\"203.0.113.53\"]\nupstream_timeout_ms = 1000\nmax_in_flight = "
           "2\n";
  });
  netd_->RunInNamespace(gateway_->name());
  netd_->Start();
  auto& vm = AddVm("sec1");
  PutHostRule("lic", "*.lic.example.org");
  EXPECT_EQ(Probe(vm, {"burst", kGateway, "n{}.lic.example.org", "10"}), "rcode=2 10\n");
  auto verdicts = Api("GET", "/v1/status").Json()["dns"]["verdicts"];
  EXPECT_EQ(verdicts["overloaded"], 8) << verdicts;
  EXPECT_EQ(verdicts["upstream_timeout"], 2) << verdicts;
}

TEST_F(FilteredDnsTest, TcpConnectionsAreBoundedAndIdleOnesClosed) {
  StartNetd("tcp_max_connections = 3\ntcp_idle_timeout_ms = 300\n");
  auto& vm = AddVm("sec1");
  EXPECT_EQ(Probe(vm, {"tcp-limits", kGateway, "5", "100"}), "open=3 closed=2\n");
  EXPECT_EQ(Probe(vm, {"tcp-limits", kGateway, "2", "1000"}), "open=0 closed=2\n");
}

TEST_F(FilteredDnsTest, AaaaRecordsAreRemovedAndLongAnswersMoveToTcp) {
  StartNetd();
  auto& vm = AddVm("sec1");
  PutHostRule("lic", "*.lic.example.org");
  EXPECT_EQ(Query(vm, "dual.lic.example.org", {"--type", "AAAA"}), "rcode=0 tc=0 a= other=");
  EXPECT_EQ(Query(vm, "dual.lic.example.org"), "rcode=0 tc=0 a=198.51.100.12 other=");
  // 40 addresses do not fit 512 bytes: over UDP the VM is told to ask over TCP.
  EXPECT_EQ(Query(vm, "big.lic.example.org"), "rcode=0 tc=1 a= other=");
  auto whole = Query(vm, "big.lic.example.org", {"--tcp"});
  EXPECT_THAT(whole, StartsWith("rcode=0 tc=0 a=203.0.113."));
  EXPECT_EQ(std::count(whole.begin(), whole.end(), ','), 39) << whole;
  EXPECT_EQ(Allow4().size(), 41u);
}

TEST_F(FilteredDnsTest, AnswerAddressesOnTheDenyListAreNotOpenedUnlessARuleNamesThemLiterally) {
  StartNetd("learned_deny = [\"203.0.113.192/26\"]\n");
  auto& first = AddVm("sec1");
  auto& second = AddVm("sec2");
  auto second_ip = Api("GET", "/v1/vms/sec2").Json()["ip"].get<std::string>();
  PutHostRule("lic", "*.lic.example.org", json::array({"sec1", "sec2"}));
  for (const auto& [name, address] : kDeniedAnswers) {
    EXPECT_EQ(Query(first, std::string(name) + ".lic.example.org"), "rcode=0 tc=0 a= other=")
        << name << " answered " << address;
  }
  EXPECT_EQ(Allow4().size(), 0u) << "a denied address reached the kernel";
  auto log = UpstreamLog();
  EXPECT_THAT(log, HasSubstr("meta.lic.example.org")) << "the names were asked upstream";

  // One address of two is denied: the VM gets the other, which alone is opened.
  EXPECT_EQ(Query(first, "mixed.lic.example.org"), "rcode=0 tc=0 a=198.51.100.20 other=");
  auto elements = Allow4Texts();
  ASSERT_EQ(elements.size(), 1u);
  EXPECT_THAT(elements[0], HasSubstr("198.51.100.20"));
  EXPECT_EQ(Query(first, "mixed.lic.example.org"), "rcode=0 tc=0 a=198.51.100.20 other=");
  EXPECT_EQ(Api("GET", "/v1/dns/log?vm=sec1&limit=1").Json()["decisions"][0]["verdict"], "cached")
      << "the cache gives the same";

  auto denied = std::size(kDeniedAnswers) + 2;
  EXPECT_EQ(Api("GET", "/v1/status").Json()["dns"]["learned_denied"], denied);
  EXPECT_THAT(Api("GET", "/metrics").body,
              HasSubstr("netd_dns_learned_denied_total " + std::to_string(denied) + "\n"));
  EXPECT_THAT(netd_->Log(),
              HasSubstr("vm=sec1 name=meta.lic.example.org address=169.254.169.254: not opened"));

  // A rule of sec1 names the metadata address literally: its answer opens it for sec1 only.
  PutRule("metadata", {{"destinations", {"169.254.169.254"}},
                       {"protocol", "tcp"},
                       {"ports", {80}},
                       {"vms", {"sec1"}}});
  EXPECT_EQ(Query(first, "meta.lic.example.org"), "rcode=0 tc=0 a=169.254.169.254 other=");
  EXPECT_EQ(Query(second, "meta.lic.example.org"), "rcode=0 tc=0 a= other=");
  EXPECT_EQ(Query(first, "loop.lic.example.org"), "rcode=0 tc=0 a= other=")
      << "the literal rule opens nothing else";
  elements = Allow4Texts();
  EXPECT_EQ(std::count_if(elements.begin(), elements.end(),
                          [](const std::string& element) {
                            return element.find("169.254.169.254") != std::string::npos &&
                                   element.find(",443]") != std::string::npos;
                          }),
            1)
      << "the name's rule opened its port on the address for sec1";
  for (const auto& element : elements) {
    EXPECT_THAT(element, ::testing::Not(HasSubstr("\"" + second_ip + "\""))) << element;
  }
}

TEST_F(FilteredDnsTest, NamesGoUpstreamInLowerCaseAndTheVmGetsItsOwnCaseBack) {
  StartNetd();
  auto& vm = AddVm("sec1");
  PutHostRule("lic", "*.lic.example.org");
  EXPECT_EQ(Query(vm, "N7.LiC.eXaMpLe.OrG", {"--question"}),
            "rcode=0 tc=0 a=198.51.100.17 other= question=N7.LiC.eXaMpLe.OrG");
  EXPECT_EQ(Query(vm, "n7.LIC.example.org", {"--question"}),
            "rcode=0 tc=0 a=198.51.100.17 other= question=n7.LIC.example.org")
      << "from the cache, in this query's case";
  EXPECT_EQ(Query(vm, "DUAL.lic.example.org", {"--type", "AAAA", "--question", "--tcp"}),
            "rcode=0 tc=0 a= other= question=DUAL.lic.example.org");
  auto log = UpstreamLog();
  EXPECT_THAT(log, HasSubstr("query[A] n7.lic.example.org "));
  EXPECT_THAT(log, HasSubstr("query[AAAA] dual.lic.example.org "));
  for (const char* asked : {"N7.LiC", "n7.LIC", "DUAL"}) {
    EXPECT_EQ(log.find(asked), std::string::npos) << asked << " reached the upstream";
  }
}

TEST_F(FilteredDnsTest, OnlyTheQtypesARuleAllowsAreForwarded) {
  StartNetd();
  auto& vm = AddVm("sec1");
  PutHostRule("lic", "*.lic.example.org");
  for (const char* kind : {"TXT", "NULL", "ANY", "MX", "NS", "CNAME"}) {
    EXPECT_THAT(Query(vm, "notes.lic.example.org", {"--type", kind}), StartsWith("rcode=5 "))
        << kind;
  }
  EXPECT_EQ(Query(vm, "n2.lic.example.org"), "rcode=0 tc=0 a=198.51.100.12 other=");
  EXPECT_EQ(Query(vm, "dual.lic.example.org", {"--type", "AAAA"}), "rcode=0 tc=0 a= other=")
      << "AAAA is allowed and answered without its IPv6 addresses";
  auto log = UpstreamLog();
  EXPECT_THAT(log, HasSubstr("query[A] n2.lic.example.org "));
  EXPECT_EQ(log.find("notes.lic.example.org"), std::string::npos)
      << "a refused type reached the upstream";
  auto verdicts = Api("GET", "/v1/status").Json()["dns"]["verdicts"];
  EXPECT_EQ(verdicts["qtype_refused"], 6) << verdicts;
  EXPECT_THAT(netd_->Log(), HasSubstr("name=notes.lic.example.org type=TXT verdict=qtype_refused"));

  // A rule that allows TXT for its name: the TXT answer comes back, and only for that name.
  PutRule("notes", {{"destinations", {"notes.lic.example.org"}},
                    {"protocol", "tcp"},
                    {"ports", {443}},
                    {"qtypes", {"A", "TXT"}},
                    {"vms", {"sec1"}}});
  EXPECT_EQ(Query(vm, "notes.lic.example.org", {"--type", "TXT"}), "rcode=0 tc=0 a= other=16");
  EXPECT_THAT(Query(vm, "n2.lic.example.org", {"--type", "TXT"}), StartsWith("rcode=5 "));
  EXPECT_THAT(UpstreamLog(), HasSubstr("query[TXT] notes.lic.example.org "));
}

TEST_F(FilteredDnsTest, AWildcardRuleGivesEachVmABudgetOfDistinctNames) {
  // A window longer than the test, so that no slot frees up while it runs.
  StartNetd("vm_wildcard_names = 5\nvm_wildcard_window_s = 3600\n");
  auto& first = AddVm("sec1");
  auto& second = AddVm("sec2");
  PutHostRule("lic", "*.lic.example.org", json::array({"sec1", "sec2"}));
  PutHostRule("license", "license.example.org", json::array({"sec1"}));
  for (const char* name : {"n0", "n1", "n2", "n3", "dual"}) {
    EXPECT_THAT(Query(first, std::string(name) + ".lic.example.org"), StartsWith("rcode=0 "))
        << name;
  }
  EXPECT_THAT(Query(first, "n5.lic.example.org"), StartsWith("rcode=5 ")) << "a sixth name";
  EXPECT_THAT(Query(first, "N5.lic.example.org"), StartsWith("rcode=5 ")) << "in another case";
  EXPECT_THAT(Query(first, "dual.lic.example.org", {"--type", "AAAA"}), StartsWith("rcode=0 "))
      << "a name already seen, another type";
  EXPECT_THAT(Query(first, "N0.lic.example.org"), StartsWith("rcode=0 ")) << "seen, another case";
  EXPECT_THAT(Query(first, "license.example.org"), StartsWith("rcode=0 "))
      << "a name a rule names exactly is not counted";
  EXPECT_THAT(Query(second, "n5.lic.example.org"), StartsWith("rcode=0 ")) << "sec2's own budget";

  auto log = UpstreamLog();
  std::size_t asked_n5 = 0;
  for (auto at = log.find("query[A] n5.lic.example.org "); at != std::string::npos;
       at = log.find("query[A] n5.lic.example.org ", at + 1)) {
    ++asked_n5;
  }
  EXPECT_EQ(asked_n5, 1u) << "only sec2's n5 reached the upstream";
  auto verdicts = Api("GET", "/v1/status").Json()["dns"]["verdicts"];
  EXPECT_EQ(verdicts["over_name_budget"], 2) << verdicts;
  EXPECT_THAT(Api("GET", "/metrics").body,
              HasSubstr("netd_dns_queries_total{verdict=\"over_name_budget\"} 2"));
  EXPECT_THAT(netd_->Log(), HasSubstr("vm=sec1 source=192.168.129.1 name=n5.lic.example.org type=A "
                                      "verdict=over_name_budget"));
}

// What a VM that tries to carry data out through a wildcard rule gets to the zone's side:
// 300 names with distinct 63-character first labels in random case and six query types,
// against the default budget. The upstream's log is what the zone's operator could see.
TEST_F(FilteredDnsTest, ExfiltrationThroughAWildcardRuleIsBoundedByTheNameBudget) {
  // The default budget; a window longer than the test, so the count is the window's.
  StartNetd("vm_wildcard_window_s = 3600\n");
  auto& vm = AddVm("sec1");
  PutHostRule("exfil", "*.exfil.example.net");
  auto out = Probe(vm, {"exfil", kGateway, "exfil.example.net", "300"});
  // Types in turn: each 50 times. A and AAAA are answered until the budget of 60 names is
  // spent (30 each), then refused; the other types are refused whatever the name.
  EXPECT_EQ(out,
            "A rcode=0 30\nA rcode=5 20\nAAAA rcode=0 30\nAAAA rcode=5 20\nANY rcode=5 50\n"
            "MX rcode=5 50\nNULL rcode=5 50\nTXT rcode=5 50\n");

  std::set<std::string> names;
  std::set<std::string> types;
  std::istringstream log(UpstreamLog());
  for (std::string line; std::getline(log, line);) {
    auto at = line.find("query[");
    if (at == std::string::npos || line.find(".exfil.example.net") == std::string::npos) continue;
    auto close = line.find("] ", at);
    types.insert(line.substr(at + 6, close - at - 6));
    auto name = line.substr(close + 2, line.find(' ', close + 2) - close - 2);
    names.insert(name);
    EXPECT_EQ(name.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string::npos) << line;
  }
  EXPECT_EQ(names.size(), 60u) << "distinct names that reached the upstream";
  EXPECT_EQ(types, (std::set<std::string>{"A", "AAAA"}));
  // Each name carries at most a 63-character label of 38 symbols (letters in one case,
  // digits, '-', '_'): 63 x log2(38) = 330.6 bits; which of A and AAAA were asked for it adds
  // log2(3) = 1.6 bits. docs/dns.md, "How much a VM can carry out".
  double bits = static_cast<double>(names.size()) * (63 * std::log2(38.0) + std::log2(3.0));
  std::cout << "exfiltration bound: " << names.size() << " distinct names per window of "
            << "vm_wildcard_names = 60, at most " << static_cast<int>(bits)
            << " bits per minute at the defaults\n";
  EXPECT_LT(bits, 20'000);
}

}  // namespace
}  // namespace netd
