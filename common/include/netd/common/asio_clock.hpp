#pragma once

#include <boost/asio/io_context.hpp>

#include "netd/common/clock.hpp"

namespace netd {

// The machine's clocks, and timers on the loop.
class AsioClock final : public Clock {
 public:
  explicit AsioClock(boost::asio::io_context& io) : io_(io) {}

  std::chrono::steady_clock::time_point Now() const override;
  std::chrono::system_clock::time_point WallNow() const override;
  std::unique_ptr<Timer> MakeTimer() override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace netd
