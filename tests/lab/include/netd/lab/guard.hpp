#pragma once

#include <gtest/gtest.h>

#include <string>

namespace netd::lab {

// Empty if this process can run kernel tests (root, network namespaces, OVS, dnsmasq, the tools
// the harness calls); otherwise what is missing.
std::string MissingKernelTestPrerequisites();
// CI=true (or 1): kernel tests must run there, so a missing prerequisite is a failure.
bool RunningInCi();

}  // namespace netd::lab

// First statement of a kernel test (or its fixture's SetUp): skips the test on a developer
// machine that cannot run it, fails it in CI.
#define NETD_REQUIRE_ROOT_OR_SKIP()                                                         \
  do {                                                                                      \
    if (const std::string netd_lab_missing = ::netd::lab::MissingKernelTestPrerequisites(); \
        !netd_lab_missing.empty()) {                                                        \
      if (::netd::lab::RunningInCi()) {                                                     \
        FAIL() << "kernel test cannot run in CI: " << netd_lab_missing;                     \
      }                                                                                     \
      GTEST_SKIP() << "kernel test needs " << netd_lab_missing;                             \
    }                                                                                       \
  } while (false)
