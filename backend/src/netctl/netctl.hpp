#pragma once

#include <optional>
#include <ostream>
#include <string>

namespace netd::netctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,      // netd refused the request, or audit verify found the chain broken
  kExitUsage = 2,        // a usage error, or a file of netctl's own it cannot read or write
  kExitUnreachable = 3,  // netd not reachable, or not answering in its protocol
};

inline constexpr const char* kSocketEnvironmentVariable = "NETD_SOCKET";

// --socket wins over NETD_SOCKET, which wins over the default; an empty value counts as unset.
std::string ResolveSocketPath(const std::optional<std::string>& from_option,
                              const std::optional<std::string>& from_environment);

// Runs one netctl command line. Everything it prints goes to `out` and `err`, and the value of
// NETD_SOCKET is passed in, so that the whole command line handling is testable in-process.
int RunNetctl(int argc, const char* const* argv,
              const std::optional<std::string>& socket_from_environment, std::ostream& out,
              std::ostream& err);

}  // namespace netd::netctl
