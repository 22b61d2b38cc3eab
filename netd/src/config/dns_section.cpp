#include <fmt/format.h>

#include <charconv>

#include "netd/allowlist/name_pattern.hpp"
#include "netd/common/host_name.hpp"
#include "sections.hpp"

namespace netd::config_reading {
namespace {

// "192.0.2.53" or "192.0.2.53:5353".
std::optional<DnsUpstream> ParseDnsUpstream(std::string_view text) {
  DnsUpstream upstream;
  auto colon = text.find(':');
  auto address = Ipv4Address::Parse(text.substr(0, colon));
  if (!address) return std::nullopt;
  upstream.address = *address;
  if (colon != std::string_view::npos) {
    auto port = text.substr(colon + 1);
    unsigned value = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    upstream.port = static_cast<std::uint16_t>(value);
  }
  return upstream;
}

std::vector<DnsUpstream> ReadUpstreams(TableReader& reader) {
  auto upstreams = reader.ArrayOf(
      "upstream",
      [](const toml::node& element) {
        return element.is_string() ? ParseDnsUpstream(*element.value<std::string>()) : std::nullopt;
      },
      "expected IPv4 addresses as strings, with an optional port "
      "(\"192.0.2.53\" or \"192.0.2.53:5353\")");
  return upstreams.value_or(std::vector<DnsUpstream>{});
}

// Whether a name that is not allowed gets NXDOMAIN rather than REFUSED; none when not given.
std::optional<bool> ReadRefuseWithNxdomain(TableReader& reader) {
  auto refuse = reader.String("refuse_with");
  if (!refuse) return std::nullopt;
  if (*refuse != "refused" && *refuse != "nxdomain") {
    reader.Fail(reader.Node("refuse_with"), "refuse_with",
                fmt::format("expected \"refused\" or \"nxdomain\", got \"{}\"", *refuse));
  }
  return *refuse == "nxdomain";
}

// "10.0.0.0/8", or an address alone ("192.0.2.7") as its /32.
std::optional<Ipv4Cidr> ParseDenyRange(const std::string& text) {
  if (text.find('/') != std::string::npos) return Ipv4Cidr::Parse(text);
  auto address = Ipv4Address::Parse(text);
  if (!address) return std::nullopt;
  return Ipv4Cidr(*address, 32);
}

std::vector<Ipv4Cidr> ReadLearnedDeny(TableReader& reader) {
  auto ranges = reader.ArrayOf(
      "learned_deny",
      [](const toml::node& element) {
        auto text = element.value<std::string>();
        return text ? ParseDenyRange(*text) : std::nullopt;
      },
      "expected IPv4 networks or addresses as strings (\"10.0.0.0/8\", \"192.0.2.7\") with the "
      "host bits zero");
  return ranges.value_or(std::vector<Ipv4Cidr>{});
}

// Keyed by the canonical (lower-case, no final dot) name.
std::map<std::string, Ipv4Address> ReadLocalNames(TableReader& reader) {
  std::map<std::string, Ipv4Address> local_names;
  const auto* names = reader.Table("local_names");
  if (!names) return local_names;
  for (const auto& [key, value] : *names) {
    auto name = allowlist::CanonicalName(key.str());
    auto address =
        value.is_string() ? Ipv4Address::Parse(*value.value<std::string>()) : std::nullopt;
    if (!IsValidHostname(name)) {
      reader.Fail(&value, "local_names", fmt::format("\"{}\" is not a host name", key.str()));
    }
    if (!address) {
      reader.Fail(&value, fmt::format("local_names.\"{}\"", key.str()),
                  "expected an IPv4 address as a string");
    }
    local_names[name] = *address;
  }
  return local_names;
}

}  // namespace

DnsConfig ReadDnsSection(TableReader& reader) {
  DnsConfig dns;
  dns.upstream = ReadUpstreams(reader);
  dns.listen_port = reader.IntegerOr("listen_port", 1, 65535, dns.listen_port);
  dns.upstream_timeout_ms =
      reader.IntegerOr("upstream_timeout_ms", 100, 60'000, dns.upstream_timeout_ms);
  dns.min_ttl_s = reader.IntegerOr("min_ttl_s", 0, 86400, dns.min_ttl_s);
  dns.max_ttl_s = reader.IntegerOr("max_ttl_s", 1, 7 * 86400, dns.max_ttl_s);
  if (dns.min_ttl_s > dns.max_ttl_s) {
    reader.Fail(reader.Node("min_ttl_s"), "min_ttl_s",
                fmt::format("expected at most max_ttl_s ({})", dns.max_ttl_s));
  }
  dns.grace_s = reader.IntegerOr("grace_s", 0, 86400, dns.grace_s);
  dns.refuse_with_nxdomain = ReadRefuseWithNxdomain(reader).value_or(dns.refuse_with_nxdomain);
  dns.max_in_flight = reader.IntegerOr("max_in_flight", 1, 1'000'000, dns.max_in_flight);
  dns.vm_max_in_flight = reader.IntegerOr("vm_max_in_flight", 1, 1'000'000, dns.vm_max_in_flight);
  dns.vm_queries_per_second =
      reader.IntegerOr("vm_queries_per_second", 1, 1'000'000, dns.vm_queries_per_second);
  dns.tcp_idle_timeout_ms =
      reader.IntegerOr("tcp_idle_timeout_ms", 100, 600'000, dns.tcp_idle_timeout_ms);
  dns.tcp_max_connections =
      reader.IntegerOr("tcp_max_connections", 1, 65536, dns.tcp_max_connections);
  dns.cache_entries = reader.IntegerOr("cache_entries", 0, 10'000'000, dns.cache_entries);
  dns.learned_deny = ReadLearnedDeny(reader);
  dns.vm_wildcard_names =
      reader.IntegerOr("vm_wildcard_names", 1, 1'000'000, dns.vm_wildcard_names);
  dns.vm_wildcard_window_s =
      reader.IntegerOr("vm_wildcard_window_s", 1, 86400, dns.vm_wildcard_window_s);
  dns.local_names = ReadLocalNames(reader);
  reader.RejectUnknownKeys();
  return dns;
}

}  // namespace netd::config_reading
