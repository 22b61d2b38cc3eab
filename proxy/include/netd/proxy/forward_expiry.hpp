#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "netd/common/clock.hpp"
#include "netd/proxy/forward_lifecycle.hpp"
#include "netd/proxy/forward_table.hpp"

namespace netd::proxy {

// Ends forwards at their expiry with one timer, armed at the earliest expiry in the table.
// Expiries are wall time (Unix ms, as stored); the wait is measured on the steady clock.
class ForwardExpiry {
 public:
  // Takes the due forwards out of the table (with the kernel, the store and the audit chain);
  // a forward it cannot take out stays in the table and is offered again `retry_after` later.
  using Expire = std::function<void(const std::vector<DueForward>& due)>;

  // Arms the timer for what `table` already holds; a forward already due is offered at once.
  // The retries come several times within half the kernel's grace, while the element may
  // still be deleted from the kernel rather than left to its timeout.
  ForwardExpiry(Clock& clock, const ForwardTable& table, const ForwardLifecycle& lifecycle,
                Expire expire,
                std::chrono::milliseconds retry_after = std::chrono::milliseconds(200));
  // The timer calls back into this object.
  ForwardExpiry(const ForwardExpiry&) = delete;
  ForwardExpiry& operator=(const ForwardExpiry&) = delete;

  // Arms the timer at the table's earliest expiry again. Call it after a change to the table
  // (open, renew, close) that may have moved the earliest expiry.
  void Rearm();

 private:
  void Fire();

  Clock& clock_;
  const ForwardTable& table_;
  const ForwardLifecycle& lifecycle_;
  Expire expire_;
  std::chrono::milliseconds retry_after_;
  std::unique_ptr<Timer> timer_;
};

}  // namespace netd::proxy
