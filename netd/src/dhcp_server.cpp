#include "netd/daemon/dhcp_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <vector>

#include "netd/dhcp/dnsmasq_config.hpp"

namespace netd {
namespace {

constexpr std::chrono::milliseconds kReloadDelay{50};
constexpr std::chrono::seconds kMaxBackoff{30};
// A dnsmasq that ran this long before dying starts the backoff over.
constexpr std::chrono::seconds kStableRun{10};

// Runs dnsmasq with `arguments`, its output going to `log`; returns the child's pid.
pid_t SpawnDnsmasq(const std::vector<std::string>& arguments, const std::filesystem::path& log) {
  int output = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (output < 0) {
    throw std::system_error(errno, std::generic_category(), "opening " + log.string());
  }
  // Built before fork: netd has other threads, so the child may only make system calls.
  std::vector<std::string> copy = arguments;
  std::vector<char*> argv;
  for (auto& argument : copy) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    int error = errno;
    close(output);
    throw std::system_error(error, std::generic_category(), "fork for dnsmasq");
  }
  if (pid == 0) {
    dup2(output, STDOUT_FILENO);
    dup2(output, STDERR_FILENO);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    execvp(argv[0], argv.data());
    constexpr char kMessage[] = "netd: cannot run dnsmasq\n";
    [[maybe_unused]] auto ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    _exit(127);
  }
  close(output);
  return pid;
}

// glibc 2.36's <sys/pidfd.h> lacks C++ linkage: the system call itself.
int OpenPidfd(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Ends a dnsmasq that a killed netd left running on this configuration: dnsmasq drops its
// privileges, which clears any parent-death signal, so it outlives a netd killed with SIGKILL
// (under systemd the unit's cgroup ends it). It is found through its pid file and recognised by
// its command line, so an unrelated process that reused the pid is left alone.
void EndLeftoverDnsmasq(const std::filesystem::path& pid_file,
                        const std::filesystem::path& config_file) {
  pid_t pid = 0;
  if (!(std::ifstream(pid_file) >> pid) || pid <= 0) return;
  std::ifstream cmdline_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline(std::istreambuf_iterator<char>(cmdline_file), {});
  if (cmdline.find("--conf-file=" + config_file.string() + '\0') == std::string::npos) return;
  int pidfd = OpenPidfd(pid);
  if (pidfd < 0) return;
  spdlog::warn("dhcp: ending dnsmasq pid={} left running by an earlier netd", pid);
  auto ended = [pidfd](int timeout_ms) {
    pollfd watch{pidfd, POLLIN, 0};
    return poll(&watch, 1, timeout_ms) == 1;
  };
  kill(pid, SIGTERM);
  if (!ended(1000)) {
    kill(pid, SIGKILL);
    ended(1000);
  }
  close(pidfd);
}

}  // namespace

DhcpServer::DhcpServer(boost::asio::io_context& io, const Config& config, const dhcp::Ipam& ipam)
    : io_(io),
      config_(config),
      ipam_(ipam),
      config_file_(config.run_dir / "dnsmasq.conf"),
      hosts_file_(config.run_dir / "dnsmasq.hosts"),
      lease_file_(config.state_dir / "dnsmasq.leases"),
      pid_file_(config.run_dir / "dnsmasq.pid"),
      log_file_(config.run_dir / "dnsmasq.log"),
      reload_timer_(io),
      restart_timer_(io) {}

DhcpServer::~DhcpServer() {
  Stop();
}

void DhcpServer::Start() {
  dhcp::DnsmasqSettings settings;
  settings.hosts_file = hosts_file_;
  settings.lease_file = lease_file_;
  settings.pid_file = pid_file_;
  settings.lease_time = std::chrono::seconds(config_.gateway.dhcp_lease_time_s);
  for (const auto& network : config_.networks) {
    bool secure = network.egress == Egress::kAllowlist;
    dhcp::DhcpNetwork served{network.name,    network.bridge,       network.cidr,
                             network.gateway, network.dhcp_first,   network.dhcp_last,
                             secure,          network.dhcp_dynamic, {}};
    // Secure VMs resolve through netd's filtered DNS on their gateway; the others' DNS is not
    // controlled.
    if (secure) {
      served.dns_servers = {network.gateway};
    } else {
      served.dns_servers = config_.gateway.upstream_dns;
    }
    settings.networks.push_back(std::move(served));
  }
  dhcp::WriteFileAtomically(config_file_, dhcp::RenderDnsmasqConfig(settings));
  WriteReservations();

  auto check_log = config_.run_dir / "dnsmasq-test.log";
  std::filesystem::remove(check_log);
  pid_t check =
      SpawnDnsmasq({"dnsmasq", "--test", "--conf-file=" + config_file_.string()}, check_log);
  int status = 0;
  while (waitpid(check, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream file(check_log);
    std::string words(std::istreambuf_iterator<char>(file), {});
    while (!words.empty() && words.back() == '\n') words.pop_back();
    last_error_ =
        fmt::format("dnsmasq refuses the configuration {}: {}", config_file_.string(), words);
    refused_ = true;
    throw std::runtime_error(last_error_);
  }
  EndLeftoverDnsmasq(pid_file_, config_file_);
  Spawn();
}

void DhcpServer::WriteReservations() {
  std::vector<dhcp::Reservation> reservations;
  for (const auto& binding : ipam_.List()) {
    reservations.push_back({binding.mac, binding.ip, binding.hostname});
  }
  dhcp::WriteFileAtomically(hosts_file_, dhcp::RenderHostsFile(reservations));
}

void DhcpServer::Spawn() {
  stopping_ = false;
  pid_ = SpawnDnsmasq({"dnsmasq", "--keep-in-foreground", "--log-facility=-",
                       "--conf-file=" + config_file_.string()},
                      log_file_);
  int pidfd = OpenPidfd(pid_);
  if (pidfd < 0) {
    throw std::system_error(errno, std::generic_category(), "pidfd_open for dnsmasq");
  }
  exit_watch_.emplace(io_, pidfd);
  started_at_ = std::chrono::steady_clock::now();
  ++counters_.starts;
  spdlog::info("dhcp: dnsmasq started: pid={} config={}", pid_, config_file_.string());
  WatchExit();
}

void DhcpServer::WatchExit() {
  exit_watch_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this](boost::system::error_code error) {
                            if (!error) OnExit();
                          });
}

std::string DhcpServer::LogTail() const {
  std::ifstream file(log_file_);
  std::string text(std::istreambuf_iterator<char>(file), {});
  if (text.size() > 400) text = text.substr(text.size() - 400);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

void DhcpServer::OnExit() {
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) <= 0) {
    WatchExit();
    return;
  }
  exit_watch_.reset();
  pid_ = -1;
  if (stopping_) return;
  auto how = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                               : fmt::format("signal {}", WTERMSIG(status));
  last_error_ = fmt::format("dnsmasq ended ({}): {}", how, LogTail());
  if (std::chrono::steady_clock::now() - started_at_ > kStableRun)
    backoff_ = std::chrono::seconds(1);
  spdlog::error("dhcp: {}; restarting in {} s", last_error_, backoff_.count());
  restart_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  restart_timer_.async_wait([this](boost::system::error_code error) {
    if (error || stopping_) return;
    try {
      WriteReservations();
      Spawn();
      ++counters_.restarts;
    } catch (const std::exception& failure) {
      spdlog::error("dhcp: cannot restart dnsmasq: {}", failure.what());
    }
  });
}

void DhcpServer::ReservationsChanged() {
  if (reload_pending_) return;
  reload_pending_ = true;
  reload_timer_.expires_after(kReloadDelay);
  reload_timer_.async_wait([this](boost::system::error_code error) {
    reload_pending_ = false;
    if (error) return;
    try {
      WriteReservations();
    } catch (const std::exception& failure) {
      spdlog::error("dhcp: cannot write the reservations: {}", failure.what());
      return;
    }
    // A dnsmasq being restarted reads the file when it starts.
    if (pid_ > 0 && kill(pid_, SIGHUP) == 0) ++counters_.reloads;
  });
}

void DhcpServer::ReleaseLease(const dhcp::VmBinding& binding) {
  const auto* network = config_.FindNetwork(binding.network);
  if (!network || pid_ <= 0) return;
  // BOOTP header (236 bytes), magic cookie, options 53 (RELEASE) and 54 (server id), end.
  std::array<std::uint8_t, 300> packet{};
  packet[0] = 1;  // BOOTREQUEST
  packet[1] = 1;  // Ethernet
  packet[2] = 6;
  auto put32 = [&](std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) packet[at + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
  };
  put32(4, static_cast<std::uint32_t>(std::random_device()()));  // xid
  put32(12, binding.ip.value());                                 // ciaddr
  for (int i = 0; i < 6; ++i) {
    packet[28 + i] = static_cast<std::uint8_t>(binding.mac.value() >> (40 - 8 * i));  // chaddr
  }
  put32(236, 0x63825363);
  std::size_t at = 240;
  packet[at++] = 53;
  packet[at++] = 1;
  packet[at++] = 7;
  packet[at++] = 54;
  packet[at++] = 4;
  put32(at, network->gateway.value());
  at += 4;
  packet[at++] = 255;

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    spdlog::error("dhcp: cannot release the lease of {}: socket: {}", binding.vm, strerror(errno));
    return;
  }
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(67);
  server.sin_addr.s_addr = htonl(network->gateway.value());
  bool sent = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, network->bridge.c_str(),
                         static_cast<socklen_t>(network->bridge.size())) == 0 &&
              sendto(fd, packet.data(), at, 0, reinterpret_cast<sockaddr*>(&server),
                     sizeof(server)) == static_cast<ssize_t>(at);
  int error = errno;
  close(fd);
  if (!sent) {
    spdlog::error("dhcp: cannot release the lease of {}: {}", binding.vm, strerror(error));
    return;
  }
  spdlog::info("dhcp: released the lease of {} ({} {})", binding.vm, binding.ip.ToString(),
               binding.mac.ToString());
}

void DhcpServer::Stop() {
  stopping_ = true;
  reload_timer_.cancel();
  restart_timer_.cancel();
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
    usleep(20'000);
  }
  if (waitpid(pid_, &status, WNOHANG) == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  spdlog::info("dhcp: dnsmasq stopped");
  pid_ = -1;
  exit_watch_.reset();
}

std::vector<dhcp::Lease> DhcpServer::Leases() const {
  std::ifstream file(lease_file_);
  std::string text(std::istreambuf_iterator<char>(file), {});
  return dhcp::ParseLeases(text);
}

std::string DhcpServer::state() const {
  if (pid_ > 0) return "running";
  if (refused_) return "refused";
  return stopping_ ? "stopped" : "restarting";
}

}  // namespace netd
