#include "netd/daemon/daemon.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <optional>

#include "netd/common/asio_clock.hpp"
#include "netd/daemon/audit.hpp"
#include "netd/daemon/audit_anchors.hpp"
#include "netd/daemon/audit_api.hpp"
#include "netd/daemon/control_api.hpp"
#include "netd/daemon/dhcp_server.hpp"
#include "netd/daemon/dns_api.hpp"
#include "netd/daemon/firewall_api.hpp"
#include "netd/daemon/gateway_bindings.hpp"
#include "netd/daemon/gateway_dns.hpp"
#include "netd/daemon/gateway_options.hpp"
#include "netd/daemon/group_api.hpp"
#include "netd/daemon/host_role.hpp"
#include "netd/daemon/http_server.hpp"
#include "netd/daemon/policy_publication.hpp"
#include "netd/daemon/route_guard_status.hpp"
#include "netd/daemon/store.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/firewall/firewall_reconciler.hpp"
#include "netd/firewall/forwarding_guard.hpp"
#include "netd/firewall/gateway_firewall.hpp"
#include "stored_state.hpp"

namespace netd {
namespace {

// An exclusive flock on <state_dir>/netd.lock, held for the daemon's life: two netd on one
// state directory would corrupt each other's view of the kernel.
class StateDirLock {
 public:
  explicit StateDirLock(const std::filesystem::path& state_dir) : path_(state_dir / "netd.lock") {
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw std::runtime_error(
          fmt::format("cannot open lock file {}: {}", path_.string(), std::strerror(errno)));
    }
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char pid[32] = {};
      auto length = pread(fd_, pid, sizeof(pid) - 1, 0);
      close(fd_);
      std::string holder = length > 0 ? fmt::format(" (pid {})", std::string(pid, length)) : "";
      throw std::runtime_error(fmt::format(
          "another netd{} is running on state directory {} (it holds {}); stop it first or "
          "use another --state-dir",
          holder, state_dir.string(), path_.string()));
    }
    auto pid = std::to_string(getpid());
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      spdlog::warn("cannot write pid to {}: {}", path_.string(), std::strerror(errno));
    }
  }
  ~StateDirLock() { close(fd_); }
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

std::string RolesText(const Config& config) {
  std::string text;
  for (auto role : config.roles)
    text += fmt::format("{}{}", text.empty() ? "" : ",", ToString(role));
  return text;
}

}  // namespace

void ConfigOverrides::ApplyTo(Config& config) const {
  if (socket) config.socket = *socket;
  if (state_dir) config.state_dir = *state_dir;
  if (run_dir) config.run_dir = *run_dir;
  if (log_level) config.log_level = *log_level;
}

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("netd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

int RunDaemon(Config config, const std::function<Config()>& reload) {
  std::filesystem::create_directories(config.state_dir);
  std::filesystem::permissions(config.state_dir, std::filesystem::perms(0750));
  std::filesystem::create_directories(config.run_dir);
  StateDirLock lock(config.state_dir);

  Store store(config.state_dir / "netd.db");
  dhcp::Ipam ipam(IpamNetworksOf(config));
  auto bindings = store.LoadBindings();
  for (const auto& binding : bindings) {
    if (auto problem = ipam.Restore(binding)) {
      throw std::runtime_error(fmt::format(
          "the state store {} does not fit the configuration: {}; restore the configuration "
          "that bound it or unbind the VM with the old one",
          (config.state_dir / "netd.db").string(), *problem));
    }
  }
  AuditChain audit(store);

  // The gateway's table is in the kernel before the API answers anyone; if the kernel refuses
  // it, netd exits with the kernel's reason and the table as it was.
  std::unique_ptr<firewall::PacketFilter> packet_filter;
  std::unique_ptr<firewall::GatewayFirewall> gateway_firewall;
  // Asio never raises SIGPIPE (MSG_NOSIGNAL), but libvirt's remote client writes to its socket
  // itself: a libvirtd that goes away must not kill netd.
  std::signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context io(1);
  AsioClock clock(io);
  AuditAnchorWriter anchors(io, audit,
                            config.audit.anchor_file.empty() ? config.state_dir / "audit-anchors"
                                                             : config.audit.anchor_file,
                            config.audit.anchor_interval);
  anchors.Start();
  std::optional<firewall::ForwardingGuard> forwarding_guard;
  if (config.HasRole(Role::kGateway)) {
    // Closed before the table exists: nothing of a VM network is routed until it is applied.
    forwarding_guard.emplace(io, RouteGuardSpecOf(config));
    forwarding_guard->CloseRoutes();
    packet_filter = firewall::MakeNftablesPacketFilter();
    gateway_firewall = std::make_unique<firewall::GatewayFirewall>(GatewayFirewallOptionsOf(config),
                                                                   *packet_filter);
    gateway_firewall->Start(LoadStoredState(store, config));
    gateway_firewall->CutFlowsInBackground();
    forwarding_guard->EnableForwarding();
  }
  spdlog::info("netd starting: roles={} state_dir={} bindings={} audit_records={}",
               RolesText(config), config.state_dir.string(), ipam.size(), audit.length());

  // Before anything can reach netd (the socket, dnsmasq): a SIGTERM from then on is a clean stop.
  boost::asio::signal_set reload_signal(io, SIGHUP);
  boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);

  // DHCP after the table: a VM gets its address only once its egress policy is in place.
  std::optional<DhcpServer> dhcp_server;
  if (gateway_firewall) {
    dhcp_server.emplace(io, config, ipam);
    try {
      dhcp_server->supervisor().Start();
    } catch (const std::exception& failure) {
      spdlog::error("dhcp: not serving: {}", failure.what());
    }
  }
  // Filtered DNS for the secure networks; netd does not run without it.
  std::optional<GatewayDns> filtered_dns;
  if (gateway_firewall) {
    filtered_dns.emplace(io, config, *gateway_firewall);
    filtered_dns->Start();
  }
  // Segmentation groups live on the gateway: its store decides, the hosts enforce.
  std::optional<GroupApi> group_api;
  if (gateway_firewall) group_api.emplace(config, store, audit, ipam);
  // The host role keeps this host's bridges through ovsdb-server, reconnecting while it is away.
  // The policy database follows the store; the hosts follow the database.
  std::optional<PolicyPublication> policy_publication;
  if (gateway_firewall && config.policy) {
    policy_publication.emplace(io, config, clock);
    policy_publication->Start(ipam, group_api->published());
    group_api->AddObserver(*policy_publication);
  }
  // Where both roles run without a policy database, the host side pins what this netd bound and
  // opens what its groups open.
  std::optional<GatewayBindings> gateway_bindings;
  if (config.HasRole(Role::kHost) && gateway_firewall && !config.policy) {
    gateway_bindings.emplace(ipam, group_api->published());
  }
  std::optional<HostRole> host_role;
  if (config.HasRole(Role::kHost)) {
    host_role.emplace(io, config, clock, gateway_bindings ? &*gateway_bindings : nullptr);
    host_role->Start();
  }
  if (gateway_bindings) gateway_bindings->set_on_change([&] { host_role->BindingsChanged(); });

  // The control API serves what this netd runs; the order of Serve is the order of /metrics.
  ApiMetrics metrics;
  ControlApi api(audit, metrics);
  VmApi vm_api(config, store, audit, ipam);
  api.Serve(vm_api);
  if (gateway_bindings) {
    vm_api.AddObserver(*gateway_bindings);
    group_api->AddObserver(*gateway_bindings);
  }
  if (policy_publication) {
    vm_api.AddObserver(*policy_publication);
    api.Serve(*policy_publication);
  }
  if (dhcp_server) {
    vm_api.AddObserver(*dhcp_server);
    api.Serve(*dhcp_server);
  }
  std::optional<FirewallApi> firewall_api;
  if (gateway_firewall) {
    firewall_api.emplace(config, store, audit, ipam, *gateway_firewall, clock);
    vm_api.AddObserver(*firewall_api);
    api.Serve(*firewall_api);
  } else {
    api.Refuse<FirewallApi>({409, "not_a_gateway",
                             "this netd does not run the gateway role; allowlists live on the "
                             "gateway",
                             ""});
  }
  if (group_api) {
    api.Serve(*group_api);
  } else {
    api.Refuse<GroupApi>({409, "not_a_gateway",
                          "this netd does not run the gateway role; groups live on the gateway",
                          ""});
  }
  AuditApi audit_api(audit, anchors);
  api.Serve(audit_api);
  DaemonStatus daemon_status(config);
  api.Serve(daemon_status);
  std::optional<DnsApi> dns_api;
  if (filtered_dns) {
    dns_api.emplace(filtered_dns->resolver(), *gateway_firewall);
    vm_api.AddObserver(*dns_api);
    api.Serve(*dns_api);
  } else {
    api.Refuse<DnsApi>({409, "no_filtered_dns", "this netd does not run the gateway role", ""});
  }
  if (host_role) {
    api.Serve(*host_role);
  } else {
    api.Refuse<HostRole>({409, "no_host_role", "this netd does not run the host role", ""});
  }
  std::optional<RouteGuardStatus> route_guard_status;
  if (forwarding_guard) {
    route_guard_status.emplace(*forwarding_guard);
    api.Serve(*route_guard_status);
  }
  HttpServer server(io, config.api, api, metrics);
  server.Listen(config.socket);
  std::optional<firewall::FirewallReconciler> reconciler;
  if (gateway_firewall) {
    reconciler.emplace(io, clock, *gateway_firewall,
                       [&] { return LoadStoredState(store, config); });
  }
  // DNS-learned destinations close at their expiry, give or take this period.
  boost::asio::steady_timer learned_timer(io);
  std::function<void(boost::system::error_code)> expire_learned = [&](auto error) {
    if (error) return;
    gateway_firewall->ExpireLearned();
    learned_timer.expires_after(std::chrono::seconds(1));
    learned_timer.async_wait(expire_learned);
  };
  if (gateway_firewall) expire_learned({});

  // Answers being written finish; after this grace period the loop is stopped regardless.
  boost::asio::steady_timer stop_deadline(io);
  boost::asio::steady_timer ready_timer(io);  // until READY=1 (below)
  stop_signals.async_wait([&](boost::system::error_code error, int signal) {
    if (error) return;
    spdlog::info("netd stopping on {}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    server.Stop();
    anchors.Flush();
    if (reconciler) reconciler->Stop();
    if (forwarding_guard) forwarding_guard->Stop();
    if (dhcp_server) dhcp_server->supervisor().Stop();
    if (filtered_dns) filtered_dns->Stop();
    if (host_role) host_role->Stop();
    if (policy_publication) policy_publication->Stop();
    learned_timer.cancel();
    ready_timer.cancel();
    reload_signal.cancel();
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::function<void(boost::system::error_code)> wait_for_answers = [&, give_up](auto) {
      if (server.open_connections() == 0 || std::chrono::steady_clock::now() > give_up) {
        io.stop();
        return;
      }
      stop_deadline.expires_after(std::chrono::milliseconds(20));
      stop_deadline.async_wait(wait_for_answers);
    };
    wait_for_answers({});
  });

  std::function<void(boost::system::error_code, int)> on_reload =
      [&](boost::system::error_code error, int) {
        if (error) return;
        sd_notify(0, "RELOADING=1");
        try {
          auto fresh = reload();
          for (const auto& setting : SettingsNeedingRestart(config, fresh)) {
            spdlog::warn("reload: {} changed; it takes effect after a restart", setting);
          }
          spdlog::set_level(spdlog::level::from_str(fresh.log_level));
          server.Reconfigure(fresh.api);
          config.log_level = fresh.log_level;
          config.api = fresh.api;
          spdlog::info("reload: applied log_level={} and the [api] settings", fresh.log_level);
        } catch (const std::exception& failure) {
          spdlog::error("reload: keeping the running configuration: {}", failure.what());
        }
        sd_notify(0, "READY=1");
        reload_signal.async_wait(on_reload);
      };
  reload_signal.async_wait(on_reload);

  // systemd hears READY=1 once netd enforces: the gateway's table is applied by now, and a
  // host's bridges must hold their flows, acknowledged by the switch (netd.service orders
  // libvirtd after netd: no VM starts before).
  std::function<void(boost::system::error_code)> announce_ready = [&](auto error) {
    if (error) return;
    if (host_role && !host_role->Programmed()) {
      ready_timer.expires_after(std::chrono::milliseconds(20));
      ready_timer.async_wait(announce_ready);
      return;
    }
    sd_notify(0, "READY=1");
    spdlog::info("netd ready: socket={} pid={}", config.socket.string(), getpid());
  };
  announce_ready({});
  io.run();
  spdlog::info("netd stopped");
  return 0;
}

}  // namespace netd
