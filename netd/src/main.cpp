#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "netd/daemon/config.hpp"
#include "netd/daemon/daemon.hpp"

namespace {

constexpr const char* kDescription = R"(netd - network control plane of the secure research enclave

netd owns the enclave's network decisions. In the gateway role (the backend server) it
keeps the VM bindings (IPAM), the nftables table `inet ticrypt`, DHCP and filtered DNS; in
the host role (a VM host) it programs the Open vSwitch bridges and the port security of
every VM port. Backend services and superadmins talk to it over a unix socket (HTTP/1.1 +
JSON), usually through `netctl`.)";

constexpr const char* kFooter = R"(
MODES
  netd --config FILE          run the daemon
  netd --check-config FILE    validate FILE and exit: 0 valid, 1 invalid (the error names
                              file, line, column and key)
  netd --demo-config          print the single-server demo configuration (both roles, the
                              networks secure, service and datain)

SIGNALS
  SIGTERM, SIGINT   stop gracefully: stop accepting, finish answers, exit 0
  SIGHUP            re-read the file: log_level and [api] apply at once; other changes are
                    logged as needing a restart

FILES
  <state_dir>/netd.db     the state store (SQLite, WAL): bindings and the audit chain
  <state_dir>/netd.lock   held while netd runs: a second netd on it refuses to start
  <socket>                the control API, mode 0660, group = api.service_group

EXIT STATUS
  0 stopped cleanly or configuration valid; 1 configuration or start-up error; 2 usage error

EXAMPLES
  netd --check-config /etc/netd/netd.toml
  netd --config /etc/netd/netd.toml --log-level debug
  netd --demo-config > /tmp/demo.toml && netd --config /tmp/demo.toml --state-dir /tmp/s

See docs/config.md for every key and docs/api.md for the control API.)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "netd");
  app.footer(kFooter);
  app.get_formatter()->column_width(32);
  app.set_version_flag("--version", "netd " NETD_VERSION, "Print netd's version and exit");

  std::string config_path;
  std::string check_path;
  bool demo_config = false;
  netd::ConfigOverrides overrides;
  std::string socket, state_dir, run_dir, log_level;

  auto* run = app.add_option("--config", config_path, "Run the daemon with this TOML file")
                  ->check(CLI::ExistingFile);
  auto* check = app.add_option("--check-config", check_path, "Validate this file and exit");
  auto* demo = app.add_flag("--demo-config", demo_config, "Print the demo configuration and exit");
  run->excludes(check)->excludes(demo);
  check->excludes(demo);
  app.add_option("--socket", socket, "Control socket path (overrides netd.socket)");
  app.add_option("--state-dir", state_dir, "State directory (overrides netd.state_dir)");
  app.add_option("--run-dir", run_dir, "Runtime directory (overrides netd.run_dir)");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, critical or off (overrides netd.log_level)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }

  if (demo_config) {
    std::cout << netd::DemoConfigText();
    return 0;
  }
  if (!check_path.empty()) {
    try {
      netd::LoadConfigFile(check_path);
      std::cout << check_path << ": valid\n";
      return 0;
    } catch (const netd::ConfigError& error) {
      std::cerr << error.what() << "\n";
      return 1;
    }
  }
  if (config_path.empty()) {
    std::cerr << "netd: one of --config FILE, --check-config FILE or --demo-config is needed; "
                 "see netd --help\n";
    return 2;
  }

  auto absolute = [](const std::string& path) -> std::optional<std::filesystem::path> {
    if (path.empty()) return std::nullopt;
    return std::filesystem::absolute(path);
  };
  overrides.socket = absolute(socket);
  overrides.state_dir = absolute(state_dir);
  overrides.run_dir = absolute(run_dir);
  if (!log_level.empty()) overrides.log_level = log_level;

  auto load = [&] {
    auto config = netd::LoadConfigFile(config_path);
    overrides.ApplyTo(config);
    return config;
  };
  try {
    auto config = load();
    netd::SetUpLogging(config.log_level);
    return netd::RunDaemon(std::move(config), load);
  } catch (const netd::ConfigError& error) {
    std::cerr << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    spdlog::critical("netd cannot start: {}", error.what());
    std::cerr << "netd: " << error.what() << "\n";
    return 1;
  }
}
