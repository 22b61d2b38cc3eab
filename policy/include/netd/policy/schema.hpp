#pragma once

#include <filesystem>
#include <string_view>

namespace netd::policy {

// The OVSDB database the gateway publishes into and the hosts read (policy/schema/).
inline constexpr std::string_view kDatabase = "netd_policy";

// The schema file, for `ovsdb-tool create`: where the build said it is (the CMake cache variable
// NETD_POLICY_SCHEMA_PATH: the source tree's by default, the installed share/netd/ one for a
// package), or the file the environment's NETD_POLICY_SCHEMA names (a package build's tests
// read the source tree's before anything is installed).
std::filesystem::path SchemaPath();

}  // namespace netd::policy
