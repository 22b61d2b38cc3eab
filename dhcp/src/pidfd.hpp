#pragma once

#include <sys/types.h>

namespace netd::dhcp {

// glibc 2.36's <sys/pidfd.h> lacks C++ linkage: the system call itself.
int OpenPidfd(pid_t pid);

// SIGTERM to `pid`, SIGKILL if it has not ended 1 s later; returns once `pidfd` (its pidfd)
// shows it ended, or after another second. The caller reaps its own child.
void EndThroughPidfd(pid_t pid, int pidfd);

}  // namespace netd::dhcp
