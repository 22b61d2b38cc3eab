#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "netd/lab/command.hpp"
#include "netd/ovs/ovsdb_client.hpp"

// What several benches measure alike: percentiles, a process's memory and CPU time, and the
// distribution's `ovsdb-client monitor` as a peer that times each row change it prints.
namespace netd::bench {

using Clock = std::chrono::steady_clock;

// The sample at `fraction` (0.5, 0.99) of the sorted samples; samples must not be empty.
double Percentile(std::vector<double> samples, double fraction);
double Ms(Clock::duration duration);
// VmRSS of a process in KiB (-1 when it is gone).
long RssKib(pid_t pid);
// User and system CPU time of a process so far.
double CpuSeconds(pid_t pid);

// `ovsdb-client monitor REMOTE DATABASE TABLE COLUMN --format=csv`, its output through a FIFO;
// each line (row, action, value) is timed as it arrives.
class OvsdbMonitorProcess {
 public:
  OvsdbMonitorProcess(const std::filesystem::path& fifo, const std::string& remote,
                      const std::string& database, const std::string& table,
                      const std::string& column);
  ~OvsdbMonitorProcess();
  OvsdbMonitorProcess(const OvsdbMonitorProcess&) = delete;
  OvsdbMonitorProcess& operator=(const OvsdbMonitorProcess&) = delete;

  // When the first line naming `value` with `action` ("initial", "insert", "delete"; empty for
  // any) arrived at or after `since`.
  std::optional<Clock::time_point> Seen(const std::string& value, const std::string& action = "",
                                        Clock::time_point since = {});

 private:
  struct Line {
    std::string action;
    Clock::time_point at;
  };
  std::thread reader_;
  lab::Process process_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<Line>> lines_;
};

// `count` OVSDB clients of the policy database at `remote` that monitor its Policy row (the
// generation), started on `io`: watchers such as dashboards and the other backend services,
// each a follower the server sends every change to.
std::vector<std::unique_ptr<ovs::OvsdbClient>> StartPolicyWatchers(boost::asio::io_context& io,
                                                                   const std::string& remote,
                                                                   int count);

// A standalone ovsdb-server of the policy database's schema, listening on a unix socket in
// `dir` (its files there too); running once constructed.
class PolicyDatabaseServer {
 public:
  explicit PolicyDatabaseServer(const std::filesystem::path& dir);
  // "unix:<dir>/db.sock"
  const std::string& remote() const { return remote_; }
  pid_t pid() const { return process_.pid(); }

 private:
  std::string remote_;
  lab::Process process_;
};

}  // namespace netd::bench
