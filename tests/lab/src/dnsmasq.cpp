#include "netd/lab/dnsmasq.hpp"

#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "log_tail.hpp"

namespace netd::lab {

using namespace std::chrono_literals;

namespace {

bool PidFileWritten(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return !ec && size > 0;
}

}  // namespace

Dnsmasq::Dnsmasq(const Namespace& ns, std::string_view config,
                 std::chrono::milliseconds ready_timeout)
    : dir_("dnsmasq") {
  {
    std::ofstream out(config_file());
    out << config << "\ndhcp-leasefile=" << lease_file().string()
        << "\nlog-facility=" << log_file().string() << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + config_file().string());
  }
  const auto pid_file = dir() / "dnsmasq.pid";
  process_ = ns.Start({"dnsmasq", "--conf-file=" + config_file().string(), "--keep-in-foreground",
                       "--pid-file=" + pid_file.string()},
                      {.env = {}, .output = log_file()});
  // dnsmasq writes its pid file once its sockets are bound and the config is accepted.
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  while (!PidFileWritten(pid_file)) {
    if (!process_.Running() || std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(std::string(process_.Running() ? "dnsmasq not ready in time\n"
                                                              : "dnsmasq exited during startup\n") +
                               detail::LogTail(log_file()));
    }
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace netd::lab
