#include "netd/allowlist/name_pattern.hpp"

namespace netd::allowlist {

std::string CanonicalName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool NameMatches(std::string_view pattern, std::string_view name) {
  return CanonicalNameMatches(CanonicalName(pattern), CanonicalName(name));
}

bool CanonicalNameMatches(std::string_view pattern, std::string_view name) {
  if (!pattern.starts_with("*.")) return pattern == name;
  auto suffix = pattern.substr(1);  // ".example.org"
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
  return name.substr(0, name.size() - suffix.size()).find('.') == std::string_view::npos;
}

}  // namespace netd::allowlist
