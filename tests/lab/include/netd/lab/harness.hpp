#pragma once

#include <string>
#include <string_view>

namespace netd::lab {

// Every namespace and temp directory the harness creates is named
// "netdt-<pid of the test process>-<counter>-<tag>", so that a later run can tell which leftovers
// belong to a run that died (its pid no longer exists) and remove them.
inline constexpr std::string_view kResourcePrefix = "netdt-";
inline constexpr std::string_view kNetnsDir = "/run/netns";
inline constexpr std::string_view kTempBase = "/tmp";

// Sweeps leftovers of dead runs and installs SIGINT/SIGTERM/SIGHUP handlers that tear down every
// live harness resource of this process before it dies. Idempotent; every harness object calls
// it, so tests never need to.
void StartHarness();

// Deletes netdt-* namespaces and temp directories whose creating process is gone, killing the
// processes still running inside those namespaces or named by pidfiles in those directories.
void SweepLeftoversOfDeadRuns();

// A fresh "netdt-<pid>-<counter>-<tag>" name; tag is 1-12 characters of [a-z0-9-].
std::string UniqueName(std::string_view tag);

}  // namespace netd::lab
