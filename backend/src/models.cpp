#include "netd/client/models.hpp"

namespace netd::client {

using nlohmann::json;

namespace {

// Optional members may be absent or null; both mean "not set".
std::optional<std::string> OptionalString(const json& object, const char* key) {
  auto member = object.find(key);
  if (member == object.end() || member->is_null()) return std::nullopt;
  return member->get<std::string>();
}

std::optional<std::int64_t> OptionalInteger(const json& object, const char* key) {
  auto member = object.find(key);
  if (member == object.end() || member->is_null()) return std::nullopt;
  return member->get<std::int64_t>();
}

std::optional<std::uint64_t> OptionalUnsigned(const json& object, const char* key) {
  auto member = object.find(key);
  if (member == object.end() || member->is_null()) return std::nullopt;
  return member->get<std::uint64_t>();
}

// Unwraps the one named member that carries a list, a binding or a rule.
template <typename T>
T DecodeMember(const json& body, const char* key) {
  if (!body.is_object() || !body.contains(key)) {
    throw ProtocolError(std::string("netd sent a response this client does not understand: no \"") +
                        key + "\" member");
  }
  return Decode<T>(body.at(key));
}

}  // namespace

void from_json(const json& object, VmBinding& binding) {
  object.at("vm").get_to(binding.vm);
  object.at("network").get_to(binding.network);
  object.at("ip").get_to(binding.ip);
  object.at("mac").get_to(binding.mac);
  binding.hostname = OptionalString(object, "hostname");
  object.at("created_at").get_to(binding.created_at);
  binding.lease_state.reset();
  binding.lease_expires_at.reset();
  if (auto lease = object.find("lease"); lease != object.end()) {
    binding.lease_state = lease->is_object() ? lease->at("state").get<std::string>() : "none";
    if (lease->is_object()) binding.lease_expires_at = OptionalString(*lease, "expires_at");
  }
  auto dns_learned = object.find("dns_learned");
  if (dns_learned == object.end() || dns_learned->is_null()) {
    binding.dns_learned.reset();
  } else {
    binding.dns_learned = dns_learned->get<std::vector<DnsLearned>>();
  }
}

void from_json(const json& object, DnsLearned& learned) {
  object.at("destination").get_to(learned.destination);
  object.at("protocol").get_to(learned.protocol);
  object.at("port").get_to(learned.port);
  object.at("name").get_to(learned.name);
  object.at("expires_at").get_to(learned.expires_at);
}

void from_json(const json& object, DnsDecision& decision) {
  object.at("at").get_to(decision.at);
  decision.vm = OptionalString(object, "vm");
  object.at("source").get_to(decision.source);
  object.at("name").get_to(decision.name);
  object.at("type").get_to(decision.type);
  object.at("verdict").get_to(decision.verdict);
  object.at("opened").get_to(decision.opened);
}

void from_json(const json& object, HostPort& port) {
  object.at("bridge").get_to(port.bridge);
  object.at("port").get_to(port.port);
  port.vm_id = OptionalString(object, "vm_id");
  port.vm = OptionalString(object, "vm");
  port.mac = OptionalString(object, "mac");
  port.address = OptionalString(object, "address");
  object.at("state").get_to(port.state);
  object.at("flows_installed").get_to(port.flows_installed);
  object.at("flows").get_to(port.flows);
  // Absent from a netd older than segmentation.
  if (auto peers = object.find("peers"); peers != object.end()) peers->get_to(port.peers);
  port.reason = OptionalString(object, "reason");
}

void from_json(const json& object, DhcpRange& range) {
  object.at("first").get_to(range.first);
  object.at("last").get_to(range.last);
}

void from_json(const json& object, NetworkInfo& network) {
  object.at("name").get_to(network.name);
  object.at("bridge").get_to(network.bridge);
  object.at("vlan").get_to(network.vlan);
  object.at("cidr").get_to(network.cidr);
  object.at("gateway").get_to(network.gateway);
  object.at("dhcp_range").get_to(network.dhcp_range);
  object.at("egress").get_to(network.egress);
  object.at("bound_vms").get_to(network.bound_vms);
  object.at("free_addresses").get_to(network.free_addresses);
}

void from_json(const json& object, StatusReport& status) {
  object.at("version").get_to(status.version);
  object.at("roles").get_to(status.roles);
  object.at("started_at").get_to(status.started_at);
  object.at("uptime_s").get_to(status.uptime_s);
  const auto& vms = object.at("vms");
  vms.at("total").get_to(status.vms_total);
  vms.at("by_network").get_to(status.vms_by_network);
  object.at("audit").at("length").get_to(status.audit_length);
  // The contract fixes only "null until the first pass"; keep any other form readable as text.
  auto last_reconcile = object.find("last_reconcile");
  if (last_reconcile == object.end() || last_reconcile->is_null()) {
    status.last_reconcile.reset();
  } else if (last_reconcile->is_string()) {
    status.last_reconcile = last_reconcile->get<std::string>();
  } else {
    status.last_reconcile = last_reconcile->dump();
  }
  auto drift = object.find("drift");
  status.drift_repairs = drift == object.end() ? 0 : drift->value("repairs", std::int64_t{0});
}

void from_json(const json& object, AuditCaller& caller) {
  caller.uid = object.value("uid", std::int64_t{0});
  caller.gid = object.value("gid", std::int64_t{0});
  caller.pid = object.value("pid", std::int64_t{0});
  caller.exe = OptionalString(object, "exe").value_or("");
}

void from_json(const json& object, AuditRecord& record) {
  object.at("seq").get_to(record.seq);
  object.at("prev_hash").get_to(record.prev_hash);
  object.at("hash").get_to(record.hash);
  record.unparsable = OptionalString(object, "unparsable");
  record.time_ms = object.value("time_ms", std::int64_t{0});
  record.caller = object.value("caller", AuditCaller{});
  record.action = object.value("action", std::string());
  record.object = object.value("object", std::string());
  record.request = object.value("request", json());
  record.result = object.value("result", std::string());
  record.status = object.value("status", 0u);
  record.error_code = OptionalString(object, "error_code");
}

void from_json(const json& object, AuditPage& page) {
  object.at("records").get_to(page.records);
  page.next_after = OptionalUnsigned(object, "next_after");
}

void from_json(const json& object, AuditVerification& verification) {
  object.at("ok").get_to(verification.ok);
  object.at("length").get_to(verification.length);
  verification.first_bad_seq = OptionalUnsigned(object, "first_bad_seq");
  verification.reason = OptionalString(object, "reason");
}

void from_json(const json& object, AllowlistRule& rule) {
  object.at("rule").get_to(rule.name);
  object.at("destinations").get_to(rule.destinations);
  object.at("protocol").get_to(rule.protocol);
  object.at("ports").get_to(rule.ports);
  // Absent from netds older than the field, which forwarded A and AAAA.
  auto qtypes = object.find("qtypes");
  rule.qtypes = qtypes == object.end() ? std::vector<std::string>{"A", "AAAA"}
                                       : qtypes->get<std::vector<std::string>>();
  // "*" or a list of VM ids; any other value fails the conversion to a list.
  const auto& vms = object.at("vms");
  rule.all_vms = vms == "*";
  rule.vms = rule.all_vms ? std::vector<std::string>() : vms.get<std::vector<std::string>>();
  rule.comment = OptionalString(object, "comment").value_or("");
  rule.created_at = OptionalString(object, "created_at");
  rule.updated_at = OptionalString(object, "updated_at");
  rule.bound_vms = OptionalInteger(object, "bound_vms");
  auto vms_bound = object.find("vms_bound");
  if (vms_bound == object.end() || vms_bound->is_null()) {
    rule.vms_bound.reset();
  } else {
    rule.vms_bound = vms_bound->get<std::vector<std::string>>();
  }
}

void to_json(json& object, const AllowlistRuleSpec& spec) {
  object = {{"destinations", spec.destinations},
            {"protocol", spec.protocol},
            {"ports", spec.ports},
            {"vms", spec.all_vms ? json("*") : json(spec.vms)}};
  if (!spec.qtypes.empty()) object["qtypes"] = spec.qtypes;
  if (spec.comment) object["comment"] = *spec.comment;
}

void from_json(const json& object, Group& group) {
  object.at("group").get_to(group.name);
  object.at("network").get_to(group.network);
  object.at("members").get_to(group.members);
  object.at("protocol").get_to(group.protocol);
  object.at("ports").get_to(group.ports);
  group.comment = OptionalString(object, "comment").value_or("");
  group.created_at = OptionalString(object, "created_at");
  group.updated_at = OptionalString(object, "updated_at");
  group.bound_members = OptionalInteger(object, "bound_members");
  auto members_bound = object.find("members_bound");
  if (members_bound == object.end() || members_bound->is_null()) {
    group.members_bound.reset();
  } else {
    group.members_bound = members_bound->get<std::vector<std::string>>();
  }
}

void to_json(json& object, const GroupSpec& spec) {
  object = {{"network", spec.network}, {"members", spec.members}};
  if (spec.protocol) object["protocol"] = *spec.protocol;
  if (!spec.ports.empty()) object["ports"] = spec.ports;
  if (spec.comment) object["comment"] = *spec.comment;
}

void from_json(const json& object, Forward& forward) {
  object.at("id").get_to(forward.id);
  object.at("vm").get_to(forward.vm);
  object.at("vm_ip").get_to(forward.vm_ip);
  object.at("vm_port").get_to(forward.vm_port);
  object.at("client_ip").get_to(forward.client_ip);
  forward.listen_ip = OptionalString(object, "listen_ip");
  object.at("listen_port").get_to(forward.listen_port);
  object.at("created_at").get_to(forward.created_at);
  object.at("expires_at").get_to(forward.expires_at);
  object.at("expires_in_s").get_to(forward.expires_in_s);
}

void to_json(json& object, const ForwardSpec& spec) {
  object = {{"vm", spec.vm}, {"client_ip", spec.client_ip}};
  if (spec.port) object["port"] = *spec.port;
  if (spec.ttl_s) object["ttl_s"] = *spec.ttl_s;
}

std::vector<Forward> DecodeForwards(const nlohmann::json& body) {
  return DecodeMember<std::vector<Forward>>(body, "forwards");
}

Forward DecodeClosedForward(const nlohmann::json& body) {
  return DecodeMember<Forward>(body, "closed");
}

std::vector<DnsDecision> DecodeDnsLog(const nlohmann::json& body) {
  return DecodeMember<std::vector<DnsDecision>>(body, "decisions");
}

std::vector<HostPort> DecodeHostPorts(const nlohmann::json& body) {
  return DecodeMember<std::vector<HostPort>>(body, "ports");
}

std::vector<NetworkInfo> DecodeNetworks(const nlohmann::json& body) {
  return DecodeMember<std::vector<NetworkInfo>>(body, "networks");
}

std::vector<VmBinding> DecodeVms(const nlohmann::json& body) {
  return DecodeMember<std::vector<VmBinding>>(body, "vms");
}

VmBinding DecodeUnbound(const nlohmann::json& body) {
  return DecodeMember<VmBinding>(body, "unbound");
}

std::vector<AllowlistRule> DecodeAllowlist(const nlohmann::json& body) {
  return DecodeMember<std::vector<AllowlistRule>>(body, "rules");
}

AllowlistRule DecodeDeletedRule(const nlohmann::json& body) {
  return DecodeMember<AllowlistRule>(body, "deleted");
}

std::vector<Group> DecodeGroups(const nlohmann::json& body) {
  return DecodeMember<std::vector<Group>>(body, "groups");
}

Group DecodeDeletedGroup(const nlohmann::json& body) {
  return DecodeMember<Group>(body, "deleted");
}

}  // namespace netd::client
