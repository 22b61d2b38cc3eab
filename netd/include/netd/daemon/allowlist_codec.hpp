#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "netd/allowlist/policy.hpp"
#include "netd/daemon/config.hpp"

namespace netd {

// Limits on one rule, so that a single request cannot flood the kernel or the store.
inline constexpr std::size_t kMaxRuleDestinations = 256;
inline constexpr std::size_t kMaxRulePorts = 64;
inline constexpr std::size_t kMaxRuleVms = 10'000;
inline constexpr std::size_t kMaxRuleComment = 256;
inline constexpr std::size_t kMaxRuleQtypes = 16;

// Validates a rule body {destinations, protocol, ports, qtypes?, vms, comment?} in full. Throws
// ApiError (400 for shape, 422 for values) naming the field, e.g. "destinations[2]".
// Does not check that the VMs are bound: that is the caller's (it knows the bindings).
allowlist::AllowlistRule ParseAllowlistRule(std::string_view name, const nlohmann::json& body,
                                            const Config& config);

// The canonical form, stored and (with times made readable) returned:
// {rule, destinations, protocol, ports, qtypes, vms, comment, created_ms, updated_ms}.
nlohmann::json AllowlistRuleToJson(const allowlist::AllowlistRule& rule);

// Reads a stored rule back; throws std::runtime_error naming the rule and the problem.
allowlist::AllowlistRule AllowlistRuleFromStored(std::string_view text, const Config& config);

}  // namespace netd
