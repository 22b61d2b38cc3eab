#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "netd/allowlist/policy.hpp"
#include "netd/common/address.hpp"
#include "netd/common/field_error.hpp"

namespace netd::allowlist {

// Limits on one rule, so that a single request cannot flood the kernel or the store.
inline constexpr std::size_t kMaxRuleDestinations = 256;
inline constexpr std::size_t kMaxRulePorts = 64;
inline constexpr std::size_t kMaxRuleVms = 10'000;
inline constexpr std::size_t kMaxRuleComment = 256;
inline constexpr std::size_t kMaxRuleQtypes = 16;

// What a rule's validation needs from the configuration.
struct RuleCodecOptions {
  // Nothing is routed between the enclave's networks, so no destination may overlap one.
  std::vector<EnclaveNetwork> enclave_networks;
};

// Why a rule body is not a rule: what() is the message, field() the field it names (e.g.
// "destinations[2]"), code() a stable machine-readable code ("invalid_destination").
class RuleError : public FieldError {
 public:
  enum class Kind {
    kShape,  // the body's structure: a missing or unknown field, a value of the wrong JSON type
    kValue,  // a value of the right type that no rule may hold
  };
  RuleError(Kind kind, std::string code, const std::string& message, std::string field)
      : FieldError(std::move(code), std::move(field), message), kind_(kind) {}

  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Validates a rule body {destinations, protocol, ports, qtypes?, vms, comment?} in full;
// throws RuleError at the first problem. Does not check that the VMs are bound: that is the
// caller's (it knows the bindings).
AllowlistRule ParseAllowlistRule(std::string_view name, const nlohmann::json& body,
                                 const RuleCodecOptions& options);

// The canonical form, stored and (with times made readable) returned:
// {rule, destinations, protocol, ports, qtypes, vms, comment, created_ms, updated_ms}.
nlohmann::json AllowlistRuleToJson(const AllowlistRule& rule);

// Reads a stored rule back; throws std::runtime_error naming the rule and the problem.
AllowlistRule AllowlistRuleFromStored(std::string_view text, const RuleCodecOptions& options);

}  // namespace netd::allowlist
