#include "netd/libvirt/client.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>

#include "event_thread.hpp"
#include "netd/libvirt/handles.hpp"

namespace netd::libvirt {
namespace {

DomainState DescribeDomain(virDomainPtr domain, bool undefined) {
  DomainState state;
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(domain, uuid) == 0) state.uuid = uuid;
  if (const char* name = virDomainGetName(domain)) state.name = name;
  if (undefined) {
    state.defined = false;
    return state;
  }
  state.running = virDomainIsActive(domain) == 1;
  // A transient domain is gone once it stops.
  state.defined = state.running || virDomainIsPersistent(domain) == 1;
  if (LibvirtText xml{virDomainGetXMLDesc(domain, 0)}) {
    state.interfaces = ParseDomainInterfaces(xml.get());
  }
  return state;
}

}  // namespace

// The connection; its methods run on the libvirt thread, except where they say otherwise.
class LibvirtClient::Session {
 public:
  Session(boost::asio::io_context& io, Options options, DomainsCallback on_domains)
      : on_domains_(std::move(on_domains)),
        io_(io),
        options_(std::move(options)),
        backoff_(options_.min_backoff) {
    status_.uri = options_.uri;
    for (const auto& network : options_.networks) {
      status_.networks.push_back({network.name, network.bridge});
    }
  }

  DomainsCallback on_domains_;

  // From the loop: states posted from now on reach the callback, until Stop.
  void StartDelivering() {
    std::lock_guard lock(posting_mutex_);
    posting_ = true;
    ++generation_;
  }
  // From the loop: no state posted before reaches the callback, nor one posted later.
  void StopDelivering() {
    std::lock_guard lock(posting_mutex_);
    posting_ = false;
    ++generation_;
  }
  bool Delivering(std::uint64_t generation) {
    std::lock_guard lock(posting_mutex_);
    return posting_ && generation == generation_;
  }
  bool delivering() {
    std::lock_guard lock(posting_mutex_);
    return posting_;
  }

  Status status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

  void Open(std::weak_ptr<Session> self) {
    self_ = std::move(self);
    closing_ = false;
    Connect();
  }

  void Close() {
    closing_ = true;
    RemoveTimer(retry_timer_);
    if (connection_) Disconnect();
  }

 private:
  void Connect() {
    if (closing_ || connection_) return;
    connection_ = virConnectOpen(options_.uri.c_str());
    if (!connection_) {
      Failed(fmt::format("cannot connect to {}: {}", options_.uri, LastError()));
      return;
    }
    virConnectRegisterCloseCallback(connection_, &Session::OnClose, this, nullptr);
    // Remote connections hear of a dead libvirtd within 15 s; local drivers have no keepalive.
    virConnectSetKeepAlive(connection_, 5, 3);
    domain_callback_ = virConnectDomainEventRegisterAny(
        connection_, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(&Session::OnDomainEvent), this, nullptr);
    network_callback_ = virConnectNetworkEventRegisterAny(
        connection_, nullptr, VIR_NETWORK_EVENT_ID_LIFECYCLE,
        VIR_NETWORK_EVENT_CALLBACK(&Session::OnNetworkEvent), this, nullptr);
    if (domain_callback_ < 0 || network_callback_ < 0) {
      auto why = LastError();
      Disconnect();
      Failed(fmt::format("cannot subscribe to {}'s events: {}", options_.uri, why));
      return;
    }
    {
      std::lock_guard lock(mutex_);
      ++status_.connects;
      status_.connected = true;
      status_.error.clear();
    }
    spdlog::info("libvirt: connected to {}", options_.uri);
    backoff_ = options_.min_backoff;
    EnsureNetworks();
    check_timer_ = virEventAddTimeout(static_cast<int>(options_.check_interval.count()),
                                      &Session::OnCheck, this, nullptr);
    DeliverAllDomains();
  }

  void Failed(const std::string& why) {
    spdlog::warn("libvirt: {}; again in {} ms", why, backoff_.count());
    {
      std::lock_guard lock(mutex_);
      status_.error = why;
      ++status_.connect_failures;
    }
    RemoveTimer(retry_timer_);
    retry_timer_ =
        virEventAddTimeout(static_cast<int>(backoff_.count()), &Session::OnRetry, this, nullptr);
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  }

  void Disconnect() {
    RemoveTimer(check_timer_);
    if (domain_callback_ >= 0) virConnectDomainEventDeregisterAny(connection_, domain_callback_);
    if (network_callback_ >= 0) virConnectNetworkEventDeregisterAny(connection_, network_callback_);
    domain_callback_ = network_callback_ = -1;
    virConnectUnregisterCloseCallback(connection_, &Session::OnClose);
    virConnectClose(connection_);
    connection_ = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (status_.connected) ++status_.disconnects;
      status_.connected = false;
    }
    // What netd knew of the domains may be stale from now on.
    Deliver({}, true);
  }

  static void RemoveTimer(int& timer) {
    if (timer >= 0) virEventRemoveTimeout(timer);
    timer = -1;
  }

  // The networks as specified: defined (again, keeping their uuid, where their definition
  // differs), restarted where the running one differs, started, autostarted.
  void EnsureNetworks() {
    std::uint64_t changes = 0;
    bool all_well = true;
    for (std::size_t i = 0; i < options_.networks.size(); ++i) {
      const auto& spec = options_.networks[i];
      std::string failure;
      auto status = EnsureNetwork(spec, !failing_.contains(spec.name), changes, failure);
      if (!failure.empty()) {
        all_well = false;
        failing_.insert(spec.name);
        spdlog::warn("libvirt: network {}: {}; again in {} ms", spec.name, failure,
                     options_.check_interval.count());
      } else {
        failing_.erase(spec.name);
      }
      std::lock_guard lock(mutex_);
      status_.networks[i] = status;
      if (!failure.empty()) status_.error = fmt::format("network {}: {}", spec.name, failure);
    }
    std::lock_guard lock(mutex_);
    status_.network_changes += changes;
    if (settled_) status_.network_repairs += changes;
    if (all_well) {
      settled_ = true;
      if (status_.connected) status_.error.clear();
    }
  }

  // Whether `xml` (the network's XML) is netd's definition of `spec`.
  static bool Matches(const LibvirtText& xml, const LibvirtNetworkSpec& spec) {
    return xml && ParseLibvirtNetworkXml(xml.get()) == spec;
  }

  // A network whose last repair failed is not stopped again: if libvirt keeps running another
  // definition, netd would otherwise restart it, and its VMs' network, on every check.
  NetworkStatus EnsureNetwork(const LibvirtNetworkSpec& spec, bool may_restart,
                              std::uint64_t& changes, std::string& failure) {
    NetworkStatus status{spec.name, spec.bridge};
    LibvirtNetwork network{virNetworkLookupByName(connection_, spec.name.c_str())};
    auto fail = [&](std::string_view what) {
      failure = fmt::format("cannot {}: {}", what, LastError());
      return status;
    };
    std::string uuid;
    bool defined = false;
    if (network) {
      char text[VIR_UUID_STRING_BUFLEN] = {};
      if (virNetworkGetUUIDString(network.get(), text) == 0) uuid = text;
      LibvirtText persistent{virNetworkGetXMLDesc(network.get(), VIR_NETWORK_XML_INACTIVE)};
      // Drivers without the flag (libvirt's test driver) have one definition for both.
      if (!persistent) persistent.reset(virNetworkGetXMLDesc(network.get(), 0));
      defined = virNetworkIsPersistent(network.get()) == 1 && Matches(persistent, spec);
      // A network running another definition is stopped first: started again below, it runs
      // netd's.
      if (may_restart && virNetworkIsActive(network.get()) == 1 &&
          !Matches(LibvirtText{virNetworkGetXMLDesc(network.get(), 0)}, spec)) {
        if (virNetworkDestroy(network.get()) != 0) return fail("stop it to apply the definition");
        spdlog::info("libvirt: stopped network {}: it ran another definition", spec.name);
        ++changes;
      }
    }
    if (!defined) {
      network.reset(virNetworkDefineXML(connection_, LibvirtNetworkXml(spec, uuid).c_str()));
      if (!network) return fail("define it");
      spdlog::info("libvirt: defined network {} (bridge {}, {})", spec.name, spec.bridge,
                   spec.tag_ports ? fmt::format("ports tagged {}", spec.vlan) : "untagged ports");
      ++changes;
    }
    if (virNetworkIsActive(network.get()) != 1) {
      if (virNetworkCreate(network.get()) != 0) return fail("start it");
      spdlog::info("libvirt: started network {}", spec.name);
      ++changes;
    }
    status.active = true;
    int autostart = 0;
    if (virNetworkGetAutostart(network.get(), &autostart) != 0 || !autostart) {
      if (virNetworkSetAutostart(network.get(), 1) != 0) return fail("autostart it");
      spdlog::info("libvirt: network {} autostarts", spec.name);
      ++changes;
    }
    status.autostart = true;
    if (!Matches(LibvirtText{virNetworkGetXMLDesc(network.get(), 0)}, spec)) {
      failure = "libvirt runs another definition than netd gave it";
      return status;
    }
    status.as_specified = true;
    return status;
  }

  void DeliverAllDomains() {
    virDomainPtr* list = nullptr;
    int count = virConnectListAllDomains(connection_, &list, 0);
    if (count < 0) {
      spdlog::warn("libvirt: cannot list the domains: {}", LastError());
      return;
    }
    std::vector<DomainState> states;
    for (int i = 0; i < count; ++i) {
      LibvirtDomain domain{list[i]};
      states.push_back(DescribeDomain(domain.get(), false));
    }
    std::free(list);
    spdlog::info("libvirt: {} domains, {} running", states.size(),
                 std::count_if(states.begin(), states.end(), [](auto& s) { return s.running; }));
    Deliver(std::move(states), true);
  }

  void Deliver(std::vector<DomainState> states, bool complete) {
    std::lock_guard lock(posting_mutex_);
    // After Stop the loop may be gone; and what an earlier Start's connection saw is stale.
    if (!posting_) return;
    boost::asio::post(io_, [self = self_, generation = generation_, states = std::move(states),
                            complete]() mutable {
      auto session = self.lock();
      if (session && session->Delivering(generation)) {
        session->on_domains_(std::move(states), complete);
      }
    });
  }

  static void OnRetry(int timer, void* opaque) {
    auto* session = static_cast<Session*>(opaque);
    virEventRemoveTimeout(timer);
    session->retry_timer_ = -1;
    session->Connect();
  }

  static void OnCheck(int, void* opaque) {
    auto* session = static_cast<Session*>(opaque);
    if (!session->connection_) return;
    session->EnsureNetworks();
    std::lock_guard lock(session->mutex_);
    ++session->status_.checks;
  }

  static void OnClose(virConnectPtr, int reason, void* opaque) {
    auto* session = static_cast<Session*>(opaque);
    spdlog::warn("libvirt: lost the connection to {} (reason {})", session->options_.uri, reason);
    // Not from within the callback: the connection is closed on the next turn of the loop.
    RemoveTimer(session->retry_timer_);
    session->retry_timer_ = virEventAddTimeout(0, &Session::OnLost, opaque, nullptr);
  }

  static void OnLost(int timer, void* opaque) {
    auto* session = static_cast<Session*>(opaque);
    virEventRemoveTimeout(timer);
    session->retry_timer_ = -1;
    if (session->connection_) session->Disconnect();
    session->Failed(fmt::format("lost the connection to {}", session->options_.uri));
  }

  static int OnDomainEvent(virConnectPtr, virDomainPtr domain, int event, int, void* opaque) {
    auto* session = static_cast<Session*>(opaque);
    auto state = DescribeDomain(domain, event == VIR_DOMAIN_EVENT_UNDEFINED);
    spdlog::info("libvirt: domain {} ({}) event {}: {}", state.name, state.uuid, event,
                 !state.defined  ? "gone"
                 : state.running ? "running"
                                 : "not running");
    {
      std::lock_guard lock(session->mutex_);
      ++session->status_.domain_events;
    }
    session->Deliver({std::move(state)}, false);
    return 0;
  }

  static int OnNetworkEvent(virConnectPtr, virNetworkPtr network, int event, int, void* opaque) {
    auto* session = static_cast<Session*>(opaque);
    const char* name = virNetworkGetName(network);
    const auto& networks = session->options_.networks;
    bool ours = name && std::any_of(networks.begin(), networks.end(),
                                    [&](const auto& spec) { return spec.name == name; });
    // A network redefined by someone else waits for the next check: netd's own definitions
    // raise the same event. So does a network netd failed to repair, lest its own attempts'
    // events repeat them without pause.
    if (ours && !session->failing_.contains(name) &&
        (event == VIR_NETWORK_EVENT_UNDEFINED || event == VIR_NETWORK_EVENT_STOPPED)) {
      session->EnsureNetworks();
    }
    return 0;
  }

  boost::asio::io_context& io_;
  Options options_;
  std::weak_ptr<Session> self_;
  std::chrono::milliseconds backoff_;
  virConnectPtr connection_ = nullptr;
  int domain_callback_ = -1;
  int network_callback_ = -1;
  int retry_timer_ = -1;
  int check_timer_ = -1;
  bool closing_ = false;
  bool settled_ = false;           // the networks stood as specified once
  std::set<std::string> failing_;  // networks whose last repair failed
  mutable std::mutex mutex_;
  Status status_;
  std::mutex posting_mutex_;
  bool posting_ = false;
  std::uint64_t generation_ = 0;
};

LibvirtClient::LibvirtClient(boost::asio::io_context& io, Options options,
                             DomainsCallback on_domains)
    : session_(std::make_shared<Session>(io, std::move(options), std::move(on_domains))) {}

LibvirtClient::~LibvirtClient() {
  Stop();
}

void LibvirtClient::Start() {
  if (session_->delivering()) return;
  session_->StartDelivering();
  LibvirtThread::Get().Post(
      [session = session_] { session->Open(std::weak_ptr<Session>(session)); });
}

void LibvirtClient::Stop() {
  if (!session_->delivering()) return;
  session_->StopDelivering();
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  LibvirtThread::Get().Post([session = session_, closed] {
    session->Close();
    closed->set_value();
  });
  // Closing waits for whatever libvirt call is under way; a hung libvirtd must not hold up the
  // daemon's loop forever. The session lives on with the task, and posts nothing more.
  if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    spdlog::warn("libvirt: the connection to {} did not close within 5 s; going on",
                 session_->status().uri);
  }
}

LibvirtClient::Status LibvirtClient::status() const {
  return session_->status();
}

}  // namespace netd::libvirt
