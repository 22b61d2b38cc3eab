#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace netd::dns {

// How many distinct names one VM may send upstream under wildcard rules (docs/dns.md): every
// distinct first label reaches the zone's operator, so their number bounds what a VM can
// encode in names. A sliding window: a name takes a slot when it is first admitted and keeps
// it for one window, during which it is admitted again at no cost; in any window at most
// `names` distinct names are admitted.
class DistinctNameBudget {
 public:
  using Clock = std::chrono::steady_clock;

  DistinctNameBudget(std::size_t names, Clock::duration window);

  // Whether `name` (lower case) may go upstream at `now`; takes a slot for a new name.
  bool Admit(std::string_view name, Clock::time_point now);

 private:
  std::size_t names_;
  Clock::duration window_;
  std::deque<std::pair<Clock::time_point, std::string>> admitted_;  // oldest first
  std::set<std::string, std::less<>> holding_;                      // the names of admitted_
};

}  // namespace netd::dns
