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

// Runs `loop` (an Asio io_context) until `check` holds (true) or `limit` passes (false): for
// tests that drive netd's libraries on their own loop.
template <typename Loop>
bool RunUntil(Loop& loop, std::chrono::milliseconds limit, const std::function<bool()>& check) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!check()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    loop.run_for(std::chrono::milliseconds(10));
    loop.restart();
  }
  return true;
}

}  // namespace netd::testing
