#pragma once

#include <string_view>

namespace netd {

// One RFC 1123 label: 1-63 letters, digits and hyphens, not starting or ending with a hyphen.
bool IsValidLabel(std::string_view label);

// A host name of RFC 1123 labels separated by dots, at most 253 characters, no trailing dot.
bool IsValidHostname(std::string_view name);

}  // namespace netd
