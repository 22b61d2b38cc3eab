#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace netd::dhcp {

// A one-shot timer on the loop. Destroying it cancels a pending wait.
class Timer {
 public:
  virtual ~Timer() = default;
  // Calls `fire` once `after` has passed; replaces a pending wait.
  virtual void Start(std::chrono::steady_clock::duration after, std::function<void()> fire) = 0;
  virtual void Cancel() = 0;
};

// The clock seam: the supervisor's backoff and reload delay are tested by moving a fake clock,
// not by sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() const = 0;
  virtual std::unique_ptr<Timer> MakeTimer() = 0;
};

}  // namespace netd::dhcp
