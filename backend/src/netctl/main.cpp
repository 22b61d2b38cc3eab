#include <cstdlib>
#include <exception>
#include <iostream>

#include "netctl/netctl.hpp"

int main(int argc, char** argv) {
  try {
    std::optional<std::string> socket_from_environment;
    if (const char* value = std::getenv(netd::netctl::kSocketEnvironmentVariable)) {
      socket_from_environment = value;
    }
    return netd::netctl::RunNetctl(argc, argv, socket_from_environment, std::cout, std::cerr);
  } catch (const std::exception& error) {
    // Only a bug in netctl gets here; say what happened instead of aborting.
    std::cerr << "netctl: unexpected error: " << error.what() << '\n';
    return EXIT_FAILURE;
  }
}
