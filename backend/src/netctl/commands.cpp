#include "netctl/commands.hpp"

#include <fmt/format.h>

#include "netctl/netctl.hpp"

namespace netd::netctl {
namespace {

constexpr std::string_view kExitStatus = R"text(EXIT STATUS
  0  success
  1  netd refused the request; stderr reads
       netctl: <message> (<code>[, field <field>])
     also: audit verify found the chain broken
  2  usage error: unknown command, missing or malformed argument
  3  netd not reachable at the socket (missing, connection refused, permission
     denied, no complete answer within --timeout), or not answering in netd's
     protocol)text";

}  // namespace

bool PrintedAsJson(const Context& context, const client::Response& response) {
  if (!context.json) return false;
  context.out << response.body.dump(2) << '\n';
  return true;
}

std::string ExamplesAndExitStatus(std::string_view examples) {
  return fmt::format("EXAMPLES\n{}\n\n{}\n", examples, kExitStatus);
}

// A subcommand's help does not list the global options; point at them.
std::string Footer(std::string_view examples) {
  return "GLOBAL OPTIONS\n  --socket PATH, --json, --timeout SECONDS: see 'netctl --help'\n\n" +
         ExamplesAndExitStatus(examples);
}

const CLI::Validator kNotEmpty(
    [](const std::string& value) {
      return value.empty() ? std::string("must not be empty") : std::string();
    },
    "");

const CLI::Validator kNotNegative(
    [](const std::string& value) {
      return value.starts_with('-') ? std::string("must not be negative") : std::string();
    },
    "");

}  // namespace netd::netctl
