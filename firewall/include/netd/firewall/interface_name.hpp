#pragma once

#include <string_view>

namespace netd::firewall {

// The table matches netd's interfaces by name (iifname/oifname), so every configured name
// must be one the kernel accepts: 1-15 bytes, no '/', no whitespace, not "." or "..".
bool IsValidInterfaceName(std::string_view name);

}  // namespace netd::firewall
