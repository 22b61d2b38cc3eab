#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace netd::libvirt {

// libvirt's last error on this thread, for messages.
std::string LastError();

// libvirt's calls block (on libvirtd), and its event loop must run somewhere: one thread of the
// process runs both, for every LibvirtClient. It lives as long as the process, idle once the
// clients closed their connections (they remove their timers and callbacks when they stop).
class LibvirtThread {
 public:
  static LibvirtThread& Get();
  // Runs `task` on the thread, between turns of libvirt's event loop.
  void Post(std::function<void()> task);

 private:
  LibvirtThread();
  static void OnWake(int timer, void* opaque);
  void RunTasks();

  std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
};

}  // namespace netd::libvirt
