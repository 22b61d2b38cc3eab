#pragma once

#include <sys/types.h>

#include <string_view>

// The record of live harness resources that the signal handlers tear down. It is a fixed array
// of atomically published slots so that an async-signal handler can read it without locks.
namespace netd::lab::detail {

enum class ResourceKind : int { kProcessGroup = 2, kNamespace = 3, kDirectory = 4 };

// Returns the slot to pass to ReleaseResource; `name` is the namespace name or directory path.
int RegisterResource(ResourceKind kind, pid_t process_group, std::string_view name);
void ReleaseResource(int slot) noexcept;

// Removes a named network namespace the way `ip netns delete` does (detach the bind mount, then
// unlink it). Async-signal-safe; a missing namespace is not an error.
void DeleteNamespaceMount(const char* name) noexcept;

}  // namespace netd::lab::detail
