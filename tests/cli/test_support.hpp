#pragma once

#include <string>
#include <vector>

// What the tests that run the netctl binary share. (Running programs and temporary directories
// come from tests/lab; running a real netd is tests/support's NetdProcess.)
namespace netd::cli_testing {

// The environment the tests give netctl (run with inherit_environment = false): nothing of the
// machine's, so that a NETD_SOCKET or locale there cannot change what the tests see.
std::vector<std::string> MinimalEnvironment(std::vector<std::string> extra = {});

}  // namespace netd::cli_testing
