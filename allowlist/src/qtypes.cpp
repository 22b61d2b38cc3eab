#include "netd/allowlist/qtypes.hpp"

#include <algorithm>
#include <vector>

namespace netd::allowlist {
namespace {

struct QtypeEntry {
  std::uint16_t qtype;
  std::string_view name;
  bool forwardable;  // a rule's `qtypes` may name it
};
// ANY and NULL are named but never forwardable: ANY asks for everything a zone holds, NULL
// carries arbitrary bytes.
constexpr QtypeEntry kQtypes[] = {
    {kQtypeA, "A", true},       {2, "NS", true},     {5, "CNAME", true},   {6, "SOA", true},
    {10, "NULL", false},        {12, "PTR", true},   {15, "MX", true},     {16, "TXT", true},
    {kQtypeAaaa, "AAAA", true}, {33, "SRV", true},   {39, "DNAME", false}, {41, "OPT", false},
    {64, "SVCB", true},         {65, "HTTPS", true}, {255, "ANY", false},  {257, "CAA", true},
};

bool EqualIgnoringAsciiCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace

std::string QtypeName(std::uint16_t qtype) {
  for (const auto& entry : kQtypes) {
    if (entry.qtype == qtype) return std::string(entry.name);
  }
  return "TYPE" + std::to_string(qtype);
}

std::optional<std::uint16_t> ForwardableQtype(std::string_view name) {
  for (const auto& entry : kQtypes) {
    if (entry.forwardable && EqualIgnoringAsciiCase(entry.name, name)) return entry.qtype;
  }
  return std::nullopt;
}

std::string_view ForwardableQtypeNames() {
  static const std::string names = [] {
    std::vector<std::string_view> sorted;
    for (const auto& entry : kQtypes) {
      if (entry.forwardable) sorted.push_back(entry.name);
    }
    std::sort(sorted.begin(), sorted.end());
    std::string joined;
    for (auto name : sorted) joined += (joined.empty() ? "" : ", ") + std::string(name);
    return joined;
  }();
  return names;
}

}  // namespace netd::allowlist
