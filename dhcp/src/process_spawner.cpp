#include "netd/dhcp/process_spawner.hpp"

#include <fmt/format.h>

namespace netd::dhcp {

std::string ProcessExit::Describe() const {
  return exit_status ? fmt::format("exit status {}", *exit_status)
                     : fmt::format("signal {}", signal);
}

}  // namespace netd::dhcp
