#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netd/allowlist/elements.hpp"
#include "netd/allowlist/policy.hpp"
#include "netd/common/address.hpp"

namespace netd::allowlist {

// `allow4` elements opened for a while because netd's filtered DNS answered a name that a
// VM's rules allow. The kernel holds an element once: a rule's address destination makes it
// permanent (the policy's), otherwise it carries a timeout. Each method returns the element
// changes that bring the kernel along; nothing here changes until Commit, so a change the
// kernel refuses leaves this as it was.
class LearnedAllows {
 public:
  struct Entry {
    std::int64_t expires_ms = 0;  // netd deletes the element then (monotonic clock)
    std::string name;  // the query name that opened it; empty when restored from the kernel
    std::set<std::string, std::less<>> rules;
  };
  using Entries = std::map<ExactAllow, Entry>;

  // The kernel keeps an element this long past its expiry, so that netd deletes it itself
  // rather than racing the kernel (a delete of an element the kernel already dropped fails the
  // whole transaction); the kernel's timeout still ends it if netd is gone.
  static constexpr std::int64_t kBackstopMs = 2000;

  // A pending change: the kernel's part and the entries to replace (or erase, when empty)
  // once the kernel took it.
  struct Plan {
    SetChanges changes;
    std::map<ExactAllow, std::optional<Entry>> updates;
  };

  // Opens `addresses` for `vm` on every protocol and port of `rules` until `expires_ms`
  // (a later expiry than an element already has restarts its kernel timeout).
  Plan Learn(const SecureVm& vm, const std::vector<const AllowlistRule*>& rules,
             const std::string& name, const std::vector<Ipv4Address>& addresses,
             std::int64_t expires_ms, std::int64_t now_ms, const AllowlistPolicy& policy) const;
  // Ends the elements whose time is up.
  Plan Expire(std::int64_t now_ms, const AllowlistPolicy& policy) const;
  // Brings a change of the policy's own elements (`changes`, already made to `policy`) in
  // line with the learned ones: entries whose rules no longer allow them go, and an element
  // that moves between permanent and timed is deleted and added again in the same
  // transaction. Extends `changes`.
  Plan Adjust(const SetChanges& changes, std::int64_t now_ms, const AllowlistPolicy& policy) const;
  void Commit(Plan plan);

  // Takes back the timed elements a previous netd left in the kernel (`timeout_ms`: the time
  // each has left), as long as a rule naming host names still opens them for their VM: a
  // restart does not close what VMs were told. Their names are unknown, so a later rule
  // change keeps them while any host-name rule of the VM opens their protocol and port.
  void Restore(const std::vector<ExactAllow>& kernel_elements, std::int64_t now_ms,
               const AllowlistPolicy& policy);

  // The timed elements, for a whole-table apply.
  std::vector<ExactAllow> KernelElements(std::int64_t now_ms, const AllowlistPolicy& policy) const;
  const Entries& entries() const { return entries_; }

 private:
  Entries entries_;
};

}  // namespace netd::allowlist
