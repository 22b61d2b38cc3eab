// libFuzzer target for what an ovsdb-server sends netd's OVSDB client: the input is the server's
// side of a connection from its first byte, answering get_schema (id 1) and monitor_cond_since
// (id 2; on refusal, monitor as id 3), then notifying updates (the checked-in corpus holds such
// conversations recorded from a real ovsdb-server). The client runs twice, once caching every
// table and once handing the Interface table's rows to a reader, as a host's does with its
// bindings. Also: the JSON-RPC framing cuts the same texts however the reads split the stream.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "netd/ovs/json_stream.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "peer_turns.hpp"

using netd::fuzz::TurnUntil;
using netd::ovs::OvsdbClient;

namespace {

// The texts of `bytes`, read in reads cut at `cut`; nullopt when the stream is refused.
std::optional<std::vector<std::string>> Split(std::string_view bytes, std::size_t cut) {
  netd::ovs::JsonStreamSplitter splitter(1 << 20);
  try {
    auto texts = splitter.Feed(bytes.substr(0, cut));
    for (auto& text : splitter.Feed(bytes.substr(cut))) texts.push_back(std::move(text));
    return texts;
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
}

void Converse(std::string_view bytes, bool hand_interfaces) {
  auto& peer = netd::fuzz::PeerAt("db.sock");
  boost::asio::io_context io;
  OvsdbClient::Options options;
  options.min_backoff = options.max_backoff = std::chrono::milliseconds(50);
  options.inactivity_probe = options.request_timeout = std::chrono::milliseconds(0);
  if (hand_interfaces) {
    options.handed_tables = {"Interface"};
    options.row_handler = [](const OvsdbClient::RowUpdate& update) {
      if (update.table != "Interface") std::abort();
      bool carries_columns = update.kind == OvsdbClient::RowUpdate::Kind::kPut ||
                             update.kind == OvsdbClient::RowUpdate::Kind::kModify;
      if (carries_columns && !update.value.is_object()) std::abort();
    };
  }
  OvsdbClient client(io, netd::ovs::Remote::Unix(netd::fuzz::PeerSocketPath("db.sock")), options);
  client.Start();
  if (!TurnUntil(io, [&] { return peer.ConnectionWaiting(); })) std::abort();
  peer.Accept();
  if (!TurnUntil(io, [&] { return peer.BytesWaiting() > 0; })) std::abort();
  netd::fuzz::DrainClient(peer);
  peer.Write(bytes);
  auto connected = [&] { return client.counters().disconnects == 0; };
  TurnUntil(io, [&] { return (!connected() || peer.BytesUnread() == 0) && io.poll() == 0; });
  netd::fuzz::DrainClient(peer);
  if (client.synced()) {
    // A synced cache holds rows as objects of columns, for every monitored table.
    for (const char* table : {"Open_vSwitch", "Bridge", "Port", "Interface"}) {
      for (const auto& [uuid, row] : client.rows(table)) {
        if (!row.is_object() || uuid.empty()) std::abort();
      }
    }
    if (hand_interfaces && !client.rows("Interface").empty()) std::abort();
  }
  client.Stop();
  io.poll();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto whole = Split(bytes, bytes.size());
  for (std::size_t cut : {std::size_t{1}, size / 2, size > 0 ? size - 1 : 0}) {
    if (Split(bytes, std::min(cut, size)) != whole) std::abort();
  }
  Converse(bytes, false);
  Converse(bytes, true);
  return 0;
}
