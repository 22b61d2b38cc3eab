// The forward routes of the control API: kernel port forwards pinned to one client IP.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/daemon/audit.hpp"
#include "netd/daemon/firewall_api.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

using firewall::GatewayFirewall;
using nlohmann::json;

namespace {

// A body's integer field as the forward rules take it: they refuse a value of another type as
// they refuse an integer out of range.
proxy::IntegerField IntegerFieldOf(const json& body, const char* key) {
  if (!body.contains(key)) return {};
  const auto& value = body[key];
  if (!value.is_number_integer()) return proxy::NotAnInteger{};
  return value.get<std::int64_t>();
}

// Runs `plan`, answering a refusal of the forward rules: 422, or 409 for a client that holds a
// forward on every listen port.
template <typename Plan>
auto AnsweringRefusals(Plan plan) {
  try {
    return plan();
  } catch (const proxy::ForwardError& refusal) {
    auto status = refusal.kind() == proxy::ForwardError::Kind::kNoFreePort ? 409 : 422;
    throw ApiError{status, refusal.code(), refusal.what(), refusal.field()};
  }
}

}  // namespace

std::int64_t FirewallApi::WallNowMs() const {
  return ToMs(clock_.WallNow());
}

json FirewallApi::ForwardJson(const proxy::Forward& forward) const {
  const auto& address = config_.gateway.forward_address;
  auto now = WallNowMs();
  return {{"id", forward.id},
          {"vm", forward.vm},
          {"vm_ip", forward.vm_ip.ToString()},
          {"vm_port", forward.vm_port},
          {"client_ip", forward.client.ToString()},
          {"listen_ip", address ? json(address->ToString()) : json(nullptr)},
          {"listen_port", forward.listen_port},
          {"created_at", IsoTime(forward.created_ms)},
          {"expires_at", IsoTime(forward.expires_ms)},
          {"expires_in_s", std::max<std::int64_t>(0, (forward.expires_ms - now) / 1000)}};
}

const proxy::Forward& FirewallApi::RequireForward(std::string_view id) {
  const auto* forward = firewall_.forwards().Find(id);
  if (!forward) {
    throw ApiError{404, "no_such_forward", fmt::format("no forward with id {}", id), "id"};
  }
  return *forward;
}

ApiResponse FirewallApi::OpenForward(const ApiCall& call) {
  auto body = ParseObjectBody(call.request.body);
  for (const auto& [key, value] : body.items()) {
    if (key != "vm" && key != "client_ip" && key != "port" && key != "ttl_s") {
      throw BadRequest("unknown_field",
                       fmt::format("unknown field {}; expected vm, client_ip, port, ttl_s", key),
                       key);
    }
  }
  if (!body.contains("vm") || !body["vm"].is_string()) {
    throw BadRequest("missing_field", "vm is required: the id of a bound VM", "vm");
  }
  auto vm = body["vm"].get<std::string>();
  RequireValidVmId(vm);
  if (!body.contains("client_ip") || !body["client_ip"].is_string()) {
    throw BadRequest("missing_field", "client_ip is required: the one address the forward serves",
                     "client_ip");
  }
  auto client_text = body["client_ip"].get<std::string>();
  auto terms = AnsweringRefusals([&] {
    return forward_lifecycle_.Validate(
        {client_text, IntegerFieldOf(body, "port"), IntegerFieldOf(body, "ttl_s")});
  });
  const auto* binding = ipam_.Find(vm);
  if (!binding) throw ApiError{404, "vm_not_bound", fmt::format("VM {} is not bound", vm), "vm"};
  auto& forwards = firewall_.forwards();
  auto now = WallNowMs();
  auto forward = AnsweringRefusals(
      [&] { return forward_lifecycle_.PlanOpen(forwards, terms, vm, binding->ip, now); });
  firewall::ElementChanges changes;
  changes.add.forwards.push_back(GatewayFirewall::ElementOf(forward, now));
  forwards.Add(forward);
  AuditEvent event{
      call.request.caller, "forward.open", fmt::format("forward/{}", forward.id), body, 201, ""};
  CommitMutation(audit_, {event, [&] { store_.InsertForward(forward); }, changes,
                          [&] { forwards.Remove(forward.id); }, &firewall_});
  forward_expiry_.Rearm();
  spdlog::info("forward {}: opened by uid {}: {}:{} -> {} {}:{} for {} s", forward.id,
               call.request.caller.uid, terms.client.ToString(), forward.listen_port, vm,
               forward.vm_ip.ToString(), forward.vm_port, terms.ttl_s);
  return JsonResponse(201, ForwardJson(forward));
}

ApiResponse FirewallApi::ListForwards(const ApiCall&) {
  json list = json::array();
  for (const auto& [id, forward] : firewall_.forwards().all()) {
    list.push_back(ForwardJson(forward));
  }
  return JsonResponse(200, {{"forwards", list}});
}

ApiResponse FirewallApi::GetForward(const ApiCall& call) {
  return JsonResponse(200, ForwardJson(RequireForward(call.captures[0])));
}

ApiResponse FirewallApi::RenewForward(const ApiCall& call) {
  auto forward = RequireForward(call.captures[0]);
  auto body = call.request.body.empty() ? json::object() : ParseObjectBody(call.request.body);
  for (const auto& [key, value] : body.items()) {
    if (key != "ttl_s") {
      throw BadRequest("unknown_field", fmt::format("unknown field {}; expected ttl_s", key), key);
    }
  }
  auto now = WallNowMs();
  auto before = forward.expires_ms;
  forward = AnsweringRefusals(
      [&] { return forward_lifecycle_.PlanRenewal(forward, IntegerFieldOf(body, "ttl_s"), now); });
  // The element is replaced whole: deletion and addition in one transaction.
  firewall::ElementChanges changes;
  changes.remove.forwards.push_back(GatewayFirewall::ElementOf(forward, now));
  changes.add.forwards.push_back(GatewayFirewall::ElementOf(forward, now));
  auto& forwards = firewall_.forwards();
  forwards.SetExpiry(forward.id, forward.expires_ms);
  AuditEvent event{
      call.request.caller, "forward.renew", fmt::format("forward/{}", forward.id), body, 200, ""};
  CommitMutation(
      audit_, {event, [&] { store_.UpdateForwardExpiry(forward.id, forward.expires_ms); }, changes,
               [&] { forwards.SetExpiry(forward.id, before); }, &firewall_});
  forward_expiry_.Rearm();
  spdlog::info("forward {}: renewed by uid {} for {} s", forward.id, call.request.caller.uid,
               (forward.expires_ms - now) / 1000);
  return JsonResponse(200, ForwardJson(forward));
}

ApiResponse FirewallApi::CloseForward(const ApiCall& call) {
  auto forward = RequireForward(call.captures[0]);
  AuditEvent event{call.request.caller,
                   "forward.close",
                   fmt::format("forward/{}", forward.id),
                   json::object(),
                   200,
                   ""};
  RemoveForwards({forward}, event, /*in_kernel=*/true);
  forward_expiry_.Rearm();
  spdlog::info("forward {}: closed by uid {}", forward.id, call.request.caller.uid);
  return JsonResponse(200, {{"closed", ForwardJson(forward)}});
}

void FirewallApi::RemoveForwards(const std::vector<proxy::Forward>& closing,
                                 const AuditEvent& event, bool in_kernel) {
  auto& forwards = firewall_.forwards();
  auto now = WallNowMs();
  firewall::ElementChanges changes;
  for (const auto& forward : closing) {
    if (in_kernel) changes.remove.forwards.push_back(GatewayFirewall::ElementOf(forward, now));
    forwards.Remove(forward.id);
  }
  CommitMutation(audit_, {event,
                          [&] {
                            for (const auto& forward : closing) store_.DeleteForward(forward.id);
                          },
                          changes,
                          [&] {
                            for (const auto& forward : closing) forwards.Add(forward);
                          },
                          &firewall_});
  for (const auto& forward : closing) firewall_.CutForwardFlows(forward);
}

void FirewallApi::ExpireForwards(const std::vector<proxy::DueForward>& due) {
  for (const auto& [forward, in_kernel] : due) {
    AuditEvent event{Caller{0, 0, getpid(), "netd"},
                     "forward.expire",
                     fmt::format("forward/{}", forward.id),
                     json::object(),
                     200,
                     ""};
    try {
      RemoveForwards({forward}, event, in_kernel);
      spdlog::info("forward {}: expired ({}:{} -> {})", forward.id, forward.client.ToString(),
                   forward.listen_port, forward.vm);
    } catch (const std::exception& failure) {
      spdlog::error("forward {}: cannot expire it, retrying: {}", forward.id, failure.what());
    }
  }
}

}  // namespace netd
