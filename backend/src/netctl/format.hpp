#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// Renderings of netd's values for people.
namespace netd::netctl {

// "12s", "3m 5s", "2h 0m 7s", "4d 1h 0m 0s": units down to seconds from the largest non-zero one.
std::string FormatDuration(std::int64_t seconds);

// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds: "2026-11-28T13:00:00.000Z".
std::string FormatUnixMillis(std::int64_t millis);

// The value, or "-" for a value that is not set.
std::string OrDash(const std::optional<std::string>& value);

// A DNS query type by its mnemonic ("A", "AAAA", "TXT", ...), "TYPE<n>" for others (RFC 3597).
std::string DnsTypeName(std::uint16_t type);

// A list for a table cell: the first `shown` items joined with ",", the rest counted
// ("a,b,c +2 more"); "-" for no items.
std::string Shortened(const std::vector<std::string>& items, std::size_t shown);

}  // namespace netd::netctl
