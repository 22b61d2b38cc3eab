#pragma once

#include <string_view>

namespace netd::policy {

// The policy database's name in its schema (policy/schema/netd_policy.ovsschema).
inline constexpr std::string_view kDatabase = "netd_policy";

}  // namespace netd::policy
