#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netd/ovs/openflow.hpp"

namespace netd::ovs {

class ReconnectingStream;

// One change of a switch's flow table, or of a port's configuration.
struct FlowChange {
  enum class Kind { kAdd, kDelete, kDeleteFlow, kPortConfig };
  Kind kind = Kind::kAdd;
  openflow::Flow flow;          // kAdd; kDeleteFlow: its table, priority and match
  std::uint64_t cookie = 0;     // kAdd, kDeleteFlow: the flow's cookie; kDelete: the cookies
  std::uint64_t mask = 0;       // kDelete: the bits of `cookie` that must match
  openflow::PortConfig port{};  // kPortConfig

  static FlowChange Add(openflow::Flow flow, std::uint64_t cookie) {
    return {Kind::kAdd, std::move(flow), cookie, 0};
  }
  static FlowChange Delete(std::uint64_t cookie, std::uint64_t mask) {
    return {Kind::kDelete, {}, cookie, mask};
  }
  static FlowChange DeleteFlow(openflow::Flow flow, std::uint64_t cookie) {
    return {Kind::kDeleteFlow, std::move(flow), cookie, 0};
  }
  static FlowChange SetPortConfig(const openflow::PortConfig& port) {
    return {Kind::kPortConfig, {}, 0, 0, port};
  }
};

// An OpenFlow 1.3 connection to one bridge of ovs-vswitchd, through the bridge's management
// socket (<rundir>/<bridge>.mgmt), on the caller's Asio loop. It says hello, answers echoes,
// and sends flow changes in batches, each closed by a barrier: a batch's callback hears, once
// the switch has processed all of it, which of its changes the switch refused. It reconnects
// with backoff when the connection drops (ovs-vswitchd restarting, the bridge recreated), and
// gives a connection up when the switch goes silent (an echo request unanswered), leaves a
// request unanswered, or stops reading what netd sends: a batch then hears it lost, and the
// bridge is programmed again on the next connection.
class OpenFlowClient {
 public:
  struct Options {
    std::chrono::milliseconds min_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
    // Nothing received for this long: an echo request; nothing for as long again: given up.
    std::chrono::milliseconds inactivity_probe{5000};
    // A barrier, flow count or port description unanswered for this long: given up.
    std::chrono::milliseconds request_timeout{10000};
    // Bytes the switch has not read beyond this: given up.
    std::size_t max_unwritten = std::size_t{64} << 20;
  };

  OpenFlowClient(boost::asio::io_context& io, std::filesystem::path socket, Options options);
  OpenFlowClient(boost::asio::io_context& io, std::filesystem::path socket);
  ~OpenFlowClient();
  OpenFlowClient(const OpenFlowClient&) = delete;
  OpenFlowClient& operator=(const OpenFlowClient&) = delete;

  void Start();
  void Stop();

  // Whether hellos were exchanged on the current connection.
  bool ready() const { return ready_; }
  // Called on the loop after each successful hello exchange, and after a connection is lost
  // (also through Stop). Set before Start; the listener must outlive the client.
  void set_on_ready(std::function<void()> on_ready) { on_ready_ = std::move(on_ready); }
  void set_on_lost(std::function<void()> on_lost) { on_lost_ = std::move(on_lost); }

  struct BatchResult {
    // The changes the switch refused: their index in the batch and the switch's error.
    std::vector<std::pair<std::size_t, openflow::Error>> refused;
    // Set when the connection dropped before the barrier's answer: the outcome is unknown.
    std::string lost;
    bool ok() const { return refused.empty() && lost.empty(); }
  };
  using BatchCallback = std::function<void(const BatchResult&)>;
  // Sends `changes` and a barrier. Without a ready connection the callback hears so at once
  // (from the loop).
  void Send(const std::vector<FlowChange>& changes, BatchCallback done);

  // Asks how many flows have a cookie equal to `cookie` in the bits of `mask`, and how many
  // packets they matched; the callback hears it, or nullopt when the connection went first (or
  // there is none).
  using CountCallback = std::function<void(std::optional<openflow::AggregateStats>)>;
  void CountFlows(std::uint64_t cookie, std::uint64_t mask, CountCallback done);

  // Asks for the description of every port (OFPMP_PORT_DESC); the callback hears them, or
  // nullopt when the connection went first (or there is none) or the reply was malformed.
  using PortsCallback = std::function<void(std::optional<std::vector<openflow::PortDescription>>)>;
  void DescribePorts(PortsCallback done);

  struct Counters {
    std::uint64_t connects = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t flow_mods = 0;
    std::uint64_t barriers = 0;
    std::uint64_t errors = 0;  // OFPT_ERROR messages received
    std::uint64_t echoes = 0;
    // Connections given up: no answer to an echo request, to a request, or nothing read.
    std::uint64_t probe_timeouts = 0;
    std::uint64_t request_timeouts = 0;
    std::uint64_t overflows = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Batch {
    std::uint32_t first_xid = 0;
    std::size_t size = 0;
    BatchResult result;
    BatchCallback done;
  };

  void OnConnected();
  void OnReceived(std::string_view bytes);
  bool Handle(std::span<const std::uint8_t> message);
  void Queue(const std::vector<std::uint8_t>& message);
  void OnLost(const std::string& why, bool was_connected);
  std::string path() const;

  boost::asio::io_context& io_;
  std::unique_ptr<ReconnectingStream> stream_;
  std::vector<std::uint8_t> inbox_;
  std::map<std::uint32_t, Batch> batches_;         // by barrier xid
  std::map<std::uint32_t, CountCallback> counts_;  // by request xid
  struct PortsRequest {
    std::vector<openflow::PortDescription> ports;  // of the reply's messages so far
    PortsCallback done;
  };
  std::map<std::uint32_t, PortsRequest> port_requests_;  // by request xid
  std::uint32_t next_xid_ = 1;
  bool ready_ = false;
  std::string last_failure_;  // logged once until it changes
  std::function<void()> on_ready_;
  std::function<void()> on_lost_;
  Counters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netd::ovs
