#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "netd/client/errors.hpp"

// The typed shapes of netd's control API responses. Addresses stay in the text form netd sends
// them: callers pass them on (to libvirt, to logs) rather than compute with them.
namespace netd::client {

// A destination the gateway's filtered DNS opened for a secure VM: an allowed answer named the
// address, so the VM may connect to it on the protocol and port its rule names until expires_at.
struct DnsLearned {
  std::string destination;  // IPv4 address
  std::string protocol;     // "tcp" or "udp"
  std::uint16_t port = 0;
  std::string name;        // the name whose answer held the address
  std::string expires_at;  // RFC 3339, UTC
};

struct VmBinding {
  std::string vm;
  std::string network;
  std::string ip;
  std::string mac;
  std::optional<std::string> hostname;
  std::string created_at;  // RFC 3339, UTC
  // GET /v1/vms/{vm} on a gateway: "active" or "expired" with its expiry (none: infinite), or
  // "none" when the VM has not taken its lease; absent elsewhere.
  std::optional<std::string> lease_state;
  std::optional<std::string> lease_expires_at;
  // GET /v1/vms/{vm} on a gateway: the destinations the filtered DNS has opened for the VM
  // (empty for a VM it opened none for); absent elsewhere.
  std::optional<std::vector<DnsLearned>> dns_learned;
};

struct BindResult {
  VmBinding binding;
  // false: the VM was already bound to that network (the call is idempotent); a hostname that
  // differed from the stored one has been replaced.
  bool created = false;
};

struct DhcpRange {
  std::string first;
  std::string last;
};

struct NetworkInfo {
  std::string name;
  std::string bridge;
  int vlan = 0;
  std::string cidr;
  std::string gateway;
  DhcpRange dhcp_range;
  std::string egress;  // "allowlist" or "open"
  std::int64_t bound_vms = 0;
  std::int64_t free_addresses = 0;
};

struct StatusReport {
  std::string version;
  std::vector<std::string> roles;
  std::string started_at;  // RFC 3339, UTC
  std::int64_t uptime_s = 0;
  std::int64_t vms_total = 0;
  std::map<std::string, std::int64_t> vms_by_network;
  std::int64_t audit_length = 0;
  // netd's description of its last reconcile pass; absent until one has run.
  std::optional<std::string> last_reconcile;
  std::int64_t drift_repairs = 0;
};

struct AuditCaller {
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t pid = 0;
  std::string exe;
};

// Audit records are shown as stored, also when the store was edited behind netd's back (that is
// when someone reads them): only the chain's own fields are required, the others default.
struct AuditRecord {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;  // milliseconds since the Unix epoch
  AuditCaller caller;
  std::string action;  // "vm.bind", ...
  std::string object;  // "vm/vm1", ...
  nlohmann::json request;
  std::string result;  // "ok" or "refused"
  unsigned status = 0;
  std::optional<std::string> error_code;  // set on refused records
  std::string prev_hash;
  std::string hash;
  // The stored text, when it is not JSON at all (netd then sends only seq and the hashes).
  std::optional<std::string> unparsable;
};

struct AuditPage {
  std::vector<AuditRecord> records;
  // The value of `after` that continues the listing; absent when netd sent none.
  std::optional<std::uint64_t> next_after;
};

struct AuditVerification {
  bool ok = false;
  std::uint64_t length = 0;
  std::optional<std::uint64_t> first_bad_seq;
  std::optional<std::string> reason;
};

// An egress rule of the allowlisted (secure) networks: which VMs may open connections to which
// destinations, protocol and ports.
struct AllowlistRule {
  std::string name;
  // As given: IPv4 addresses, CIDRs and host names ("lic.example.org", "*.example.org").
  std::vector<std::string> destinations;
  std::string protocol;            // "tcp", "udp" or "both"
  std::vector<std::string> ports;  // "1717", "27000-27010"
  // The DNS query types the filtered DNS forwards for the rule's host names ("A", "AAAA", ...).
  std::vector<std::string> qtypes;
  bool all_vms = false;          // "*": every secure VM, also those bound later
  std::vector<std::string> vms;  // empty when all_vms
  std::string comment;           // empty when none was given
  // Absent from the answer to a delete, which returns the rule as it was stored.
  std::optional<std::string> created_at;  // RFC 3339, UTC
  std::optional<std::string> updated_at;
  // How many bound secure VMs the rule opens its destinations for.
  std::optional<std::int64_t> bound_vms;
  // Those VMs' ids; only GetAllowlistRule's answer lists them.
  std::optional<std::vector<std::string>> vms_bound;
};

struct AllowlistPutResult {
  AllowlistRule rule;
  // false: a rule of that name existed and has been replaced (or was already equal).
  bool created = false;
};

// The body of PUT /v1/allowlist/{rule}: the whole rule, which replaces any rule of that name.
// Values are sent as given; netd validates them and names the field it rejects.
struct AllowlistRuleSpec {
  std::vector<std::string> destinations;
  std::string protocol;
  std::vector<std::string> ports;
  std::vector<std::string> qtypes{};  // empty: not sent, netd's default (A and AAAA)
  bool all_vms = false;               // sends "*" instead of `vms`
  std::vector<std::string> vms;
  std::optional<std::string> comment;
};

// A segmentation group: VMs of one network that may reach each other (both ways) on a protocol
// and ports; secure VMs outside a common group cannot.
struct Group {
  std::string name;
  std::string network;
  std::vector<std::string> members;       // VM ids, sorted; they need not be bound
  std::string protocol;                   // "all", "tcp", "udp" or "icmp"
  std::vector<std::uint16_t> ports;       // tcp and udp: empty means every port
  std::string comment;                    // empty when none was given
  std::optional<std::string> created_at;  // RFC 3339, UTC
  std::optional<std::string> updated_at;
  // How many members are bound to the group's network now.
  std::optional<std::int64_t> bound_members;
  // Those members' ids; only GetGroup's answer lists them.
  std::optional<std::vector<std::string>> members_bound;
};

struct GroupPutResult {
  Group group;
  // false: a group of that name existed and has been replaced (or was already equal).
  bool created = false;
};

// The body of PUT /v1/groups/{group}: the whole group, which replaces any group of that name.
// Values are sent as given; netd validates them and names the field it rejects.
struct GroupSpec {
  std::string network;
  std::vector<std::string> members{};
  std::optional<std::string> protocol{};  // not sent when unset: netd's default, "all"
  std::vector<std::int64_t> ports{};      // not sent when empty: every port
  std::optional<std::string> comment{};
};

// A kernel port forward: TCP from client_ip to listen_ip:listen_port reaches vm_ip:vm_port.
struct Forward {
  std::string id;
  std::string vm;
  std::string vm_ip;
  std::uint16_t vm_port = 0;
  std::string client_ip;
  std::optional<std::string> listen_ip;  // null when netd's gateway.forward_address is unset
  std::uint16_t listen_port = 0;
  std::string created_at;  // RFC 3339, UTC
  std::string expires_at;
  std::int64_t expires_in_s = 0;
};

// The body of POST /v1/forwards.
struct ForwardSpec {
  std::string vm;
  std::string client_ip;
  std::optional<std::uint16_t> port;  // the VM's port; netd's default is 22
  std::optional<std::int64_t> ttl_s;  // netd's default is gateway.forward_ttl_s
};

// One decision of the gateway's filtered DNS on a query, as GET /v1/dns/log lists them.
struct DnsDecision {
  std::string at;                 // RFC 3339, UTC, with milliseconds
  std::optional<std::string> vm;  // null when the source is not a bound secure VM
  std::string source;             // the querying address
  std::string name;               // lower case; empty for a name that is not plain text
  std::uint16_t type = 0;         // the query type number: 1 A, 28 AAAA, 16 TXT, ...
  // "allowed", "cached", "local", "refused", "unknown_source", "rate_limited", "servfail",
  // "upstream_timeout" or "overloaded"
  std::string verdict;
  std::vector<std::string> opened;  // the addresses an allowed answer opened for the VM
};

// One port of a bridge netd manages on a VM host and what its port security does with it, as
// GET /v1/host/ports lists them.
struct HostPort {
  std::string bridge;  // "br-secure", ...
  std::string port;    // the OVS port's name ("vnet0"; the bridge's own name for its internal port)
  std::optional<std::string> vm_id;    // external_ids:vm-id as libvirt sets it; null when none
  std::optional<std::string> vm;       // the libvirt domain's name, where netd knows it
  std::optional<std::string> mac;      // external_ids:attached-mac; null when none or not a MAC
  std::optional<std::string> address;  // the IPv4 address the MAC encodes ("pinned" ports)
  // "forward" (the bridge's internal port or its uplink), "pinned" (to its MAC and the address
  // the MAC encodes), "pinned-mac" (to its MAC, any source address of the network), "refused"
  // (no flows: everything it sends is dropped), "vm-stopped" (its VM is not running: no flows)
  // or "pending" (no OpenFlow port number yet)
  std::string state;
  bool flows_installed = false;       // the switch acknowledged the port's current flows (barrier)
  std::uint64_t flows = 0;            // the number of flows the port's state gives it
  // On the secure network: the VMs (ids) this port's VM reaches, sharing a group with it.
  std::vector<std::string> peers;
  std::optional<std::string> reason;  // why a port is refused, stopped, pending or MAC-pinned
};

// nlohmann::json conversions, found by argument-dependent lookup (`body.get<VmBinding>()`).
// They throw nlohmann::json::exception on a body of the wrong shape; Decode() turns that into a
// ProtocolError.
void from_json(const nlohmann::json& json, VmBinding& binding);
void from_json(const nlohmann::json& json, DhcpRange& range);
void from_json(const nlohmann::json& json, NetworkInfo& network);
void from_json(const nlohmann::json& json, StatusReport& status);
void from_json(const nlohmann::json& json, AuditCaller& caller);
void from_json(const nlohmann::json& json, AuditRecord& record);
void from_json(const nlohmann::json& json, AuditPage& page);
void from_json(const nlohmann::json& json, AuditVerification& verification);
void from_json(const nlohmann::json& json, AllowlistRule& rule);
void to_json(nlohmann::json& json, const AllowlistRuleSpec& spec);
void from_json(const nlohmann::json& json, Group& group);
void to_json(nlohmann::json& json, const GroupSpec& spec);
void from_json(const nlohmann::json& json, Forward& forward);
void to_json(nlohmann::json& json, const ForwardSpec& spec);
void from_json(const nlohmann::json& json, DnsLearned& learned);
void from_json(const nlohmann::json& json, DnsDecision& decision);
void from_json(const nlohmann::json& json, HostPort& port);

// The response bodies that wrap a list, a binding or a rule in one named member.
std::vector<NetworkInfo> DecodeNetworks(const nlohmann::json& body);
std::vector<VmBinding> DecodeVms(const nlohmann::json& body);
VmBinding DecodeUnbound(const nlohmann::json& body);
std::vector<AllowlistRule> DecodeAllowlist(const nlohmann::json& body);
AllowlistRule DecodeDeletedRule(const nlohmann::json& body);
std::vector<Group> DecodeGroups(const nlohmann::json& body);
Group DecodeDeletedGroup(const nlohmann::json& body);
std::vector<Forward> DecodeForwards(const nlohmann::json& body);
Forward DecodeClosedForward(const nlohmann::json& body);
std::vector<DnsDecision> DecodeDnsLog(const nlohmann::json& body);
std::vector<HostPort> DecodeHostPorts(const nlohmann::json& body);

// Converts `body` to T, reporting a body of the wrong shape as a ProtocolError.
template <typename T>
T Decode(const nlohmann::json& body) {
  try {
    return body.get<T>();
  } catch (const nlohmann::json::exception& error) {
    throw ProtocolError(std::string("netd sent a response this client does not understand: ") +
                        error.what());
  }
}

}  // namespace netd::client
