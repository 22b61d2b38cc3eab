#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netd/libvirt/xml.hpp"

namespace netd::libvirt {

struct DomainState {
  std::string uuid;  // what libvirt writes into the port's external_ids:vm-id
  std::string name;
  bool defined = true;  // false: libvirt no longer knows the domain
  bool running = false;
  std::vector<DomainInterface> interfaces;
};

// netd's connection to libvirt on a VM host. It keeps the networks defined, started and
// autostarted as specified (also when someone destroys, undefines or redefines them), and
// reports domain lifecycle events with the domain's state. libvirt's calls block, so they all
// run on one thread of the process that also runs libvirt's event loop; results reach the
// caller's Asio loop by post, never blocking it on libvirtd.
class LibvirtClient {
 public:
  struct Options {
    std::string uri;  // e.g. qemu:///system; test:///default in tests
    std::vector<LibvirtNetworkSpec> networks;
    // Besides events, the networks are checked this often (a missed event, a failed repair).
    std::chrono::milliseconds check_interval{10'000};
    std::chrono::milliseconds min_backoff{500};
    std::chrono::milliseconds max_backoff{30'000};
  };
  // On the loop. `complete`: `domains` are all of libvirt's (after each connect), or none when
  // the connection is lost (what netd knew of them may be stale from then on); otherwise the
  // domains an event was about.
  using DomainsCallback = std::function<void(std::vector<DomainState> domains, bool complete)>;

  LibvirtClient(boost::asio::io_context& io, Options options, DomainsCallback on_domains);
  ~LibvirtClient();
  LibvirtClient(const LibvirtClient&) = delete;
  LibvirtClient& operator=(const LibvirtClient&) = delete;

  // Connects (and keeps reconnecting with backoff) until Stop, which waits (at most 5 s) until
  // the connection is closed; nothing reaches the callback after Stop.
  void Start();
  void Stop();

  struct NetworkStatus {
    std::string name;
    std::string bridge;
    bool active = false;
    bool autostart = false;
    bool as_specified = false;  // the persistent definition is netd's
  };
  struct Status {
    std::string uri;
    bool connected = false;
    std::string error;  // the last failure, if the last attempt failed
    std::vector<NetworkStatus> networks;
    std::uint64_t connects = 0;
    std::uint64_t connect_failures = 0;  // attempts that failed (each retried after a pause)
    std::uint64_t disconnects = 0;
    std::uint64_t network_changes = 0;  // defines, starts, autostarts netd made
    std::uint64_t network_repairs = 0;  // of those, after the networks first stood as specified
    std::uint64_t domain_events = 0;
    std::uint64_t checks = 0;  // periodic checks of the networks done while connected
  };
  Status status() const;

 private:
  class Session;
  std::shared_ptr<Session> session_;
};

}  // namespace netd::libvirt
