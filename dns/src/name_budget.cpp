#include "netd/dns/name_budget.hpp"

namespace netd::dns {

DistinctNameBudget::DistinctNameBudget(std::size_t names, Clock::duration window)
    : names_(names), window_(window) {}

bool DistinctNameBudget::Admit(std::string_view name, Clock::time_point now) {
  while (!admitted_.empty() && admitted_.front().first + window_ <= now) {
    holding_.erase(admitted_.front().second);
    admitted_.pop_front();
  }
  if (holding_.contains(name)) return true;
  if (admitted_.size() >= names_) return false;
  admitted_.emplace_back(now, name);
  holding_.emplace(name);
  return true;
}

}  // namespace netd::dns
