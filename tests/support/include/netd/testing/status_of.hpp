#pragma once

#include <nlohmann/json.hpp>

#include "netd/daemon/capability.hpp"

namespace netd::testing {

// What `capability` shows in /v1/status.
inline nlohmann::json StatusOf(const Capability& capability) {
  StatusReport report;
  capability.Report(report);
  return report.status();
}

}  // namespace netd::testing
