#include "event_thread.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace netd::libvirt {
namespace {

// libvirt prints every error to stderr unless told otherwise; netd reports the ones it acts on.
void LogLibvirtError(void*, virErrorPtr error) {
  spdlog::debug("libvirt: {}", error && error->message ? error->message : "error");
}

}  // namespace

std::string LastError() {
  const char* message = virGetLastErrorMessage();
  return message ? message : "unknown libvirt error";
}

LibvirtThread& LibvirtThread::Get() {
  static auto* thread = new LibvirtThread();
  return *thread;
}

void LibvirtThread::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  // A timeout added from another thread interrupts the loop's poll.
  if (virEventAddTimeout(0, &LibvirtThread::OnWake, this, nullptr) < 0) {
    spdlog::error("libvirt: cannot wake libvirt's thread: {}", LastError());
  }
}

LibvirtThread::LibvirtThread() {
  virSetErrorFunc(nullptr, LogLibvirtError);
  if (virEventRegisterDefaultImpl() != 0) {
    spdlog::error("libvirt: cannot set up libvirt's event loop: {}", LastError());
  }
  std::thread([] {
    for (;;) {
      if (virEventRunDefaultImpl() != 0) {
        spdlog::error("libvirt: libvirt's event loop failed: {}", LastError());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }).detach();
}

void LibvirtThread::OnWake(int timer, void* opaque) {
  virEventRemoveTimeout(timer);
  static_cast<LibvirtThread*>(opaque)->RunTasks();
}

void LibvirtThread::RunTasks() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();
}

}  // namespace netd::libvirt
