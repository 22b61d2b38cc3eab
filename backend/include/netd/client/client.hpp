#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netd/client/errors.hpp"
#include "netd/client/models.hpp"

namespace netd::client {

inline constexpr std::string_view kDefaultSocketPath = "/run/netd/netd.sock";
inline constexpr std::chrono::milliseconds kDefaultTimeout{10'000};

struct Response {
  unsigned status = 0;
  nlohmann::json body;  // the parsed body; null when it is not JSON (GET /metrics)
  std::string text;     // the body exactly as received
};

// A client of netd's control API: HTTP/1.1 with JSON bodies over netd's unix socket.
// Each call opens its own connection and blocks until the answer or the deadline, so a Client
// holds no connection state: it is cheap to copy and safe to share between threads.
// Every call throws UnreachableError, ProtocolError or ApiError (see errors.hpp).
class Client {
 public:
  // `timeout` bounds each whole call: connecting, sending and receiving the complete answer.
  explicit Client(std::string socket_path = std::string(kDefaultSocketPath),
                  std::chrono::milliseconds timeout = kDefaultTimeout);

  const std::string& socket_path() const { return socket_path_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Any call of the API. `method` is an HTTP method ("GET", "PUT", ...); `target` is a path with
  // its query, already encoded (see targets.hpp). Returns statuses below 400, throws ApiError
  // for the others.
  Response Request(std::string_view method, std::string_view target,
                   const std::optional<nlohmann::json>& body = std::nullopt) const;

  StatusReport Status() const;
  std::vector<NetworkInfo> Networks() const;
  BindResult BindVm(std::string_view vm, std::string_view network,
                    std::optional<std::string_view> hostname = std::nullopt) const;
  VmBinding GetVm(std::string_view vm) const;
  std::vector<VmBinding> ListVms(std::optional<std::string_view> network = std::nullopt) const;
  // Returns the binding that was removed.
  VmBinding UnbindVm(std::string_view vm) const;
  // Allowlist rules. Reading them is open to every caller netd accepts; changing them needs
  // admin rights. A netd without the gateway role refuses all of them (not_a_gateway).
  std::vector<AllowlistRule> ListAllowlist() const;
  // The rule with vms_bound set.
  AllowlistRule GetAllowlistRule(std::string_view name) const;
  // Creates the rule or replaces the rule of that name as a whole.
  AllowlistPutResult PutAllowlistRule(std::string_view name, const AllowlistRuleSpec& spec) const;
  // Returns the rule that was removed, without times and counts.
  AllowlistRule DeleteAllowlistRule(std::string_view name) const;
  // Add one VM to, or remove it from, the rule's list of VMs; return the updated rule.
  AllowlistRule AssignAllowlistRule(std::string_view name, std::string_view vm) const;
  AllowlistRule UnassignAllowlistRule(std::string_view name, std::string_view vm) const;
  // Segmentation groups. Reading them is open to every caller netd accepts; changing them needs
  // admin rights. A netd without the gateway role refuses all of them (not_a_gateway).
  std::vector<Group> ListGroups() const;
  // The group with members_bound set.
  Group GetGroup(std::string_view name) const;
  // Creates the group or replaces the group of that name as a whole.
  GroupPutResult PutGroup(std::string_view name, const GroupSpec& spec) const;
  // Returns the group that was removed.
  Group DeleteGroup(std::string_view name) const;
  // Add one VM to, or remove it from, the group's members; return the updated group.
  Group AddGroupMember(std::string_view name, std::string_view vm) const;
  Group RemoveGroupMember(std::string_view name, std::string_view vm) const;
  // Kernel port forwards (service role; a netd without the gateway role refuses them).
  Forward OpenForward(const ForwardSpec& spec) const;
  std::vector<Forward> ListForwards() const;
  Forward GetForward(std::string_view id) const;
  // From now on for ttl_s seconds, or netd's default.
  Forward RenewForward(std::string_view id, std::optional<std::int64_t> ttl_s = std::nullopt) const;
  // Returns the forward that was closed; its sessions are cut.
  Forward CloseForward(std::string_view id) const;
  AuditPage Audit(std::optional<std::uint64_t> after = std::nullopt,
                  std::optional<std::uint64_t> limit = std::nullopt) const;
  AuditVerification VerifyAudit() const;
  // The filtered DNS's most recent decisions, newest first: all VMs' or only `vm`'s, at most
  // `limit` (1-1000; netd's default is 100). Needs admin rights; a netd without the gateway role
  // refuses it (no_filtered_dns).
  std::vector<DnsDecision> DnsLog(std::optional<std::string_view> vm = std::nullopt,
                                  std::optional<std::uint64_t> limit = std::nullopt) const;
  // Every port of the bridges netd manages on this VM host, with its port security state
  // (bridge by bridge, ports by name). Needs the service role; a netd without the host role
  // refuses it (no_host_role).
  std::vector<HostPort> HostPorts() const;
  // Prometheus text exposition format.
  std::string Metrics() const;

 private:
  std::string socket_path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace netd::client
