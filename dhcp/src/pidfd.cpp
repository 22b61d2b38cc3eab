#include "pidfd.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>

namespace netd::dhcp {

int OpenPidfd(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

void EndThroughPidfd(pid_t pid, int pidfd) {
  auto ended = [pidfd](int timeout_ms) {
    pollfd readable{pidfd, POLLIN, 0};
    return poll(&readable, 1, timeout_ms) == 1;
  };
  kill(pid, SIGTERM);
  if (!ended(1000)) {
    kill(pid, SIGKILL);
    ended(1000);
  }
}

}  // namespace netd::dhcp
