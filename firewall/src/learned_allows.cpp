#include "netd/firewall/learned_allows.hpp"

#include <algorithm>

namespace netd::firewall {
namespace {

ExactAllow Timed(ExactAllow element, std::int64_t expires_ms, std::int64_t now_ms) {
  element.timeout_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(expires_ms - now_ms, 1) +
                                                  LearnedAllows::kBackstopMs);
  return element;
}

std::vector<std::uint8_t> ProtocolNumbers(AllowProtocol protocol) {
  switch (protocol) {
    case AllowProtocol::kTcp:
      return {6};
    case AllowProtocol::kUdp:
      return {17};
    case AllowProtocol::kBoth:
      break;
  }
  return {6, 17};
}

}  // namespace

LearnedAllows::Plan LearnedAllows::Learn(const SecureVm& vm,
                                         const std::vector<const AllowlistRule*>& rules,
                                         const std::string& name,
                                         const std::vector<Ipv4Address>& addresses,
                                         std::int64_t expires_ms, std::int64_t now_ms,
                                         const AllowlistPolicy& policy) const {
  Plan plan{{}, entries_};
  for (const auto* rule : rules) {
    for (auto protocol : ProtocolNumbers(rule->protocol)) {
      for (const auto& range : rule->ports) {
        for (std::uint32_t port = range.first; port <= range.last; ++port) {
          for (auto address : addresses) {
            ExactAllow key{vm.ip, address, protocol, static_cast<std::uint16_t>(port)};
            auto [it, fresh] = plan.entries.try_emplace(key);
            auto& entry = it->second;
            entry.rules.insert(rule->name);
            entry.name = name;
            if (!fresh && entry.expires_ms >= expires_ms) continue;
            entry.expires_ms = expires_ms;
            if (policy.HoldsExact(key)) continue;  // permanent already
            if (!fresh) plan.changes.remove.exact.push_back(key);
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
  Plan plan{{}, entries_};
  for (auto it = plan.entries.begin(); it != plan.entries.end();) {
    if (it->second.expires_ms > now_ms) {
      ++it;
      continue;
    }
    if (!policy.HoldsExact(it->first)) plan.changes.remove.exact.push_back(it->first);
    it = plan.entries.erase(it);
  }
  return plan;
}

LearnedAllows::Plan LearnedAllows::Adjust(const ElementChanges& changes, std::int64_t now_ms,
                                          const AllowlistPolicy& policy) const {
  Plan plan{changes, entries_};
  std::set<ExactAllow> added(changes.add.exact.begin(), changes.add.exact.end());
  std::set<ExactAllow> removed(changes.remove.exact.begin(), changes.remove.exact.end());
  for (auto it = plan.entries.begin(); it != plan.entries.end();) {
    const auto& key = it->first;
    auto& entry = it->second;
    bool permanent_after = policy.HoldsExact(key);
    bool permanent_before = (permanent_after && !added.contains(key)) || removed.contains(key);
    bool timed_before = !permanent_before;
    const auto* vm = policy.FindVmAt(key.vm);
    std::erase_if(entry.rules, [&](const std::string& rule_name) {
      const auto* rule = policy.FindRule(rule_name);
      return !vm || !rule || !rule->AppliesTo(vm->id) || !rule->Names(entry.name) ||
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
    if (live) {
      ++it;
    } else {
      it = plan.entries.erase(it);
    }
  }
  return plan;
}

std::vector<ExactAllow> LearnedAllows::KernelElements(std::int64_t now_ms,
                                                      const AllowlistPolicy& policy) const {
  std::vector<ExactAllow> elements;
  for (const auto& [key, entry] : entries_) {
    if (entry.expires_ms > now_ms && !policy.HoldsExact(key)) {
      elements.push_back(Timed(key, entry.expires_ms, now_ms));
    }
  }
  return elements;
}

}  // namespace netd::firewall
