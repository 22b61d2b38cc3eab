#include "support.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "netd/ovs/remote.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/within.hpp"

namespace netd::bench {

double Percentile(std::vector<double> samples, double fraction) {
  std::sort(samples.begin(), samples.end());
  return samples[static_cast<std::size_t>(fraction * static_cast<double>(samples.size() - 1))];
}

double Ms(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

long RssKib(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long utime = 0;
  long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

OvsdbMonitorProcess::OvsdbMonitorProcess(const std::filesystem::path& fifo,
                                         const std::string& remote, const std::string& database,
                                         const std::string& table, const std::string& column) {
  if (mkfifo(fifo.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + fifo.string());
  reader_ = std::thread([this, fifo] {
    std::ifstream in(fifo);
    for (std::string line; std::getline(in, line);) {
      auto now = Clock::now();
      // row,action,value
      auto first = line.find(',');
      auto last = line.rfind(',');
      if (first == std::string::npos || first == last) continue;
      std::lock_guard lock(mutex_);
      lines_[line.substr(last + 1)].push_back({line.substr(first + 1, last - first - 1), now});
    }
  });
  process_ = lab::StartProcess(
      {"ovsdb-client", "monitor", remote, database, table, column, "--format=csv"},
      {.env = {}, .output = fifo});
}

OvsdbMonitorProcess::~OvsdbMonitorProcess() {
  process_.Stop();
  reader_.join();
}

std::optional<Clock::time_point> OvsdbMonitorProcess::Seen(const std::string& value,
                                                           const std::string& action,
                                                           Clock::time_point since) {
  std::lock_guard lock(mutex_);
  auto it = lines_.find(value);
  if (it == lines_.end()) return std::nullopt;
  for (const auto& line : it->second) {
    if (line.at >= since && (action.empty() || line.action == action)) return line.at;
  }
  return std::nullopt;
}

std::vector<std::unique_ptr<ovs::OvsdbClient>> StartPolicyWatchers(boost::asio::io_context& io,
                                                                   const std::string& remote,
                                                                   int count) {
  ovs::OvsdbClient::Options options;
  options.database = std::string(policy::kDatabase);
  options.tables = {{"Policy", {"generation", "published_at"}}};
  std::vector<std::unique_ptr<ovs::OvsdbClient>> watchers;
  for (int i = 0; i < count; ++i) {
    watchers.push_back(std::make_unique<ovs::OvsdbClient>(
        io, std::vector<ovs::Remote>{ovs::ParseOvsdbRemote(remote)}, options));
    watchers.back()->Start();
  }
  return watchers;
}

PolicyDatabaseServer::PolicyDatabaseServer(const std::filesystem::path& dir)
    : remote_("unix:" + (dir / "db.sock").string()) {
  auto file = [&](const char* name) { return (dir / name).string(); };
  std::vector<std::string> env = {"OVS_RUNDIR=" + dir.string(), "OVS_DBDIR=" + dir.string(),
                                  "OVS_LOGDIR=" + dir.string()};
  lab::RunCommandChecked({"ovsdb-tool", "create", file("policy.db"), policy::SchemaPath().string()},
                         {.env = env});
  process_ =
      lab::StartProcess({"ovsdb-server", file("policy.db"), "--remote=punix:" + file("db.sock"),
                         "--unixctl=" + file("ovsdb-server.ctl"), "--no-chdir", "-vconsole:off",
                         "--log-file=" + file("ovsdb-server.log")},
                        {.env = env, .output = file("ovsdb-server.out")});
  if (!testing::Within(std::chrono::seconds(10), [&] {
        return lab::RunCommand({"ovsdb-client", "list-dbs", remote_}).ok();
      })) {
    throw std::runtime_error("ovsdb-server did not start:\n" +
                             lab::RunCommand({"cat", file("ovsdb-server.log")}).out);
  }
}

}  // namespace netd::bench
