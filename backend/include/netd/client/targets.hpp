#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Request targets (path and query) of netd's control API, with every caller-supplied part
// percent-encoded so that an id can never reach another endpoint.
namespace netd::client::targets {

inline constexpr std::string_view kStatus = "/v1/status";
inline constexpr std::string_view kNetworks = "/v1/networks";
inline constexpr std::string_view kAllowlist = "/v1/allowlist";
inline constexpr std::string_view kGroups = "/v1/groups";
inline constexpr std::string_view kForwards = "/v1/forwards";
inline constexpr std::string_view kAuditVerify = "/v1/audit/verify";
inline constexpr std::string_view kHostPorts = "/v1/host/ports";
inline constexpr std::string_view kMetrics = "/metrics";

// Encodes everything except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string PercentEncode(std::string_view text);

// "/v1/vms/{vm}"
std::string Vm(std::string_view vm);
// "/v1/vms" or "/v1/vms?network={network}"
std::string Vms(std::optional<std::string_view> network = std::nullopt);
// "/v1/allowlist/{rule}"
std::string Rule(std::string_view rule);
// "/v1/allowlist/{rule}/vms/{vm}"
std::string RuleVm(std::string_view rule, std::string_view vm);
// "/v1/groups/{group}"
std::string Group(std::string_view group);
// "/v1/groups/{group}/members/{vm}"
std::string GroupMember(std::string_view group, std::string_view vm);
// "/v1/forwards/{id}"
std::string Forward(std::string_view id);
// "/v1/audit" with the `after` and `limit` query parameters that are set.
std::string Audit(std::optional<std::uint64_t> after = std::nullopt,
                  std::optional<std::uint64_t> limit = std::nullopt);
// "/v1/dns/log" with the `vm` and `limit` query parameters that are set.
std::string DnsLog(std::optional<std::string_view> vm = std::nullopt,
                   std::optional<std::uint64_t> limit = std::nullopt);

}  // namespace netd::client::targets
