#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace netd::testing {

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET (NetdProcess::NotifySocket):
// what netd would tell systemd arrives here.
class NotifyListener {
 public:
  explicit NotifyListener(std::filesystem::path path);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The next message, waiting at most `limit`; empty when none came.
  std::string Next(std::chrono::milliseconds limit);
  // Whether a message holding the line `line` arrives within `limit`; others are passed over.
  bool Hears(const std::string& line, std::chrono::milliseconds limit);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace netd::testing
