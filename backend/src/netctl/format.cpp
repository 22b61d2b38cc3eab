#include "netctl/format.hpp"

#include <fmt/format.h>

#include <chrono>

namespace netd::netctl {

std::string FormatDuration(std::int64_t seconds) {
  if (seconds < 0) return fmt::format("-{}", FormatDuration(-seconds));
  const std::int64_t days = seconds / 86400;
  const std::int64_t hours = seconds / 3600 % 24;
  const std::int64_t minutes = seconds / 60 % 60;
  const std::int64_t rest = seconds % 60;
  if (days > 0) return fmt::format("{}d {}h {}m {}s", days, hours, minutes, rest);
  if (hours > 0) return fmt::format("{}h {}m {}s", hours, minutes, rest);
  if (minutes > 0) return fmt::format("{}m {}s", minutes, rest);
  return fmt::format("{}s", rest);
}

std::string FormatUnixMillis(std::int64_t millis) {
  using namespace std::chrono;
  const sys_time<milliseconds> time{milliseconds(millis)};
  const auto day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss clock{time - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     clock.hours().count(), clock.minutes().count(), clock.seconds().count(),
                     clock.subseconds().count());
}

std::string OrDash(const std::optional<std::string>& value) {
  return value.value_or("-");
}

std::string DnsTypeName(std::uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 10:
      return "NULL";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
    default:
      return fmt::format("TYPE{}", type);
  }
}

std::string Shortened(const std::vector<std::string>& items, std::size_t shown) {
  if (items.empty()) return "-";
  if (items.size() <= shown) return fmt::format("{}", fmt::join(items, ","));
  return fmt::format("{} +{} more", fmt::join(items.begin(), items.begin() + shown, ","),
                     items.size() - shown);
}

}  // namespace netd::netctl
