#pragma once

#include <filesystem>
#include <functional>
#include <optional>

#include "netd/daemon/config.hpp"

namespace netd {

// Command-line values that win over the configuration file, also across SIGHUP reloads.
struct ConfigOverrides {
  std::optional<std::filesystem::path> socket;
  std::optional<std::filesystem::path> state_dir;
  std::optional<std::filesystem::path> run_dir;
  std::optional<std::string> log_level;

  void ApplyTo(Config& config) const;
};

// Sets up spdlog: one line per event on stderr (the journal under systemd).
void SetUpLogging(const std::string& level);

// The daemon on one io_context: holds the state-directory lock, loads the store, serves the
// control API, reloads on SIGHUP and stops on SIGTERM/SIGINT. Returns the exit status.
int RunDaemon(Config config, const std::function<Config()>& reload);

}  // namespace netd
