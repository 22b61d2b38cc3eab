#include "netd/policy/schema.hpp"

namespace netd::policy {

std::filesystem::path SchemaPath() {
  return NETD_POLICY_SCHEMA_PATH;
}

}  // namespace netd::policy
