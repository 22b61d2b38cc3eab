// libFuzzer target for the control API as a caller on the socket reaches it: the input's first
// byte picks the caller's role (none, service, admin), the rest is the byte stream of pipelined
// HTTP/1.1 requests, read by Boost.Beast's parser with the server's limits and answered by the
// routes a gateway serves (VMs, allowlist rules, forwards, groups, audit, status, metrics) on a
// store of its own, with the firewall's kernel seam recording. The DNS log and the host's ports
// are left out: they only read the live resolver's and bridges' state.
//
// Beyond the sanitizers: every answer is a status netd sends with a JSON body (the metrics'
// text aside) and errors carry a code and a message; no input makes a route fail inside (500);
// a refused request changes nothing in the store or the kernel; the kernel holds what the store
// implies after every request; the audit chain verifies.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "netd/daemon/audit.hpp"
#include "netd/daemon/audit_anchors.hpp"
#include "netd/daemon/audit_api.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/control_api.hpp"
#include "netd/daemon/firewall_api.hpp"
#include "netd/daemon/gateway_options.hpp"
#include "netd/daemon/group_api.hpp"
#include "netd/daemon/store.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/firewall/gateway_firewall.hpp"
#include "netd/testing/fake_clock.hpp"
#include "netd/testing/recording_packet_filter.hpp"
#include "peer_turns.hpp"

namespace http = boost::beast::http;

namespace {

const netd::Config& DemoConfig() {
  static const netd::Config config = netd::ParseConfig(netd::DemoConfigText(), "demo");
  return config;
}

// What the gateway's control API changes, fresh for each input: SQLite in memory.
struct GatewayRoutes {
  const netd::Config& config = DemoConfig();
  netd::Store store{":memory:"};
  netd::AuditChain audit{store};
  netd::dhcp::Ipam ipam{netd::IpamNetworksOf(config)};
  netd::ApiMetrics metrics;
  netd::ControlApi api{audit, metrics};
  netd::testing::RecordingPacketFilter kernel;
  netd::firewall::GatewayFirewall firewall{netd::GatewayFirewallOptionsOf(config), kernel};
  netd::testing::FakeClock clock;
  netd::VmApi vm_api{config, store, audit, ipam};
  netd::FirewallApi firewall_api{config, store, audit, ipam, firewall, clock};
  netd::GroupApi group_api{config, store, audit, ipam};
  // Its timer never runs: anchors are not what this target reads.
  boost::asio::io_context anchor_io;
  netd::AuditAnchorWriter anchors{anchor_io, audit, netd::fuzz::PeerSocketPath("anchors"),
                                  std::chrono::seconds(10)};
  netd::AuditApi audit_api{audit, anchors};
  netd::DaemonStatus daemon_status{config};

  GatewayRoutes() {
    vm_api.AddObserver(firewall_api);
    api.Serve(vm_api);
    api.Serve(firewall_api);
    api.Serve(group_api);
    api.Serve(audit_api);
    api.Serve(daemon_status);
  }
};

// Aborts, saying which request broke which promise.
[[noreturn]] void Fail(const char* promise, const netd::ApiRequest& request,
                       const netd::ApiResponse& response) {
  std::fprintf(stderr, "api_request: %s: %s %s %s -> %d %s\n", promise, request.method.c_str(),
               request.target.c_str(), request.body.c_str(), response.status,
               response.body.c_str());
  std::abort();
}

// What the routes change: the store's rows and what the kernel holds. (The audit chain grows
// with refusals too: they are recorded.)
struct Held {
  std::vector<netd::dhcp::VmBinding> bindings;
  std::vector<std::string> rules;
  std::vector<netd::StoredGroup> groups;
  std::vector<netd::proxy::Forward> forwards;
  std::set<netd::allowlist::ExactAllow> exact;
  std::set<netd::allowlist::RangeAllow> ranges;
  std::set<netd::allowlist::BoundAddress> bound;
  std::size_t kernel_forwards = 0;
  friend bool operator==(const Held&, const Held&) = default;
};

Held HeldBy(GatewayRoutes& routes) {
  return {routes.store.LoadBindings(), routes.store.LoadAllowlistRules(),
          routes.store.LoadGroups(),   routes.store.LoadForwards(),
          routes.kernel.exact,         routes.kernel.ranges,
          routes.kernel.bindings,      routes.kernel.forwards.size()};
}

void Check(const netd::ApiRequest& request, const netd::ApiResponse& response, const Held& before,
           const Held& after) {
  if (response.status < 200 || response.status > 599)
    Fail("a status netd sends", request, response);
  if (response.status == 500) Fail("no route fails inside", request, response);
  if (response.content_type == "application/json") {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded()) Fail("a JSON body", request, response);
    if (response.status >= 400) {
      const auto& error = body["error"];
      if (!error["code"].is_string() || !error["message"].is_string()) {
        Fail("an error with a code and a message", request, response);
      }
    }
  }
  if (response.status >= 400 && after != before) {
    Fail("a refusal changes nothing", request, response);
  }
  // The kernel holds what the store implies: an anti-spoofing element per VM bound on a
  // secure network, a forward element per stored forward.
  std::size_t secure = 0;
  for (const auto& binding : after.bindings) secure += binding.network == "secure";
  if (after.bound.size() != secure || after.kernel_forwards != after.forwards.size()) {
    Fail("the kernel holds what the store implies", request, response);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr netd::AccessLevel kLevels[] = {
      netd::AccessLevel::kNone, netd::AccessLevel::kService, netd::AccessLevel::kAdmin};
  const auto access = kLevels[data[0] % 3];
  GatewayRoutes routes;
  const auto& limits = routes.config.api;
  std::size_t offset = 1;
  while (offset < size) {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(limits.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    boost::system::error_code error;
    while (!error && !parser.is_done() && offset < size) {
      offset += parser.put(boost::asio::buffer(data + offset, size - offset), error);
    }
    // A request cut short waits for bytes that never come; a malformed one closes the
    // connection after its 4xx (the server's own answers, not the routes').
    if (error || !parser.is_done()) break;
    auto parsed = parser.release();
    netd::ApiRequest request{std::string(parsed.method_string()),
                             std::string(parsed.target()),
                             std::move(parsed.body()),
                             {1000, 1000, 42, "/usr/bin/fuzz"},
                             access};
    auto before = HeldBy(routes);
    auto response = routes.api.Handle(request);
    Check(request, response, before, HeldBy(routes));
    if (!parsed.keep_alive()) break;
  }
  if (!routes.audit.Verify().ok) std::abort();
  return 0;
}
