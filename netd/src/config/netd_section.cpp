#include <fmt/format.h>

#include <set>

#include "sections.hpp"

namespace netd::config_reading {
namespace {

// Each role once, in the order first given.
void ReadRoles(TableReader& reader, Config& config) {
  const auto* array = reader.Array("roles");
  if (!array) return;
  for (const auto& element : *array) {
    auto value = element.value<std::string>();
    if (value != "gateway" && value != "host") {
      reader.Fail(&element, "roles", "expected each role to be \"gateway\" or \"host\"");
    }
    auto role = *value == "gateway" ? Role::kGateway : Role::kHost;
    if (!config.HasRole(role)) config.roles.push_back(role);
  }
}

}  // namespace

void ReadNetdSection(TableReader& reader, Config& config) {
  ReadRoles(reader, config);
  config.socket = ReadPath(reader, "socket", config.socket);
  config.state_dir = ReadPath(reader, "state_dir", config.state_dir);
  config.run_dir = ReadPath(reader, "run_dir", config.run_dir);
  config.log_level = reader.String("log_level").value_or(config.log_level);
  static const std::set<std::string, std::less<>> kLevels = {"trace", "debug",    "info", "warn",
                                                             "error", "critical", "off"};
  if (!kLevels.contains(config.log_level)) {
    reader.Fail(reader.Node("log_level"), "log_level",
                fmt::format("expected trace, debug, info, warn, error, critical or off, got "
                            "\"{}\"",
                            config.log_level));
  }
  reader.RejectUnknownKeys();
}

}  // namespace netd::config_reading
