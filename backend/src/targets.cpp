#include "netd/client/targets.hpp"

#include <fmt/format.h>

namespace netd::client::targets {
namespace {

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  std::string encoded;
  encoded.reserve(text.size());
  for (char c : text) {
    if (IsUnreserved(c)) {
      encoded += c;
    } else {
      encoded += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return encoded;
}

std::string Vm(std::string_view vm) {
  return "/v1/vms/" + PercentEncode(vm);
}

std::string Vms(std::optional<std::string_view> network) {
  if (!network) return "/v1/vms";
  return "/v1/vms?network=" + PercentEncode(*network);
}

std::string Forward(std::string_view id) {
  return "/v1/forwards/" + PercentEncode(id);
}

std::string Rule(std::string_view rule) {
  return "/v1/allowlist/" + PercentEncode(rule);
}

std::string RuleVm(std::string_view rule, std::string_view vm) {
  return Rule(rule) + "/vms/" + PercentEncode(vm);
}

std::string Group(std::string_view group) {
  return "/v1/groups/" + PercentEncode(group);
}

std::string GroupMember(std::string_view group, std::string_view vm) {
  return Group(group) + "/members/" + PercentEncode(vm);
}

std::string Audit(std::optional<std::uint64_t> after, std::optional<std::uint64_t> limit) {
  std::string target = "/v1/audit";
  char separator = '?';
  if (after) {
    target += fmt::format("{}after={}", separator, *after);
    separator = '&';
  }
  if (limit) target += fmt::format("{}limit={}", separator, *limit);
  return target;
}

std::string DnsLog(std::optional<std::string_view> vm, std::optional<std::uint64_t> limit) {
  std::string target = "/v1/dns/log";
  char separator = '?';
  if (vm) {
    target += fmt::format("{}vm={}", separator, PercentEncode(*vm));
    separator = '&';
  }
  if (limit) target += fmt::format("{}limit={}", separator, *limit);
  return target;
}

}  // namespace netd::client::targets
