#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "netd/allowlist/policy.hpp"
#include "netd/common/clock.hpp"
#include "netd/daemon/audit.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/store.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/proxy/forward_expiry.hpp"
#include "netd/proxy/forward_lifecycle.hpp"

namespace netd {

namespace dhcp {
class DnsmasqSupervisor;
}  // namespace dhcp
namespace dns {
class FilteredResolver;
}  // namespace dns
class ForwardingGuard;
class HostRole;
class GatewayFirewall;

// What a caller may do, from its credentials: admins can do everything services can.
enum class AccessLevel { kNone, kService, kAdmin };
std::string_view ToString(AccessLevel level);

struct ApiRequest {
  std::string method;
  std::string target;  // path and query, as received
  std::string body;
  Caller caller;
  AccessLevel access = AccessLevel::kNone;
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// A refusal that reaches the caller as {"error":{"code","message","field"}}.
struct ApiError {
  int status;
  std::string code;
  std::string message;
  std::string field;
};
ApiResponse ErrorResponse(const ApiError& error);

// Counts of what the API answered, for /metrics.
class ApiMetrics {
 public:
  void CountRequest(std::string_view route, std::string_view method, int status);
  void CountRejectedConnection(std::string_view reason);
  std::string Render() const;

 private:
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, std::uint64_t> rejected_connections_;
};

// The command table of the control API (DESIGN.md section 5): routes, access levels,
// validation, and the handlers that change the store, the kernel and the audit chain.
class ControlApi {
 public:
  // `firewall` is null when this netd does not run the gateway role. `clock` times the
  // forwards: their dates and their expiry, which starts with the firewall's forwards.
  ControlApi(const Config& config, Store& store, AuditChain& audit, dhcp::Ipam& ipam,
             ApiMetrics& metrics, GatewayFirewall* firewall, Clock& clock);

  ApiResponse Handle(const ApiRequest& request);

  // dnsmasq, when this netd serves DHCP: told of every change to the bindings.
  void AttachDhcp(dhcp::DnsmasqSupervisor* dhcp) { dhcp_ = dhcp; }
  // The filtered DNS, when this netd runs it: its decisions and counters.
  void AttachDns(const dns::FilteredResolver* dns) { dns_ = dns; }
  // The host role, when this netd runs it: its status and metrics.
  void AttachHost(HostRole* host) { host_ = host; }
  void AttachForwardingGuard(const ForwardingGuard* guard) { forwarding_guard_ = guard; }

 private:
  struct Call;
  using Handler = ApiResponse (ControlApi::*)(const Call&);
  struct Route {
    std::string_view method;
    std::string_view pattern;  // segments in braces capture
    AccessLevel access;
    std::string_view action;  // audit action of a mutation; empty for reads
    std::string_view object;  // audited object, "{}" replaced by the captures in order
    Handler handler;
  };

  ApiResponse Status(const Call& call);
  ApiResponse Networks(const Call& call);
  ApiResponse ListVms(const Call& call);
  ApiResponse GetVm(const Call& call);
  ApiResponse BindVm(const Call& call);
  ApiResponse UnbindVm(const Call& call);
  ApiResponse ReadAudit(const Call& call);
  ApiResponse VerifyAudit(const Call& call);
  ApiResponse Metrics(const Call& call);
  ApiResponse ListRules(const Call& call);
  ApiResponse GetRule(const Call& call);
  ApiResponse PutRule(const Call& call);
  ApiResponse DeleteRule(const Call& call);
  ApiResponse AssignRule(const Call& call);
  ApiResponse UnassignRule(const Call& call);
  ApiResponse OpenForward(const Call& call);
  ApiResponse ListForwards(const Call& call);
  ApiResponse GetForward(const Call& call);
  ApiResponse RenewForward(const Call& call);
  ApiResponse CloseForward(const Call& call);
  ApiResponse DnsLog(const Call& call);
  ApiResponse HostPorts(const Call& call);
  // The VM's DNS-learned destinations, the DNS part of /v1/status and of /metrics.
  nlohmann::json DnsLearnedJson(Ipv4Address vm) const;
  nlohmann::json DnsStatusJson() const;
  std::string DnsMetrics() const;

  GatewayFirewall& RequireFirewall();
  // The rule named `name`, or a 404 (422 for a malformed name; 409 without the gateway role).
  const allowlist::AllowlistRule& RequireRule(std::string_view name);
  void RequireAssignableVm(std::string_view vm, const std::string& field);
  nlohmann::json RuleJson(const allowlist::AllowlistRule& rule) const;
  ApiResponse CommitRule(const Call& call, allowlist::AllowlistRule rule, const std::string& action,
                         const nlohmann::json& request);
  const proxy::Forward& RequireForward(std::string_view id);
  nlohmann::json ForwardJson(const proxy::Forward& forward) const;
  // Store, audit and kernel in one transaction, then the forwards' sessions are cut.
  // `in_kernel`: whether their elements are still in the kernel to be deleted.
  void RemoveForwards(const std::vector<proxy::Forward>& closing, const AuditEvent& event,
                      bool in_kernel);
  // Closes the forwards whose time has come (store, audit, kernel, sessions), netd the caller; a
  // refused one stays open and is offered again.
  void ExpireForwards(const std::vector<proxy::DueForward>& due);
  static proxy::ForwardOptions ForwardOptionsOf(const Config& config);
  // Null without the gateway role, which holds the forwards.
  std::optional<proxy::ForwardExpiry> MakeForwardExpiry();
  // Unix ms on `clock_`: the forwards' dates.
  std::int64_t WallNowMs() const;

  const Config& config_;
  Store& store_;
  AuditChain& audit_;
  dhcp::Ipam& ipam_;
  ApiMetrics& metrics_;
  GatewayFirewall* firewall_;
  Clock& clock_;
  dhcp::DnsmasqSupervisor* dhcp_ = nullptr;
  const dns::FilteredResolver* dns_ = nullptr;
  HostRole* host_ = nullptr;
  const ForwardingGuard* forwarding_guard_ = nullptr;
  std::chrono::system_clock::time_point started_at_;
  std::vector<Route> routes_;
  // Last: they take the members above.
  proxy::ForwardLifecycle forward_lifecycle_{ForwardOptionsOf(config_)};
  std::optional<proxy::ForwardExpiry> forward_expiry_{MakeForwardExpiry()};
};

}  // namespace netd
