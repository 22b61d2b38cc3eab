#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "netd/client/client.hpp"

// What netctl's command files share: each file adds one resource's subcommands to the app and
// says, through a Command, what the parsed command line is to do.
namespace netd::netctl {

// What a command runs with once the command line is parsed.
struct Context {
  const client::Client& client;
  bool json = false;  // --json
  std::ostream& out;
  std::ostream& err;
};

// The work of the subcommand the command line named; returns netctl's exit status. A
// subcommand's callback sets it, taking the option values it needs along.
using Command = std::function<int(const Context&)>;

// Has `subcommand`, once parsed, set `command` to run `work` with the option values. The
// callback holds the values, so they live as long as the app.
template <typename Options>
void RunsWith(CLI::App* subcommand, Command& command, std::shared_ptr<const Options> options,
              int (*work)(const Context&, const Options&)) {
  subcommand->callback([&command, options, work] {
    command = [options, work](const Context& context) { return work(context, *options); };
  });
}

// The registrations, in the order `netctl --help` lists the commands. Each keeps its option
// values alive in the callbacks it gives the app.
void RegisterStatusCommands(CLI::App& app, Command& command);  // status, networks
void RegisterVmCommands(CLI::App& app, Command& command);
void RegisterAllowlistCommands(CLI::App& app, Command& command);
void RegisterGroupCommands(CLI::App& app, Command& command);
void RegisterForwardCommands(CLI::App& app, Command& command);
void RegisterDnsCommands(CLI::App& app, Command& command);
void RegisterHostCommands(CLI::App& app, Command& command);
void RegisterAuditCommands(CLI::App& app, Command& command);
void RegisterMetricsCommand(CLI::App& app, Command& command);

// A file of netctl's own that it cannot read or write, or whose content is not what the command
// takes (an anchor file, an exported chain): exit status 2, like a usage error.
class LocalFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// With --json, prints netd's response body unchanged and returns true.
bool PrintedAsJson(const Context& context, const client::Response& response);

// The EXAMPLES and EXIT STATUS sections that end every help text.
std::string ExamplesAndExitStatus(std::string_view examples);

// A subcommand's help footer: a pointer at the global options, its examples, the exit status.
std::string Footer(std::string_view examples);

// An option whose value names something ("--bridge ''" would match nothing).
extern const CLI::Validator kNotEmpty;

// CLI11 reads "-1" into an unsigned option as a huge number; refuse it instead.
extern const CLI::Validator kNotNegative;

}  // namespace netd::netctl
