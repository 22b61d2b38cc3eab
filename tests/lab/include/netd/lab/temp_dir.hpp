#pragma once

#include <filesystem>
#include <string_view>

namespace netd::lab {

// A private directory /tmp/netdt-<pid>-<n>-<tag>, removed with its contents on destruction (or
// by the signal handlers, or by a later run's sweeper). Kept short: it holds unix sockets.
class TempDir {
 public:
  explicit TempDir(std::string_view tag);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int registration_slot_ = -1;
};

}  // namespace netd::lab
