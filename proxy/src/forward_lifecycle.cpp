#include "netd/proxy/forward_lifecycle.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <random>

namespace netd::proxy {
namespace {

// Unicast addresses a client can have: not this-network, loopback, link-local multicast,
// multicast, reserved or broadcast.
bool IsUnicast(Ipv4Address address) {
  auto first = address.value() >> 24;
  return first != 0 && first != 127 && first < 224;
}

ForwardError Invalid(std::string code, std::string field, const std::string& message) {
  return ForwardError(ForwardError::Kind::kInvalid, std::move(code), std::move(field), message);
}

Ipv4Address ValidClient(std::string_view text, const std::vector<EnclaveNetwork>& enclave) {
  auto client = Ipv4Address::Parse(text);
  if (!client || !IsUnicast(*client)) {
    throw Invalid(
        "invalid_client_ip", "client_ip",
        fmt::format("client_ip \"{}\" is not a unicast IPv4 address", text.substr(0, 64)));
  }
  for (const auto& network : enclave) {
    if (network.cidr.Contains(*client)) {
      throw Invalid("invalid_client_ip", "client_ip",
                    fmt::format("client_ip {} is inside the enclave network {} ({}); "
                                "forwards serve clients outside the enclave",
                                client->ToString(), network.name, network.cidr.ToString()));
    }
  }
  return *client;
}

std::uint16_t ValidVmPort(const IntegerField& requested,
                          const std::vector<std::uint16_t>& allowed) {
  std::uint16_t vm_port = 22;
  if (!std::holds_alternative<std::monostate>(requested)) {
    const auto* port = std::get_if<std::int64_t>(&requested);
    if (!port || *port < 1 || *port > 65535) {
      throw Invalid("invalid_port", "port", "port must be an integer 1-65535");
    }
    vm_port = static_cast<std::uint16_t>(*port);
  }
  if (std::find(allowed.begin(), allowed.end(), vm_port) == allowed.end()) {
    throw Invalid("port_not_allowed", "port",
                  fmt::format("forwards may reach VM port(s) {} (gateway.forward_vm_ports), "
                              "not {}",
                              fmt::join(allowed, ", "), vm_port));
  }
  return vm_port;
}

}  // namespace

std::string RandomForwardId() {
  std::random_device random;
  return fmt::format("fwd-{:08x}{:04x}", random(), random() & 0xffff);
}

ForwardTerms ForwardLifecycle::Validate(const OpenRequest& request) const {
  auto client = ValidClient(request.client_ip, options_.enclave_networks);
  auto vm_port = ValidVmPort(request.vm_port, options_.vm_ports);
  return {client, vm_port, Ttl(request.ttl_s)};
}

std::int64_t ForwardLifecycle::Ttl(const IntegerField& ttl_s) const {
  if (std::holds_alternative<std::monostate>(ttl_s)) return options_.default_ttl_s;
  const auto* seconds = std::get_if<std::int64_t>(&ttl_s);
  if (!seconds || *seconds < 1 || *seconds > options_.max_ttl_s) {
    throw Invalid("invalid_ttl", "ttl_s",
                  fmt::format("ttl_s must be an integer of seconds, 1-{} "
                              "(gateway.forward_max_ttl_s)",
                              options_.max_ttl_s));
  }
  return *seconds;
}

Forward ForwardLifecycle::PlanOpen(const ForwardTable& table, const ForwardTerms& terms,
                                   std::string vm, Ipv4Address vm_ip, std::int64_t now_ms) const {
  auto listen_port = table.FreePort(terms.client);
  if (!listen_port) {
    throw ForwardError(ForwardError::Kind::kNoFreePort, "forward_ports_exhausted", "client_ip",
                       fmt::format("client {} already holds a forward on every port of {} "
                                   "(gateway.forward_ports); close one first",
                                   terms.client.ToString(), table.listen_ports().ToString()));
  }
  auto id = new_id_();
  while (table.Find(id)) id = new_id_();
  return {std::move(id), std::move(vm), vm_ip,  terms.vm_port,
          terms.client,  *listen_port,  now_ms, now_ms + terms.ttl_s * 1000};
}

Forward ForwardLifecycle::PlanRenewal(Forward forward, const IntegerField& ttl_s,
                                      std::int64_t now_ms) const {
  forward.expires_ms = now_ms + Ttl(ttl_s) * 1000;
  return forward;
}

std::vector<DueForward> ForwardLifecycle::Due(const ForwardTable& table,
                                              std::int64_t now_ms) const {
  std::vector<DueForward> due;
  for (const auto& id : table.ExpiredAt(now_ms)) {
    const auto& forward = *table.Find(id);
    // Past half its grace the kernel may have dropped the element itself: delete only the rest.
    due.push_back({forward, now_ms < forward.expires_ms + options_.grace_ms / 2});
  }
  return due;
}

}  // namespace netd::proxy
