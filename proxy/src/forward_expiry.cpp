#include "netd/proxy/forward_expiry.hpp"

#include <algorithm>

namespace netd::proxy {
namespace {

std::int64_t UnixMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

}  // namespace

ForwardExpiry::ForwardExpiry(Clock& clock, const ForwardTable& table,
                             const ForwardLifecycle& lifecycle, Expire expire,
                             std::chrono::milliseconds retry_after)
    : clock_(clock),
      table_(table),
      lifecycle_(lifecycle),
      expire_(std::move(expire)),
      retry_after_(retry_after),
      timer_(clock.MakeTimer()) {
  Rearm();
}

void ForwardExpiry::Rearm() {
  auto next = table_.NextExpiry();
  if (!next) {
    timer_->Cancel();
    return;
  }
  auto wait_ms = std::max<std::int64_t>(0, *next - UnixMs(clock_.WallNow()));
  timer_->Start(std::chrono::milliseconds(wait_ms), [this] { Fire(); });
}

void ForwardExpiry::Fire() {
  auto now_ms = UnixMs(clock_.WallNow());
  auto due = lifecycle_.Due(table_, now_ms);
  if (!due.empty()) expire_(due);
  // A forward still due was refused (kernel, store): waiting for its expiry again would spin.
  auto next = table_.NextExpiry();
  if (next && *next <= now_ms) {
    timer_->Start(retry_after_, [this] { Fire(); });
  } else {
    Rearm();
  }
}

}  // namespace netd::proxy
