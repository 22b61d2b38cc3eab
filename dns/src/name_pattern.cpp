#include "netd/dns/name_pattern.hpp"

namespace netd::dns {

std::string CanonicalName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool NameMatches(std::string_view pattern, std::string_view name) {
  auto wanted = CanonicalName(pattern);
  auto asked = CanonicalName(name);
  if (!wanted.starts_with("*.")) return wanted == asked;
  std::string_view suffix = std::string_view(wanted).substr(1);  // ".example.org"
  if (asked.size() <= suffix.size() || !asked.ends_with(suffix)) return false;
  auto label = std::string_view(asked).substr(0, asked.size() - suffix.size());
  return label.find('.') == std::string_view::npos;
}

}  // namespace netd::dns
