#include "netd/policy/schema.hpp"

#include <cstdlib>

namespace netd::policy {

std::filesystem::path SchemaPath() {
  if (const char* elsewhere = std::getenv("NETD_POLICY_SCHEMA")) return elsewhere;
  return NETD_POLICY_SCHEMA_PATH;
}

}  // namespace netd::policy
