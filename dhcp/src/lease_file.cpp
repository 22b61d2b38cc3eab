#include "netd/dhcp/lease_file.hpp"

#include <charconv>
#include <fstream>
#include <iterator>

namespace netd::dhcp {

std::vector<Lease> ParseLeases(std::string_view text) {
  std::vector<Lease> leases;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    std::vector<std::string_view> fields;
    for (std::size_t at = 0; at <= line.size();) {
      auto space = line.find(' ', at);
      if (space == std::string_view::npos) space = line.size();
      fields.push_back(line.substr(at, space - at));
      at = space + 1;
    }
    if (fields.size() < 4) continue;
    auto mac = MacAddress::Parse(fields[1]);
    auto ip = Ipv4Address::Parse(fields[2]);
    std::int64_t expires = 0;
    auto [rest, error] =
        std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), expires);
    if (!mac || !ip || error != std::errc{} || rest != fields[0].data() + fields[0].size()) {
      continue;
    }
    Lease lease{expires, *mac, *ip, std::nullopt};
    if (fields[3] != "*") lease.hostname = std::string(fields[3]);
    leases.push_back(std::move(lease));
  }
  return leases;
}

std::vector<Lease> ReadLeaseFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::string text(std::istreambuf_iterator<char>(file), {});
  return ParseLeases(text);
}

}  // namespace netd::dhcp
