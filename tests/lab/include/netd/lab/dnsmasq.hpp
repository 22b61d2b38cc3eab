#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string_view>

#include "netd/lab/command.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"

namespace netd::lab {

// A private dnsmasq inside `ns`, a child of the test, with its config, pid file, lease file and
// log in its own temp directory. `config` is dnsmasq.conf text; the harness appends the lease
// file and log settings.
class Dnsmasq {
 public:
  Dnsmasq(const Namespace& ns, std::string_view config,
          std::chrono::milliseconds ready_timeout = std::chrono::seconds(5));
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;
  ~Dnsmasq() = default;

  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path config_file() const { return dir() / "dnsmasq.conf"; }
  std::filesystem::path lease_file() const { return dir() / "leases"; }
  std::filesystem::path log_file() const { return dir() / "dnsmasq.log"; }
  pid_t pid() const { return process_.pid(); }

 private:
  TempDir dir_;
  Process process_;
};

}  // namespace netd::lab
