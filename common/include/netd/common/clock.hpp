#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace netd {

// A one-shot timer on the loop. Destroying it cancels a pending wait.
class Timer {
 public:
  virtual ~Timer() = default;
  // Calls `fire` once `after` has passed; replaces a pending wait.
  virtual void Start(std::chrono::steady_clock::duration after, std::function<void()> fire) = 0;
  virtual void Cancel() = 0;
};

// The clock seam: backoffs, debounces and expiries are tested by moving a fake clock
// (netd/testing/fake_clock.hpp), not by sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() const = 0;
  // Wall time, for what is stored or shown as a date (a forward's expiry).
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
  virtual std::unique_ptr<Timer> MakeTimer() = 0;
};

}  // namespace netd
