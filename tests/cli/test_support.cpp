#include "test_support.hpp"

namespace netd::cli_testing {

std::vector<std::string> MinimalEnvironment(std::vector<std::string> extra) {
  std::vector<std::string> environment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  environment.insert(environment.end(), extra.begin(), extra.end());
  return environment;
}

}  // namespace netd::cli_testing
