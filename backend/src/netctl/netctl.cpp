#include "netctl/netctl.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string_view>

#include "netctl/commands.hpp"
#include "netd/client/client.hpp"

namespace netd::netctl {
namespace {

// CLI11 lists subcommands with their whole description; the list shows only the first line (the
// summary) and a subcommand's own --help shows all of it.
class SummaryListFormatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* subcommand) const override {
    const std::string& description = subcommand->get_description();
    std::stringstream out;
    CLI::detail::format_help(out, subcommand->get_display_name(true),
                             description.substr(0, description.find('\n')), column_width_);
    return out.str();
  }

  // A blank line between the description and the usage line that follows it.
  std::string make_description(const CLI::App* app) const override {
    return CLI::Formatter::make_description(app) + "\n";
  }
};

constexpr double kMaxTimeoutSeconds = 86400;
const CLI::Validator kTimeoutSeconds(
    [](const std::string& value) {
      char* end = nullptr;
      const double seconds = std::strtod(value.c_str(), &end);
      const bool valid =
          end != value.c_str() && *end == '\0' && seconds > 0 && seconds <= kMaxTimeoutSeconds;
      return valid ? std::string()
                   : fmt::format("must be a number of seconds above 0, at most {}",
                                 kMaxTimeoutSeconds);
    },
    "");

std::string DescribeSocketSource(const std::optional<std::string>& from_option,
                                 const std::optional<std::string>& from_environment) {
  if (from_option && !from_option->empty()) return "socket path from --socket";
  if (from_environment && !from_environment->empty()) {
    return fmt::format("socket path from {}", kSocketEnvironmentVariable);
  }
  return fmt::format("the default socket path; set --socket or {} for another",
                     kSocketEnvironmentVariable);
}

// Usage errors in netctl's own voice, pointing at the help.
std::string DescribeUsageError(const CLI::App*, const CLI::Error& error) {
  return fmt::format("netctl: {}\nRun 'netctl --help' or 'netctl COMMAND --help' for usage.\n",
                     error.what());
}

constexpr const char* kNetctlDescription =
    R"(netctl - control netd, the enclave's network control plane

netctl talks to netd's control API (HTTP and JSON over netd's unix socket). It
binds VMs to the enclave's networks, manages the secure network's egress
allowlist, the groups of VMs that may reach each other and the kernel port
forwards to VMs, shows what netd holds, what its filtered DNS decided and how a
VM host's Open vSwitch ports are secured, and reads and checks the audit chain. Output is aligned tables for people; --json
prints netd's JSON response unchanged, for scripts. Global options (--socket,
--json, --timeout) may come before or after the command.)";

constexpr const char* kNetctlExamples = R"(  netctl status
  netctl networks
  netctl vm bind vm-42 --network secure --hostname analysis-42
  netctl --json vm list --network secure
  netctl allowlist add flexlm --dest lic.example.org --proto tcp --port 1717 \
      --vm vm-42
  netctl group add slurm --network secure --member vm-42,vm-43 --protocol tcp \
      --port 22,6817
  netctl forward open vm-42 --client 198.51.100.7
  netctl dns log --vm vm-42
  netctl host ports --bridge br-secure
  NETD_SOCKET=/tmp/netd/s.sock netctl audit verify

ENVIRONMENT
  NETD_SOCKET  the socket path when --socket is not given
               (default /run/netd/netd.sock))";

}  // namespace

std::string ResolveSocketPath(const std::optional<std::string>& from_option,
                              const std::optional<std::string>& from_environment) {
  if (from_option && !from_option->empty()) return *from_option;
  if (from_environment && !from_environment->empty()) return *from_environment;
  return std::string(client::kDefaultSocketPath);
}

int RunNetctl(int argc, const char* const* argv,
              const std::optional<std::string>& socket_from_environment, std::ostream& out,
              std::ostream& err) {
  std::string socket_path;
  bool json = false;
  double timeout_s = 10;
  Command command;

  CLI::App app(kNetctlDescription, "netctl");
  app.formatter(std::make_shared<SummaryListFormatter>());
  app.failure_message(DescribeUsageError);
  // Set before adding subcommands, which inherit it: global options work after the command too.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", "netctl " NETD_VERSION, "Print netctl's version and exit");
  app.footer(ExamplesAndExitStatus(kNetctlExamples) +
             "\nRun 'netctl COMMAND --help' for each command.");
  auto* socket_option = app.add_option("--socket", socket_path,
                                       "netd's control socket. Default: $NETD_SOCKET if\n"
                                       "set, else /run/netd/netd.sock")
                            ->type_name("PATH");
  app.add_flag("--json", json,
               "Print netd's JSON response body unchanged\n"
               "(pretty-printed) instead of a table. On a\n"
               "refusal, netd's error body goes to stdout too.");
  app.add_option("--timeout", timeout_s,
                 "Give up when netd has not answered completely\n"
                 "within SECONDS (exit status 3). Default: 10")
      ->type_name("SECONDS")
      ->check(kTimeoutSeconds);

  RegisterStatusCommands(app, command);
  RegisterVmCommands(app, command);
  RegisterAllowlistCommands(app, command);
  RegisterGroupCommands(app, command);
  RegisterForwardCommands(app, command);
  RegisterDnsCommands(app, command);
  RegisterHostCommands(app, command);
  RegisterAuditCommands(app, command);
  RegisterMetricsCommand(app, command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help is reported as a "parse error" with exit code 0.
    return app.exit(error, out, err) == 0 ? kExitOk : kExitUsage;
  }

  std::optional<std::string> socket_from_option;
  if (socket_option->count() > 0) socket_from_option = socket_path;
  const auto timeout = std::chrono::milliseconds(std::llround(timeout_s * 1000));
  const client::Client client(ResolveSocketPath(socket_from_option, socket_from_environment),
                              timeout);
  try {
    return command({.client = client, .json = json, .out = out, .err = err});
  } catch (const client::ApiError& refusal) {
    if (json) {
      nlohmann::json error = {{"code", refusal.code()}, {"message", refusal.message()}};
      if (refusal.field()) error["field"] = *refusal.field();
      out << nlohmann::json{{"error", error}}.dump(2) << '\n';
    }
    err << "netctl: " << refusal.what() << '\n';
    return kExitRefused;
  } catch (const client::UnreachableError& unreachable) {
    err << "netctl: " << unreachable.what() << '\n';
    std::string hint;
    const int cause = unreachable.cause().value();
    if (cause == ENOENT || cause == ECONNREFUSED) hint = "; is netd running?";
    if (cause == EACCES) {
      hint = "; only root and members of netd's service group (default netd) may connect";
    }
    err << fmt::format("netctl: ({}{})\n",
                       DescribeSocketSource(socket_from_option, socket_from_environment), hint);
    return kExitUnreachable;
  } catch (const client::ProtocolError& garbled) {
    err << "netctl: " << garbled.what() << '\n';
    return kExitUnreachable;
  } catch (const LocalFileError& failure) {
    err << "netctl: " << failure.what() << '\n';
    return kExitUsage;
  }
}

}  // namespace netd::netctl
