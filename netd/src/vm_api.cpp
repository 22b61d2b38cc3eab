// The VM bindings of the control API: /v1/networks and /v1/vms.
#include "netd/daemon/vm_api.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/common/host_name.hpp"

namespace netd {

using nlohmann::json;

namespace {

constexpr Metric kVmsBound{"netd_vms_bound", MetricType::kGauge, "VMs bound per network."};
constexpr Metric kFreeAddresses{"netd_network_free_addresses", MetricType::kGauge,
                                "Free addresses in each network's DHCP range."};

}  // namespace

std::function<void()> BindingObserver::PlanBind(const dhcp::VmBinding&, Mutation&) {
  return {};
}
std::function<void()> BindingObserver::PlanUnbind(const dhcp::VmBinding&, Mutation&) {
  return {};
}
void BindingObserver::HostnameChanged(const dhcp::VmBinding&) {}
void BindingObserver::Describe(const dhcp::VmBinding&, json&) const {}

VmApi::VmApi(const Config& config, Store& store, AuditChain& audit, dhcp::Ipam& ipam)
    : config_(config), store_(store), audit_(audit), ipam_(ipam) {}

std::span<const RouteOf<VmApi>> VmApi::Routes() {
  static constexpr RouteOf<VmApi> kRoutes[] = {
      {"GET", "/v1/networks", AccessLevel::kService, "", "", &VmApi::Networks},
      {"GET", "/v1/vms", AccessLevel::kService, "", "", &VmApi::ListVms},
      {"GET", "/v1/vms/{vm}", AccessLevel::kService, "", "", &VmApi::GetVm},
      {"PUT", "/v1/vms/{vm}", AccessLevel::kService, "vm.bind", "vm/{}", &VmApi::BindVm},
      {"DELETE", "/v1/vms/{vm}", AccessLevel::kService, "vm.unbind", "vm/{}", &VmApi::UnbindVm},
  };
  return kRoutes;
}

void VmApi::Report(StatusReport& report) const {
  report.Status("/vms/total", ipam_.size());
  for (const auto& network : config_.networks) {
    report.Figure("/vms/by_network/" + network.name, kVmsBound, ipam_.pool(network.name).used(),
                  {{"network", network.name}});
  }
  for (const auto& network : config_.networks) {
    const auto& pool = ipam_.pool(network.name);
    report.Sample(kFreeAddresses, pool.size() - pool.used(), {{"network", network.name}});
  }
}

ApiResponse VmApi::Networks(const ApiCall&) {
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

ApiResponse VmApi::ListVms(const ApiCall& call) {
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

ApiResponse VmApi::GetVm(const ApiCall& call) {
  const auto& vm = call.captures[0];
  RequireValidVmId(vm);
  const auto* binding = ipam_.Find(vm);
  if (!binding) throw ApiError{404, "vm_not_bound", fmt::format("VM {} is not bound", vm), "vm"};
  auto body = BindingJson(*binding);
  for (const auto* observer : observers_) observer->Describe(*binding, body);
  return JsonResponse(200, body);
}

ApiResponse VmApi::BindVm(const ApiCall& call) {
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
      CommitMutation(audit_, {event, [&] { store_.UpdateHostname(vm, *hostname); }});
      ipam_.SetHostname(vm, *hostname);
      for (auto* observer : observers_) observer->HostnameChanged(*ipam_.Find(vm));
      spdlog::info("vm {}: hostname set to {}", vm, hostname->value_or("(none)"));
    } else {
      CommitMutation(audit_, {event});
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
  Mutation bind{event, [&] { store_.InsertBinding(*binding); }};
  std::vector<std::function<void()>> after;
  for (auto* observer : observers_) after.push_back(observer->PlanBind(*binding, bind));
  CommitMutation(audit_, bind);
  ipam_.Add(*binding);
  RunAfterCommit(after);
  spdlog::info("vm {}: bound to {} ip={} mac={}", vm, network, binding->ip.ToString(),
               binding->mac.ToString());
  return JsonResponse(201, BindingJson(*binding));
}

ApiResponse VmApi::UnbindVm(const ApiCall& call) {
  const auto& vm = call.captures[0];
  RequireValidVmId(vm);
  const auto* existing = ipam_.Find(vm);
  if (!existing) throw ApiError{404, "vm_not_bound", fmt::format("VM {} is not bound", vm), "vm"};
  auto binding = *existing;
  AuditEvent event{call.request.caller, "vm.unbind", fmt::format("vm/{}", vm),
                   json::object(),      200,         ""};
  Mutation unbind{event, [&] { store_.DeleteBinding(vm); }};
  std::vector<std::function<void()>> after;
  for (auto* observer : observers_) after.push_back(observer->PlanUnbind(binding, unbind));
  CommitMutation(audit_, unbind);
  ipam_.Remove(vm);
  RunAfterCommit(after);
  spdlog::info("vm {}: unbound from {}, released ip={}", vm, binding.network,
               binding.ip.ToString());
  return JsonResponse(200, {{"unbound", BindingJson(binding)}});
}

}  // namespace netd
