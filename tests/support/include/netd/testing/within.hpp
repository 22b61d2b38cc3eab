#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace netd::testing {

// Polls `check` every 10 ms until it holds (true) or `limit` passes (false): for what netd
// does a moment after it answers (reloads, repairs, expiries).
inline bool Within(std::chrono::milliseconds limit, const std::function<bool()>& check) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!check()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace netd::testing
