#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include "netd/common/clock.hpp"

namespace netd::testing {

// Time that moves only when a test advances it; timers fire as it passes their deadline.
class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override { return now_; }
  // Starts at an arbitrary fixed date and moves with Now().
  std::chrono::system_clock::time_point WallNow() const override {
    return wall_start_ +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(now_.time_since_epoch());
  }

  std::unique_ptr<Timer> MakeTimer() override { return std::make_unique<FakeTimer>(*this); }

  // Moves time on by `duration`, firing the timers that fall due in deadline order.
  void Advance(std::chrono::steady_clock::duration duration) {
    auto until = now_ + duration;
    while (FakeTimer* due = NextDue(until)) {
      now_ = due->deadline_;
      auto fire = std::move(due->fire_);
      due->fire_ = nullptr;
      fire();
    }
    now_ = until;
  }

  // How many timers wait.
  std::size_t pending() const {
    return std::count_if(timers_.begin(), timers_.end(),
                         [](const FakeTimer* timer) { return timer->fire_ != nullptr; });
  }

 private:
  class FakeTimer final : public Timer {
   public:
    explicit FakeTimer(FakeClock& clock) : clock_(clock) { clock_.timers_.push_back(this); }
    ~FakeTimer() override { std::erase(clock_.timers_, this); }

    void Start(std::chrono::steady_clock::duration after, std::function<void()> fire) override {
      deadline_ = clock_.now_ + after;
      fire_ = std::move(fire);
    }
    void Cancel() override { fire_ = nullptr; }

    FakeClock& clock_;
    std::chrono::steady_clock::time_point deadline_;
    std::function<void()> fire_;
  };

  FakeTimer* NextDue(std::chrono::steady_clock::time_point until) const {
    FakeTimer* next = nullptr;
    for (auto* timer : timers_) {
      if (timer->fire_ && timer->deadline_ <= until &&
          (!next || timer->deadline_ < next->deadline_))
        next = timer;
    }
    return next;
  }

  std::chrono::steady_clock::time_point now_;
  std::chrono::system_clock::time_point wall_start_{std::chrono::seconds(1'800'000'000)};
  std::vector<FakeTimer*> timers_;
};

}  // namespace netd::testing
