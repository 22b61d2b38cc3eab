#include "netd/daemon/control_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/common/host_name.hpp"
#include "netd/daemon/forwarding_guard.hpp"
#include "netd/daemon/gateway_firewall.hpp"
#include "netd/daemon/host_role.hpp"
#include "netd/dhcp/dnsmasq_supervisor.hpp"

namespace netd {

using nlohmann::json;

namespace {

constexpr std::string_view kVersion = "0.1.0";

std::string PrometheusLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string_view ToString(AccessLevel level) {
  switch (level) {
    case AccessLevel::kAdmin:
      return "admin";
    case AccessLevel::kService:
      return "service";
    case AccessLevel::kNone:
      break;
  }
  return "none";
}

ApiResponse ErrorResponse(const ApiError& error) {
  json detail = {{"code", error.code}, {"message", error.message}};
  if (!error.field.empty()) detail["field"] = error.field;
  return JsonResponse(error.status, {{"error", detail}});
}

void ApiMetrics::CountRequest(std::string_view route, std::string_view method, int status) {
  ++requests_[{std::string(route), std::string(method), status}];
}

void ApiMetrics::CountRejectedConnection(std::string_view reason) {
  ++rejected_connections_[std::string(reason)];
}

std::string ApiMetrics::Render() const {
  std::string out =
      "# HELP netd_api_requests_total Control API requests by route, method and status code.\n"
      "# TYPE netd_api_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    out += fmt::format("netd_api_requests_total{{route=\"{}\",method=\"{}\",code=\"{}\"}} {}\n",
                       PrometheusLabel(route), PrometheusLabel(method), status, count);
  }
  out +=
      "# HELP netd_api_connections_rejected_total Connections closed before a request was "
      "served, by reason.\n"
      "# TYPE netd_api_connections_rejected_total counter\n";
  for (const auto& [reason, count] : rejected_connections_) {
    out += fmt::format("netd_api_connections_rejected_total{{reason=\"{}\"}} {}\n",
                       PrometheusLabel(reason), count);
  }
  return out;
}

ControlApi::ControlApi(const Config& config, Store& store, AuditChain& audit, dhcp::Ipam& ipam,
                       ApiMetrics& metrics, GatewayFirewall* firewall, Clock& clock)
    : config_(config),
      store_(store),
      audit_(audit),
      ipam_(ipam),
      metrics_(metrics),
      firewall_(firewall),
      clock_(clock),
      started_at_(std::chrono::system_clock::now()),
      routes_{
          {"GET", "/v1/status", AccessLevel::kService, "", "", &ControlApi::Status},
          {"GET", "/v1/networks", AccessLevel::kService, "", "", &ControlApi::Networks},
          {"GET", "/v1/vms", AccessLevel::kService, "", "", &ControlApi::ListVms},
          {"GET", "/v1/vms/{vm}", AccessLevel::kService, "", "", &ControlApi::GetVm},
          {"PUT", "/v1/vms/{vm}", AccessLevel::kService, "vm.bind", "vm/{}", &ControlApi::BindVm},
          {"DELETE", "/v1/vms/{vm}", AccessLevel::kService, "vm.unbind", "vm/{}",
           &ControlApi::UnbindVm},
          {"GET", "/v1/allowlist", AccessLevel::kService, "", "", &ControlApi::ListRules},
          {"GET", "/v1/allowlist/{rule}", AccessLevel::kService, "", "", &ControlApi::GetRule},
          {"PUT", "/v1/allowlist/{rule}", AccessLevel::kAdmin, "allowlist.put", "allowlist/{}",
           &ControlApi::PutRule},
          {"DELETE", "/v1/allowlist/{rule}", AccessLevel::kAdmin, "allowlist.delete",
           "allowlist/{}", &ControlApi::DeleteRule},
          {"PUT", "/v1/allowlist/{rule}/vms/{vm}", AccessLevel::kAdmin, "allowlist.assign",
           "allowlist/{}/vm/{}", &ControlApi::AssignRule},
          {"DELETE", "/v1/allowlist/{rule}/vms/{vm}", AccessLevel::kAdmin, "allowlist.unassign",
           "allowlist/{}/vm/{}", &ControlApi::UnassignRule},
          {"POST", "/v1/forwards", AccessLevel::kService, "forward.open", "forward",
           &ControlApi::OpenForward},
          {"GET", "/v1/forwards", AccessLevel::kService, "", "", &ControlApi::ListForwards},
          {"GET", "/v1/forwards/{id}", AccessLevel::kService, "", "", &ControlApi::GetForward},
          {"POST", "/v1/forwards/{id}/renew", AccessLevel::kService, "forward.renew", "forward/{}",
           &ControlApi::RenewForward},
          {"DELETE", "/v1/forwards/{id}", AccessLevel::kService, "forward.close", "forward/{}",
           &ControlApi::CloseForward},
          {"GET", "/v1/audit", AccessLevel::kAdmin, "", "", &ControlApi::ReadAudit},
          {"GET", "/v1/audit/verify", AccessLevel::kAdmin, "", "", &ControlApi::VerifyAudit},
          {"GET", "/v1/dns/log", AccessLevel::kAdmin, "", "", &ControlApi::DnsLog},
          {"GET", "/v1/host/ports", AccessLevel::kService, "", "", &ControlApi::HostPorts},
          {"GET", "/metrics", AccessLevel::kService, "", "", &ControlApi::Metrics},
      } {}

ApiResponse ControlApi::HostPorts(const Call&) {
  if (!host_) throw ApiError{409, "no_host_role", "this netd does not run the host role", ""};
  return JsonResponse(200, {{"ports", host_->PortsJson()}});
}

ApiResponse ControlApi::Handle(const ApiRequest& request) {
  std::string_view target = request.target;
  auto question = target.find('?');
  auto path = target.substr(0, question);

  const Route* matched = nullptr;
  bool path_known = false;
  std::vector<std::string> captures;
  auto segments = Split(path, '/');
  for (const auto& route : routes_) {
    auto pattern = Split(route.pattern, '/');
    if (pattern.size() != segments.size()) continue;
    std::vector<std::string> values;
    bool match = true;
    for (std::size_t i = 0; match && i < pattern.size(); ++i) {
      if (pattern[i].starts_with('{')) {
        auto decoded = PercentDecode(segments[i]);
        match = decoded.has_value() && !segments[i].empty();
        if (match) values.push_back(*decoded);
      } else {
        match = pattern[i] == segments[i];
      }
    }
    if (!match) continue;
    path_known = true;
    if (route.method == request.method) {
      matched = &route;
      captures = std::move(values);
      break;
    }
  }

  std::string_view route_name = matched ? matched->pattern : std::string_view("unmatched");
  ApiResponse response;
  try {
    if (!matched) {
      throw path_known ? ApiError{405, "method_not_allowed",
                                  fmt::format("{} is not allowed on {}", request.method, path), ""}
                       : ApiError{404, "no_such_route", fmt::format("no such route: {}", path), ""};
    }
    Call call{request, std::move(captures), {}};
    try {
      if (question != std::string_view::npos) {
        for (auto pair : Split(target.substr(question + 1), '&')) {
          if (pair.empty()) continue;
          auto equals = pair.find('=');
          auto key = PercentDecode(pair.substr(0, equals));
          auto value =
              PercentDecode(equals == std::string_view::npos ? "" : pair.substr(equals + 1));
          if (!key || !value) throw BadRequest("malformed_query", "the query string is malformed");
          call.query[*key] = *value;
        }
      }
      if (request.access < matched->access) {
        throw ApiError{403, "forbidden",
                       fmt::format("{} {} needs the {} role; caller uid {} has {}", request.method,
                                   matched->pattern, ToString(matched->access), request.caller.uid,
                                   request.access == AccessLevel::kNone
                                       ? std::string("no role")
                                       : fmt::format("the {} role", ToString(request.access))),
                       ""};
      }
      response = (this->*(matched->handler))(call);
    } catch (const ApiError& error) {
      if (!matched->action.empty()) {
        std::string object;
        std::size_t capture = 0;
        auto pattern = std::string_view(matched->object);
        while (!pattern.empty()) {
          auto brace = pattern.find("{}");
          object += pattern.substr(0, brace);
          if (brace == std::string_view::npos) break;
          if (capture < call.captures.size()) object += call.captures[capture++].substr(0, 80);
          pattern.remove_prefix(brace + 2);
        }
        AuditEvent event{request.caller, std::string(matched->action),
                         object,         RequestSummary(request.body),
                         error.status,   error.code};
        audit_.Record(event);
      }
      throw;
    }
  } catch (const ApiError& error) {
    spdlog::info("api: {} {} uid={} pid={} refused {} {}: {}", request.method, path,
                 request.caller.uid, request.caller.pid, error.status, error.code, error.message);
    response = ErrorResponse(error);
  } catch (const firewall::NftError& error) {
    spdlog::error("api: {} {} refused by the kernel: {}", request.method, path, error.what());
    response = ErrorResponse({503, "kernel_refused", error.what(), ""});
  } catch (const std::system_error& error) {
    spdlog::error("api: {} {} failed talking to the kernel: {}", request.method, path,
                  error.what());
    response = ErrorResponse({503, "kernel_unavailable", error.what(), ""});
  } catch (const StoreError& error) {
    spdlog::error("api: {} {} failed in the store: {}", request.method, path, error.what());
    response = ErrorResponse(
        {503, "store_unavailable", fmt::format("the state store failed: {}", error.what()), ""});
  } catch (const std::exception& error) {
    // A bug, not a refusal: answer it and keep serving everyone else.
    spdlog::error("api: {} {} failed: {}", request.method, path, error.what());
    response = ErrorResponse({500, "internal_error", "netd failed to handle the request", ""});
  }
  metrics_.CountRequest(route_name, request.method, response.status);
  return response;
}

ApiResponse ControlApi::Status(const Call&) {
  auto now = std::chrono::system_clock::now();
  json roles = json::array();
  for (auto role : config_.roles) roles.push_back(ToString(role));
  json by_network = json::object();
  for (const auto& network : config_.networks) {
    by_network[network.name] = ipam_.pool(network.name).used();
  }
  json last_reconcile = nullptr;
  json drift = {{"detected", 0}, {"repairs", 0}, {"repair_failures", 0}};
  if (firewall_) {
    if (auto time = firewall_->last_reconcile()) last_reconcile = IsoTime(ToMs(*time));
    const auto& counters = firewall_->counters();
    drift = {{"detected", counters.drift_detected},
             {"repairs", counters.drift_repairs},
             {"repair_failures", counters.repair_failures}};
  }
  return JsonResponse(
      200,
      {{"version", kVersion},
       {"roles", roles},
       {"started_at", IsoTime(ToMs(started_at_))},
       {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count()},
       {"vms", {{"total", ipam_.size()}, {"by_network", by_network}}},
       {"audit", {{"length", audit_.length()}}},
       {"firewall", firewall_
                        ? json{{"rules", firewall_->policy().rules().size()},
                               {"allow_elements", firewall_->policy().allow_elements()},
                               {"element_updates", firewall_->counters().element_updates},
                               {"flows_cut", firewall_->counters().flows_cut},
                               {"kernel_failures", firewall_->counters().kernel_failures},
                               {"full_applies", firewall_->counters().full_applies},
                               {"last_apply_ms", firewall_->last_apply_ms()},
                               {"forwards", firewall_->forwards().all().size()},
                               {"forward_sessions_cut", firewall_->counters().forward_flows_cut},
                               {"table_protection", ToString(firewall_->protection())},
                               {"route_guard", forwarding_guard_ ? forwarding_guard_->StatusJson()
                                                                 : json(nullptr)}}
                        : json(nullptr)},
       {"dhcp", dhcp_
                    ? json{{"state", dhcp_->state()},
                           {"starts", dhcp_->counters().starts},
                           {"restarts", dhcp_->counters().restarts},
                           {"reloads", dhcp_->counters().reloads},
                           {"last_error", dhcp_->last_error().empty() ? json(nullptr)
                                                                      : json(dhcp_->last_error())}}
                    : json(nullptr)},
       {"dns", DnsStatusJson()},
       {"host", host_ ? host_->StatusJson() : json(nullptr)},
       {"last_reconcile", last_reconcile},
       {"drift", drift}});
}

ApiResponse ControlApi::Networks(const Call&) {
  json networks = json::array();
  for (const auto& network : config_.networks) {
    const auto& pool = ipam_.pool(network.name);
    networks.push_back(
        {{"name", network.name},
         {"bridge", network.bridge},
         {"vlan", network.vlan},
         {"cidr", network.cidr.ToString()},
         {"gateway", network.gateway.ToString()},
         {"dhcp_range",
          {{"first", network.dhcp_first.ToString()}, {"last", network.dhcp_last.ToString()}}},
         {"egress", ToString(network.egress)},
         {"uplink", network.uplink.empty() ? json(nullptr) : json(network.uplink)},
         {"uplink_mode", ovs::ToString(network.uplink_mode)},
         {"bound_vms", pool.used()},
         {"free_addresses", pool.size() - pool.used()}});
  }
  return JsonResponse(200, {{"networks", networks}});
}

ApiResponse ControlApi::ListVms(const Call& call) {
  std::optional<std::string_view> network;
  if (auto it = call.query.find("network"); it != call.query.end()) {
    if (!ipam_.HasNetwork(it->second)) {
      throw Unprocessable("unknown_network",
                          fmt::format("no network named \"{}\" is configured", it->second),
                          "network");
    }
    network = it->second;
  }
  json vms = json::array();
  for (const auto& binding : ipam_.List(network)) vms.push_back(BindingJson(binding));
  return JsonResponse(200, {{"vms", vms}});
}

ApiResponse ControlApi::GetVm(const Call& call) {
  const auto& vm = call.captures[0];
  RequireValidVmId(vm);
  const auto* binding = ipam_.Find(vm);
  if (!binding) throw ApiError{404, "vm_not_bound", fmt::format("VM {} is not bound", vm), "vm"};
  auto body = BindingJson(*binding);
  if (dhcp_) {
    body["lease"] = nullptr;
    for (const auto& lease : dhcp_->Leases()) {
      if (lease.ip != binding->ip || lease.mac != binding->mac) continue;
      auto now_s = AuditChain::NowMs() / 1000;
      bool active = lease.expires_s == 0 || lease.expires_s > now_s;
      body["lease"] = {
          {"state", active ? "active" : "expired"},
          {"expires_at",
           lease.expires_s == 0 ? json(nullptr) : json(IsoTime(lease.expires_s * 1000))}};
    }
  }
  if (dns_) body["dns_learned"] = DnsLearnedJson(binding->ip);
  return JsonResponse(200, body);
}

ApiResponse ControlApi::BindVm(const Call& call) {
  const auto& vm = call.captures[0];
  RequireValidVmId(vm);
  auto body = ParseObjectBody(call.request.body);
  for (const auto& [key, value] : body.items()) {
    if (key != "network" && key != "hostname") {
      throw BadRequest("unknown_field",
                       fmt::format("unknown field \"{}\"; expected network and hostname", key),
                       key);
    }
  }
  if (!body.contains("network")) {
    throw BadRequest("missing_field", "field \"network\" is required", "network");
  }
  if (!body["network"].is_string()) {
    throw BadRequest("invalid_type", "field \"network\" must be a string", "network");
  }
  auto network = body["network"].get<std::string>();
  if (!ipam_.HasNetwork(network)) {
    throw Unprocessable("unknown_network",
                        fmt::format("no network named \"{}\" is configured", network), "network");
  }
  std::optional<std::optional<std::string>> hostname;  // absent, null, or a name
  if (body.contains("hostname")) {
    const auto& value = body["hostname"];
    if (value.is_null()) {
      hostname.emplace(std::nullopt);
    } else if (!value.is_string()) {
      throw BadRequest("invalid_type", "field \"hostname\" must be a string or null", "hostname");
    } else if (!IsValidLabel(value.get<std::string>())) {
      throw Unprocessable(
          "invalid_hostname",
          fmt::format("hostname \"{}\" is not a valid DNS label: expected 1-63 letters, digits "
                      "or '-', not starting or ending with '-'",
                      value.get<std::string>().substr(0, 80)),
          "hostname");
    } else {
      hostname.emplace(value.get<std::string>());
    }
  }

  AuditEvent event{call.request.caller, "vm.bind", fmt::format("vm/{}", vm), body, 0, ""};
  if (const auto* existing = ipam_.Find(vm)) {
    if (existing->network != network) {
      throw ApiError{409, "vm_bound_elsewhere",
                     fmt::format("VM {} is bound to network {}; unbind it before binding it to {}",
                                 vm, existing->network, network),
                     "network"};
    }
    event.status = 200;
    if (hostname && *hostname != existing->hostname) {
      event.action = "vm.update";
      CommitMutation(audit_, firewall_,
                     {event, [&] { store_.UpdateHostname(vm, *hostname); }, std::nullopt, {}});
      ipam_.SetHostname(vm, *hostname);
      if (dhcp_) dhcp_->ReservationsChanged();
      spdlog::info("vm {}: hostname set to {}", vm, hostname->value_or("(none)"));
    } else {
      CommitMutation(audit_, firewall_, {event, {}, std::nullopt, {}});
    }
    return JsonResponse(200, BindingJson(*ipam_.Find(vm)));
  }

  auto binding = ipam_.Propose(vm, network);
  if (!binding) {
    const auto& pool = ipam_.pool(network);
    throw ApiError{
        409, "range_exhausted",
        fmt::format("network {} has no free address: all {} addresses of its DHCP "
                    "range {}-{} are bound",
                    network, pool.size(), pool.first().ToString(), pool.last().ToString()),
        "network"};
  }
  binding->hostname = hostname.value_or(std::nullopt);
  binding->created_ms = AuditChain::NowMs();
  event.status = 201;
  Mutation bind{event, [&] { store_.InsertBinding(*binding); }, std::nullopt, {}};
  if (firewall_ && firewall_->IsAllowlisted(network)) {
    // The VM's MAC/IP pair and the destinations of its rules enter the kernel with the binding.
    auto& policy = firewall_->policy();
    bind.kernel = policy.AddVm(firewall_->SecureVmOf(*binding));
    bind.undo_memory = [&] { policy.RemoveVm(vm); };
  }
  CommitMutation(audit_, firewall_, bind);
  ipam_.Add(*binding);
  if (dhcp_) dhcp_->ReservationsChanged();
  spdlog::info("vm {}: bound to {} ip={} mac={}", vm, network, binding->ip.ToString(),
               binding->mac.ToString());
  return JsonResponse(201, BindingJson(*binding));
}

ApiResponse ControlApi::UnbindVm(const Call& call) {
  const auto& vm = call.captures[0];
  RequireValidVmId(vm);
  const auto* existing = ipam_.Find(vm);
  if (!existing) throw ApiError{404, "vm_not_bound", fmt::format("VM {} is not bound", vm), "vm"};
  auto binding = *existing;
  AuditEvent event{call.request.caller, "vm.unbind", fmt::format("vm/{}", vm),
                   json::object(),      200,         ""};
  Mutation unbind{event, [&] { store_.DeleteBinding(vm); }, std::nullopt, {}};
  if (firewall_) {
    // Its allowlist elements, its binding's anti-spoofing element and its forwards go together.
    auto& policy = firewall_->policy();
    auto& forwards = firewall_->forwards();
    std::optional<allowlist::SecureVm> secure_vm;
    firewall::ElementChanges changes;
    if (const auto* found = policy.FindVm(vm)) {
      secure_vm = *found;
      changes = policy.RemoveVm(vm);
    }
    std::vector<proxy::Forward> closing;
    auto now = AuditChain::NowMs();
    for (const auto& id : forwards.OfVm(vm)) {
      closing.push_back(*forwards.Remove(id));
      changes.remove.forwards.push_back(GatewayFirewall::ElementOf(closing.back(), now));
    }
    unbind.write_rows = [&] {
      for (const auto& forward : closing) store_.DeleteForward(forward.id);
      store_.DeleteBinding(vm);
    };
    unbind.kernel = changes;
    unbind.undo_memory = [&] {
      if (secure_vm) policy.AddVm(*secure_vm);
      for (const auto& forward : closing) forwards.Add(forward);
    };
    CommitMutation(audit_, firewall_, unbind);
    for (const auto& forward : closing) firewall_->CutForwardFlows(forward);
  } else {
    CommitMutation(audit_, firewall_, unbind);
  }
  ipam_.Remove(vm);
  if (dhcp_) {
    dhcp_->ReleaseLease(binding);
    dhcp_->ReservationsChanged();
  }
  spdlog::info("vm {}: unbound from {}, released ip={}", vm, binding.network,
               binding.ip.ToString());
  return JsonResponse(200, {{"unbound", BindingJson(binding)}});
}

ApiResponse ControlApi::ReadAudit(const Call& call) {
  auto after = QueryNumber(call.query, "after", 0, 0, std::numeric_limits<std::int64_t>::max());
  auto limit = QueryNumber(call.query, "limit", 100, 1, 1000);
  auto records = audit_.Read(after, limit);
  auto next_after = records.empty() ? after : records.back()["seq"].get<std::int64_t>();
  return JsonResponse(200, {{"records", records}, {"next_after", next_after}});
}

ApiResponse ControlApi::VerifyAudit(const Call&) {
  auto result = audit_.Verify();
  json body = {{"ok", result.ok}, {"length", result.length}};
  if (!result.ok) {
    body["first_bad_seq"] = *result.first_bad_seq;
    body["reason"] = result.reason;
    spdlog::error("audit: chain verification failed at record {}: {}", *result.first_bad_seq,
                  result.reason);
  }
  return JsonResponse(200, body);
}

ApiResponse ControlApi::Metrics(const Call&) {
  std::string out = metrics_.Render();
  out +=
      "# HELP netd_vms_bound VMs bound per network.\n"
      "# TYPE netd_vms_bound gauge\n";
  for (const auto& network : config_.networks) {
    out += fmt::format("netd_vms_bound{{network=\"{}\"}} {}\n", network.name,
                       ipam_.pool(network.name).used());
  }
  out +=
      "# HELP netd_network_free_addresses Free addresses in each network's DHCP range.\n"
      "# TYPE netd_network_free_addresses gauge\n";
  for (const auto& network : config_.networks) {
    const auto& pool = ipam_.pool(network.name);
    out += fmt::format("netd_network_free_addresses{{network=\"{}\"}} {}\n", network.name,
                       pool.size() - pool.used());
  }
  if (dhcp_) {
    auto leases = dhcp_->Leases();
    auto now_s = AuditChain::NowMs() / 1000;
    out +=
        "# HELP netd_dhcp_leases Active DHCP leases per network.\n"
        "# TYPE netd_dhcp_leases gauge\n";
    for (const auto& network : config_.networks) {
      auto active = std::count_if(leases.begin(), leases.end(), [&](const dhcp::Lease& lease) {
        return network.cidr.Contains(lease.ip) && (lease.expires_s == 0 || lease.expires_s > now_s);
      });
      out += fmt::format("netd_dhcp_leases{{network=\"{}\"}} {}\n", network.name, active);
    }
    out += fmt::format(
        "# HELP netd_dhcp_reloads_total Reservation reloads sent to dnsmasq (SIGHUP).\n"
        "# TYPE netd_dhcp_reloads_total counter\n"
        "netd_dhcp_reloads_total {}\n"
        "# HELP netd_dhcp_restarts_total Times dnsmasq died and was started again.\n"
        "# TYPE netd_dhcp_restarts_total counter\n"
        "netd_dhcp_restarts_total {}\n",
        dhcp_->counters().reloads, dhcp_->counters().restarts);
  }
  if (firewall_) {
    const auto& counters = firewall_->counters();
    out += fmt::format(
        "# HELP netd_allowlist_rules Allowlist rules.\n"
        "# TYPE netd_allowlist_rules gauge\n"
        "netd_allowlist_rules {}\n"
        "# HELP netd_allowlist_elements Elements in allow4 and allow4_ranges from rules.\n"
        "# TYPE netd_allowlist_elements gauge\n"
        "netd_allowlist_elements {}\n"
        "# HELP netd_firewall_element_updates_total Set elements added or deleted.\n"
        "# TYPE netd_firewall_element_updates_total counter\n"
        "netd_firewall_element_updates_total {}\n"
        "# HELP netd_firewall_flows_cut_total Conntrack entries deleted on revocation.\n"
        "# TYPE netd_firewall_flows_cut_total counter\n"
        "netd_firewall_flows_cut_total {}\n"
        "# HELP netd_firewall_kernel_failures_total Changes the kernel or store refused.\n"
        "# TYPE netd_firewall_kernel_failures_total counter\n"
        "netd_firewall_kernel_failures_total {}\n"
        "# HELP netd_firewall_full_applies_total Whole-table applies.\n"
        "# TYPE netd_firewall_full_applies_total counter\n"
        "netd_firewall_full_applies_total {}\n"
        "# HELP netd_forwards Open kernel port forwards.\n"
        "# TYPE netd_forwards gauge\n"
        "netd_forwards {}\n"
        "# HELP netd_forward_sessions_cut_total Conntrack entries deleted when forwards ended.\n"
        "# TYPE netd_forward_sessions_cut_total counter\n"
        "netd_forward_sessions_cut_total {}\n"
        "# HELP netd_firewall_drift_detected_total Times the table may have been changed by "
        "another process.\n"
        "# TYPE netd_firewall_drift_detected_total counter\n"
        "netd_firewall_drift_detected_total {}\n"
        "# HELP netd_firewall_drift_repairs_total Whole-table applies that repaired drift.\n"
        "# TYPE netd_firewall_drift_repairs_total counter\n"
        "netd_firewall_drift_repairs_total {}\n"
        "# HELP netd_firewall_repair_failures_total Repairs the kernel refused (retried).\n"
        "# TYPE netd_firewall_repair_failures_total counter\n"
        "netd_firewall_repair_failures_total {}\n",
        firewall_->policy().rules().size(), firewall_->policy().allow_elements(),
        counters.element_updates, counters.flows_cut, counters.kernel_failures,
        counters.full_applies, firewall_->forwards().all().size(), counters.forward_flows_cut,
        counters.drift_detected, counters.drift_repairs, counters.repair_failures);
  }
  out += fmt::format(
      "# HELP netd_audit_records Records in the audit chain.\n"
      "# TYPE netd_audit_records gauge\n"
      "netd_audit_records {}\n"
      "# HELP netd_uptime_seconds Seconds since netd started.\n"
      "# TYPE netd_uptime_seconds gauge\n"
      "netd_uptime_seconds {}\n",
      audit_.length(),
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                       started_at_)
          .count());
  out += DnsMetrics();
  if (host_) out += host_->Metrics();
  if (forwarding_guard_) out += forwarding_guard_->Metrics();
  return {200, out, "text/plain; version=0.0.4"};
}

}  // namespace netd
