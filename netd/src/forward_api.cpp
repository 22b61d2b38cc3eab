// The forward routes of the control API: kernel port forwards pinned to one client IP.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/daemon/audit.hpp"
#include "netd/daemon/firewall_api.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

using firewall::GatewayFirewall;
using nlohmann::json;

namespace {

std::string NewForwardId() {
  std::random_device random;
  return fmt::format("fwd-{:08x}{:04x}", random(), random() & 0xffff);
}

// Unicast addresses a client can have: not this-network, loopback, link-local multicast,
// multicast, reserved or broadcast.
bool IsUnicast(Ipv4Address address) {
  auto first = address.value() >> 24;
  return first != 0 && first != 127 && first < 224;
}

std::int64_t ReadTtl(const json& body, const Config& config) {
  if (!body.contains("ttl_s")) return config.gateway.forward_ttl_s;
  const auto& ttl = body["ttl_s"];
  if (!ttl.is_number_integer() || ttl.get<std::int64_t>() < 1 ||
      ttl.get<std::int64_t>() > config.gateway.forward_max_ttl_s) {
    throw Unprocessable("invalid_ttl",
                        fmt::format("ttl_s must be an integer of seconds, 1-{} "
                                    "(gateway.forward_max_ttl_s)",
                                    config.gateway.forward_max_ttl_s),
                        "ttl_s");
  }
  return ttl.get<std::int64_t>();
}

}  // namespace

json FirewallApi::ForwardJson(const proxy::Forward& forward) const {
  const auto& address = config_.gateway.forward_address;
  auto now = AuditChain::NowMs();
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
  auto client = Ipv4Address::Parse(client_text);
  if (!client || !IsUnicast(*client)) {
    throw Unprocessable(
        "invalid_client_ip",
        fmt::format("client_ip \"{}\" is not a unicast IPv4 address", client_text.substr(0, 64)),
        "client_ip");
  }
  for (const auto& network : config_.networks) {
    if (network.cidr.Contains(*client)) {
      throw Unprocessable("invalid_client_ip",
                          fmt::format("client_ip {} is inside the enclave network {} ({}); "
                                      "forwards serve clients outside the enclave",
                                      client->ToString(), network.name, network.cidr.ToString()),
                          "client_ip");
    }
  }
  std::uint16_t vm_port = 22;
  if (body.contains("port")) {
    const auto& port = body["port"];
    if (!port.is_number_integer() || port.get<std::int64_t>() < 1 ||
        port.get<std::int64_t>() > 65535) {
      throw Unprocessable("invalid_port", "port must be an integer 1-65535", "port");
    }
    vm_port = static_cast<std::uint16_t>(port.get<std::int64_t>());
  }
  const auto& allowed = config_.gateway.forward_vm_ports;
  if (std::find(allowed.begin(), allowed.end(), vm_port) == allowed.end()) {
    throw Unprocessable("port_not_allowed",
                        fmt::format("forwards may reach VM port(s) {} (gateway.forward_vm_ports), "
                                    "not {}",
                                    fmt::join(allowed, ", "), vm_port),
                        "port");
  }
  auto ttl_s = ReadTtl(body, config_);
  const auto* binding = ipam_.Find(vm);
  if (!binding) throw ApiError{404, "vm_not_bound", fmt::format("VM {} is not bound", vm), "vm"};
  auto& forwards = firewall_.forwards();
  auto listen_port = forwards.FreePort(*client);
  if (!listen_port) {
    throw ApiError{409, "forward_ports_exhausted",
                   fmt::format("client {} already holds a forward on every port of {} "
                               "(gateway.forward_ports); close one first",
                               client->ToString(), forwards.listen_ports().ToString()),
                   "client_ip"};
  }

  auto now = AuditChain::NowMs();
  auto id = NewForwardId();
  while (forwards.Find(id)) id = NewForwardId();
  proxy::Forward forward{id,      vm,           binding->ip, vm_port,
                         *client, *listen_port, now,         now + ttl_s * 1000};
  firewall::ElementChanges changes;
  changes.add.forwards.push_back(GatewayFirewall::ElementOf(forward, now));
  forwards.Add(forward);
  AuditEvent event{
      call.request.caller, "forward.open", fmt::format("forward/{}", forward.id), body, 201, ""};
  CommitMutation(audit_, {event, [&] { store_.InsertForward(forward); }, changes,
                          [&] { forwards.Remove(forward.id); }, &firewall_});
  spdlog::info("forward {}: opened by uid {}: {}:{} -> {} {}:{} for {} s", forward.id,
               call.request.caller.uid, client->ToString(), forward.listen_port, vm,
               forward.vm_ip.ToString(), vm_port, ttl_s);
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
  auto ttl_s = ReadTtl(body, config_);
  auto now = AuditChain::NowMs();
  auto before = forward.expires_ms;
  forward.expires_ms = now + ttl_s * 1000;
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
  spdlog::info("forward {}: renewed by uid {} for {} s", forward.id, call.request.caller.uid,
               ttl_s);
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
  spdlog::info("forward {}: closed by uid {}", forward.id, call.request.caller.uid);
  return JsonResponse(200, {{"closed", ForwardJson(forward)}});
}

void FirewallApi::RemoveForwards(const std::vector<proxy::Forward>& closing,
                                 const AuditEvent& event, bool in_kernel) {
  auto& forwards = firewall_.forwards();
  auto now = AuditChain::NowMs();
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

std::size_t FirewallApi::ExpireForwards() {
  auto now = AuditChain::NowMs();
  auto expired = firewall_.forwards().ExpiredAt(now);
  for (const auto& id : expired) {
    auto forward = *firewall_.forwards().Find(id);
    // Past its grace the kernel has dropped the element itself: delete only the rest.
    bool in_kernel = now < forward.expires_ms + GatewayFirewall::kForwardGraceMs / 2;
    AuditEvent event{Caller{0, 0, getpid(), "netd"},
                     "forward.expire",
                     fmt::format("forward/{}", id),
                     json::object(),
                     200,
                     ""};
    try {
      RemoveForwards({forward}, event, in_kernel);
      spdlog::info("forward {}: expired ({}:{} -> {})", id, forward.client.ToString(),
                   forward.listen_port, forward.vm);
    } catch (const std::exception& failure) {
      spdlog::error("forward {}: cannot expire it, retrying: {}", id, failure.what());
    }
  }
  return expired.size();
}

}  // namespace netd
