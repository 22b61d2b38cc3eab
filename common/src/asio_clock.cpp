#include "netd/common/asio_clock.hpp"

#include <boost/asio/steady_timer.hpp>

namespace netd {
namespace {

class SteadyTimer final : public Timer {
 public:
  explicit SteadyTimer(boost::asio::io_context& io) : timer_(io) {}

  void Start(std::chrono::steady_clock::duration after, std::function<void()> fire) override {
    timer_.expires_after(after);
    timer_.async_wait([fire = std::move(fire)](boost::system::error_code error) {
      if (!error) fire();
    });
  }
  void Cancel() override { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace

std::chrono::steady_clock::time_point AsioClock::Now() const {
  return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point AsioClock::WallNow() const {
  return std::chrono::system_clock::now();
}

std::unique_ptr<Timer> AsioClock::MakeTimer() {
  return std::make_unique<SteadyTimer>(io_);
}

}  // namespace netd
