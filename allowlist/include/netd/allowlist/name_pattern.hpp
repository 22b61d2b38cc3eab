#pragma once

#include <string>
#include <string_view>

namespace netd::allowlist {

// Whether a query name matches an allowlist host name: `license.example.org` matches itself
// only; `*.example.org` matches exactly one more label (`a.example.org`, not `example.org`
// nor `a.b.example.org`). Case-insensitive; `name` may end with a dot.
bool NameMatches(std::string_view pattern, std::string_view name);

// The same for a pattern and a name already canonical (no allocation: the query path).
bool CanonicalNameMatches(std::string_view pattern, std::string_view name);

// Lower case, without a trailing dot.
std::string CanonicalName(std::string_view name);

}  // namespace netd::allowlist
