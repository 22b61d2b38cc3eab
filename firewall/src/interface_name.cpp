#include "netd/firewall/interface_name.hpp"

#include <net/if.h>

namespace netd::firewall {

bool IsValidInterfaceName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

}  // namespace netd::firewall
