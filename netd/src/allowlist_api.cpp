// The allowlist routes of the control API: superadmins' egress rules for secure VMs.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/allowlist/rule_codec.hpp"
#include "netd/daemon/firewall_api.hpp"
#include "netd/daemon/gateway_options.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

using nlohmann::json;

namespace {

void RequireValidRuleName(std::string_view name) {
  if (!IsValidObjectId(name)) {
    throw Unprocessable("invalid_rule_name",
                        fmt::format("rule name \"{}\" is invalid: expected 1-{} characters of "
                                    "A-Z, a-z, 0-9, '.', '_' or '-'",
                                    name.substr(0, 80), kMaxObjectIdLength),
                        "rule");
  }
}

// The rule `body` names, or the API's error for what is wrong with it: a body of the wrong
// shape is a 400, a value no rule may hold a 422.
allowlist::AllowlistRule ParseRuleBody(std::string_view name, const json& body,
                                       const Config& config) {
  try {
    return allowlist::ParseAllowlistRule(name, body, RuleCodecOptionsOf(config));
  } catch (const allowlist::RuleError& error) {
    auto status = error.kind() == allowlist::RuleError::Kind::kShape ? 400 : 422;
    throw ApiError{status, error.code(), error.what(), error.field()};
  }
}

}  // namespace

const allowlist::AllowlistRule& FirewallApi::RequireRule(std::string_view name) {
  RequireValidRuleName(name);
  const auto* rule = firewall_.policy().FindRule(name);
  if (!rule) {
    throw ApiError{404, "no_such_rule", fmt::format("no allowlist rule named {}", name), "rule"};
  }
  return *rule;
}

void FirewallApi::RequireAssignableVm(std::string_view vm, const std::string& field) {
  RequireValidVmId(vm);
  const auto* binding = ipam_.Find(vm);
  if (!binding) {
    throw Unprocessable("vm_not_bound", fmt::format("VM {} is not bound", vm), field);
  }
  if (!firewall_.IsAllowlisted(binding->network)) {
    throw Unprocessable("vm_not_secure",
                        fmt::format("VM {} is on network {}, whose egress is open; only VMs of "
                                    "allowlisted networks can be assigned rules",
                                    vm, binding->network),
                        field);
  }
}

json FirewallApi::RuleJson(const allowlist::AllowlistRule& rule) const {
  auto body = allowlist::AllowlistRuleToJson(rule);
  body["created_at"] = IsoTime(rule.created_ms);
  body["updated_at"] = IsoTime(rule.updated_ms);
  body.erase("created_ms");
  body.erase("updated_ms");
  body["bound_vms"] = firewall_.policy().BoundVmsOf(rule).size();
  return body;
}

// Puts `rule` (new or replacing one) through policy, element limit, kernel, store and audit.
ApiResponse FirewallApi::CommitRule(const ApiCall& call, allowlist::AllowlistRule rule,
                                    const std::string& action, const json& request) {
  auto& policy = firewall_.policy();
  const auto* existing = policy.FindRule(rule.name);
  bool replacing = existing != nullptr;
  AuditEvent event{call.request.caller,   action, fmt::format("allowlist/{}", rule.name), request,
                   replacing ? 200 : 201, ""};
  auto now = AuditChain::NowMs();
  rule.created_ms = replacing ? existing->created_ms : now;
  rule.updated_ms = replacing ? existing->updated_ms : now;
  if (replacing && rule == *existing) {
    CommitMutation(audit_, {event});
    return JsonResponse(200, RuleJson(*existing));
  }
  rule.updated_ms = now;
  // `existing` points into the policy, which PutRule rewrites: keep a copy to undo with.
  std::optional<allowlist::AllowlistRule> before;
  if (replacing) before = *existing;
  auto undo = [&, name = rule.name] {
    if (before) {
      policy.PutRule(*before);
    } else {
      policy.RemoveRule(name);
    }
  };
  auto changes = policy.PutRule(rule);
  if (policy.allow_elements() > firewall_.max_allow_elements()) {
    auto total = policy.allow_elements();
    undo();
    throw Unprocessable(
        "too_many_elements",
        fmt::format("rule {} would make the allowlist hold {} kernel elements; the limit "
                    "(gateway.max_allowlist_elements) is {}",
                    rule.name, total, firewall_.max_allow_elements()),
        "destinations");
  }
  auto stored = allowlist::AllowlistRuleToJson(rule).dump();
  CommitMutation(audit_, {event, [&] { store_.PutAllowlistRule(rule.name, stored); }, changes, undo,
                          &firewall_});
  spdlog::info("allowlist {}: {} by uid {}: {} element changes, {} bound VMs", rule.name,
               replacing ? "updated" : "created", call.request.caller.uid, changes.size(),
               policy.BoundVmsOf(rule).size());
  return JsonResponse(event.status, RuleJson(*policy.FindRule(rule.name)));
}

ApiResponse FirewallApi::ListRules(const ApiCall&) {
  json rules = json::array();
  for (const auto& [name, rule] : firewall_.policy().rules()) rules.push_back(RuleJson(rule));
  return JsonResponse(200, {{"rules", rules}});
}

ApiResponse FirewallApi::GetRule(const ApiCall& call) {
  const auto& rule = RequireRule(call.captures[0]);
  auto body = RuleJson(rule);
  body["vms_bound"] = firewall_.policy().BoundVmsOf(rule);
  return JsonResponse(200, body);
}

ApiResponse FirewallApi::PutRule(const ApiCall& call) {
  const auto& name = call.captures[0];
  RequireValidRuleName(name);
  auto body = ParseObjectBody(call.request.body);
  auto rule = ParseRuleBody(name, body, config_);
  if (!rule.all_vms) {
    for (std::size_t i = 0; i < rule.vms.size(); ++i) {
      RequireAssignableVm(rule.vms[i], "vms");
    }
  }
  return CommitRule(call, std::move(rule), "allowlist.put", body);
}

ApiResponse FirewallApi::DeleteRule(const ApiCall& call) {
  const auto& name = call.captures[0];
  auto before = RequireRule(name);
  auto& policy = firewall_.policy();
  AuditEvent event{call.request.caller,
                   "allowlist.delete",
                   fmt::format("allowlist/{}", name),
                   json::object(),
                   200,
                   ""};
  auto changes = policy.RemoveRule(name);
  CommitMutation(audit_, {event, [&] { store_.DeleteAllowlistRule(name); }, changes,
                          [&] { policy.PutRule(before); }, &firewall_});
  spdlog::info("allowlist {}: deleted by uid {}: {} elements removed", name,
               call.request.caller.uid, changes.size());
  auto body = allowlist::AllowlistRuleToJson(before);
  body.erase("created_ms");
  body.erase("updated_ms");
  return JsonResponse(200, json{{"deleted", body}});
}

ApiResponse FirewallApi::AssignRule(const ApiCall& call) {
  const auto& name = call.captures[0];
  const auto& vm = call.captures[1];
  auto rule = RequireRule(name);
  RequireAssignableVm(vm, "vm");
  if (rule.all_vms) {
    throw ApiError{409, "rule_applies_to_all",
                   fmt::format("rule {} applies to every secure VM (\"*\"); replace its vms with "
                               "a list first",
                               name),
                   "vm"};
  }
  auto at = std::lower_bound(rule.vms.begin(), rule.vms.end(), vm);
  if (at == rule.vms.end() || *at != vm) rule.vms.insert(at, vm);
  return CommitRule(call, std::move(rule), "allowlist.assign", {{"vm", vm}});
}

ApiResponse FirewallApi::UnassignRule(const ApiCall& call) {
  const auto& name = call.captures[0];
  const auto& vm = call.captures[1];
  RequireValidRuleName(name);
  RequireValidVmId(vm);
  auto rule = RequireRule(name);
  if (rule.all_vms) {
    throw ApiError{409, "rule_applies_to_all",
                   fmt::format("rule {} applies to every secure VM (\"*\"); replace its vms with "
                               "a list to leave VMs out",
                               name),
                   "vm"};
  }
  auto at = std::lower_bound(rule.vms.begin(), rule.vms.end(), vm);
  if (at == rule.vms.end() || *at != vm) {
    throw ApiError{404, "vm_not_assigned",
                   fmt::format("VM {} is not assigned to rule {}", vm, name), "vm"};
  }
  rule.vms.erase(at);
  return CommitRule(call, std::move(rule), "allowlist.unassign", {{"vm", vm}});
}

}  // namespace netd
