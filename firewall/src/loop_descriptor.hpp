#pragma once

#include <fcntl.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace netd::firewall {

// A duplicate of `fd` for the loop to watch: the descriptor stays its owner's, and the loop's
// stream_descriptor closes only the copy. `what` names the descriptor in the error.
inline int DuplicateForLoop(int fd, const std::string& what) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "dup " + what);
  return copy;
}

}  // namespace netd::firewall
