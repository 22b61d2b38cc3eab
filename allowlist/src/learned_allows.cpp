#include "netd/allowlist/learned_allows.hpp"

#include <algorithm>

namespace netd::allowlist {
namespace {

ExactAllow Timed(ExactAllow element, std::int64_t expires_ms, std::int64_t now_ms) {
  element.timeout_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(expires_ms - now_ms, 1) +
                                                  LearnedAllows::kBackstopMs);
  return element;
}

}  // namespace

LearnedAllows::Plan LearnedAllows::Learn(const SecureVm& vm,
                                         const std::vector<const AllowlistRule*>& rules,
                                         const std::string& name,
                                         const std::vector<Ipv4Address>& addresses,
                                         std::int64_t expires_ms, std::int64_t now_ms,
                                         const AllowlistPolicy& policy) const {
  Plan plan;
  for (const auto* rule : rules) {
    for (auto protocol : ProtocolNumbers(rule->protocol)) {
      for (const auto& range : rule->ports) {
        for (std::uint32_t port = range.first; port <= range.last; ++port) {
          for (auto address : addresses) {
            ExactAllow key{vm.ip, address, protocol, static_cast<std::uint16_t>(port)};
            auto known = entries_.find(key);
            auto planned = plan.updates.find(key);
            if (planned == plan.updates.end()) {
              // The common case of an answer asked again: nothing to change, nothing to copy.
              if (known != entries_.end() && known->second.expires_ms >= expires_ms &&
                  known->second.name == name && known->second.rules.contains(rule->name)) {
                continue;
              }
              planned = plan.updates.emplace(key, known != entries_.end() ? known->second : Entry{})
                            .first;
            }
            // The same key may come up again in this plan (two rules, overlapping port
            // ranges): its kernel change is decided once, against the kernel as it is now.
            auto& entry = *planned->second;
            entry.rules.insert(rule->name);
            entry.name = name;
            if (entry.expires_ms >= expires_ms) continue;
            entry.expires_ms = expires_ms;
            if (policy.HoldsExact(key)) continue;  // permanent already
            if (known != entries_.end()) plan.changes.remove.exact.push_back(key);
            plan.changes.add.exact.push_back(Timed(key, expires_ms, now_ms));
          }
        }
      }
    }
  }
  return plan;
}

LearnedAllows::Plan LearnedAllows::Expire(std::int64_t now_ms,
                                          const AllowlistPolicy& policy) const {
  Plan plan;
  for (const auto& [key, entry] : entries_) {
    if (entry.expires_ms > now_ms) continue;
    if (!policy.HoldsExact(key)) plan.changes.remove.exact.push_back(key);
    plan.updates[key] = std::nullopt;
  }
  return plan;
}

LearnedAllows::Plan LearnedAllows::Adjust(const SetChanges& changes, std::int64_t now_ms,
                                          const AllowlistPolicy& policy) const {
  Plan plan{changes, {}};
  std::set<ExactAllow> added(changes.add.exact.begin(), changes.add.exact.end());
  std::set<ExactAllow> removed(changes.remove.exact.begin(), changes.remove.exact.end());
  for (const auto& [key, known] : entries_) {
    auto entry = known;
    bool permanent_after = policy.HoldsExact(key);
    bool permanent_before = (permanent_after && !added.contains(key)) || removed.contains(key);
    bool timed_before = !permanent_before;
    const auto* vm = policy.FindVmAt(key.vm);
    std::erase_if(entry.rules, [&, &key = key](const std::string& rule_name) {
      const auto* rule = policy.FindRule(rule_name);
      return !vm || !rule || !rule->AppliesTo(vm->id) ||
             (entry.name.empty() ? rule->hosts.empty() : !rule->Names(entry.name)) ||
             !rule->OpensPort(key.protocol, key.port);
    });
    bool live = !entry.rules.empty();
    if (live && !permanent_after && permanent_before) {
      plan.changes.add.exact.push_back(Timed(key, entry.expires_ms, now_ms));  // after the delete
    } else if (permanent_after && !permanent_before && timed_before) {
      plan.changes.remove.exact.push_back(key);  // the policy's permanent add follows
    } else if (!live && !permanent_after && timed_before) {
      plan.changes.remove.exact.push_back(key);
    }
    if (!live) {
      plan.updates[key] = std::nullopt;
    } else if (entry.rules != known.rules) {
      plan.updates[key] = std::move(entry);
    }
  }
  return plan;
}

void LearnedAllows::Restore(const std::vector<ExactAllow>& kernel_elements, std::int64_t now_ms,
                            const AllowlistPolicy& policy) {
  for (const auto& element : kernel_elements) {
    auto left = static_cast<std::int64_t>(element.timeout_ms) - kBackstopMs;
    const auto* vm = policy.FindVmAt(element.vm);
    if (left <= 0 || !vm || policy.HoldsExact(element)) continue;
    Entry entry;
    entry.expires_ms = now_ms + left;
    for (const auto& [name, rule] : policy.rules()) {
      if (!rule.hosts.empty() && rule.AppliesTo(vm->id) &&
          rule.OpensPort(element.protocol, element.port)) {
        entry.rules.insert(name);
      }
    }
    if (entry.rules.empty()) continue;
    ExactAllow key = element;
    key.timeout_ms = 0;
    entries_[key] = std::move(entry);
  }
}

void LearnedAllows::Commit(Plan plan) {
  for (auto& [key, update] : plan.updates) {
    if (update) {
      entries_[key] = std::move(*update);
    } else {
      entries_.erase(key);
    }
  }
}

std::vector<ExactAllow> LearnedAllows::KernelElements(std::int64_t now_ms,
                                                      const AllowlistPolicy& policy) const {
  std::vector<ExactAllow> elements;
  for (const auto& [key, entry] : entries_) {
    // An element past its expiry that the sweep has not deleted yet goes in for the backstop,
    // so that the sweep finds it there to delete.
    if (!policy.HoldsExact(key)) {
      elements.push_back(Timed(key, entry.expires_ms, now_ms));
    }
  }
  return elements;
}

}  // namespace netd::allowlist
