// libFuzzer target for what a switch sends netd's OpenFlow client: the input is the switch's
// side of a connection after the handshake, while a batch (two flow changes and a barrier, xids
// 2 to 4), a flow count (xid 5) and a port description (xid 6) wait for their answers. The
// client must frame, decode and answer it without a fault, and hear each request's outcome once.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "netd/ovs/openflow.hpp"
#include "netd/ovs/openflow_client.hpp"
#include "peer_turns.hpp"

namespace of = netd::ovs::openflow;
using netd::fuzz::TurnUntil;
using netd::ovs::FlowChange;
using netd::ovs::OpenFlowClient;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& peer = netd::fuzz::PeerAt("switch.sock");
  boost::asio::io_context io;
  // No probes or request timeouts: the script, not time, decides what the client hears.
  OpenFlowClient client(io, netd::fuzz::PeerSocketPath("switch.sock"),
                        {.min_backoff = std::chrono::milliseconds(50),
                         .max_backoff = std::chrono::milliseconds(50),
                         .inactivity_probe = std::chrono::milliseconds(0),
                         .request_timeout = std::chrono::milliseconds(0)});
  client.Start();
  if (!TurnUntil(io, [&] { return peer.ConnectionWaiting(); })) std::abort();
  peer.Accept();
  if (!TurnUntil(io, [&] { return peer.BytesWaiting() >= of::kHeaderSize; })) std::abort();
  netd::fuzz::DrainClient(peer);
  auto hello = of::EncodeHello(1);
  peer.Write({reinterpret_cast<const char*>(hello.data()), hello.size()});
  if (!TurnUntil(io, [&] { return client.ready(); })) std::abort();

  int batches = 0;
  int counts = 0;
  int descriptions = 0;
  of::Flow flow{.priority = 100,
                .match = {.in_port = 5, .eth_type = of::kEthTypeIpv4},
                .actions = {of::Output{of::kPortLocal}},
                .table = 0,
                .goto_table = std::nullopt};
  client.Send({FlowChange::Add(flow, 0x100), FlowChange::Delete(0x200, ~std::uint64_t{0})},
              [&](const OpenFlowClient::BatchResult& result) {
                ++batches;
                for (const auto& [index, error] : result.refused) {
                  if (index >= 2) std::abort();  // only the two changes can be refused
                }
              });
  client.CountFlows(0x100, ~std::uint64_t{0}, [&](auto) { ++counts; });
  client.DescribePorts([&](auto) { ++descriptions; });
  if (!TurnUntil(io, [&] { return peer.BytesWaiting() > 0; })) std::abort();
  netd::fuzz::DrainClient(peer);

  peer.Write({reinterpret_cast<const char*>(data), size});
  // Until the client read all of it (or gave the connection up), then what that queued.
  TurnUntil(io, [&] { return (!client.ready() || peer.BytesUnread() == 0) && io.poll() == 0; });
  netd::fuzz::DrainClient(peer);
  client.Stop();
  io.poll();
  // Each request hears its outcome exactly once: its answer, or the connection lost.
  if (batches != 1 || counts != 1 || descriptions != 1) std::abort();
  return 0;
}
