#pragma once

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netd/ovs/json_stream.hpp"
#include "netd/testing/scripted_peer.hpp"

namespace netd::testing {

// A scripted ovsdb-server: whole JSON-RPC messages over a ScriptedPeer. A script on a thread of
// its own blocks on the client; one on the client's thread names the client's loop, which each
// wait turns instead (a read that blocked first would keep the client from ever writing).
class ScriptedOvsdbServer : public ScriptedPeer {
 public:
  explicit ScriptedOvsdbServer(const std::filesystem::path& path,
                               boost::asio::io_context* client_loop = nullptr);

  // The next whole message the client sent.
  nlohmann::json Read();
  // The next message, which must be a request of `method` (else std::runtime_error).
  nlohmann::json Expect(const std::string& method);
  void Send(const nlohmann::json& message);
  void Reply(const nlohmann::json& request, const nlohmann::json& result);
  // Accepts the client's next connection and answers its get_schema.
  void AcceptAndServeSchema(const nlohmann::json& schema);
  // Answers the monitor of `_Server`'s Database table with `row`.
  void ServeServerRow(const nlohmann::json& row);
  static std::string ServerRowUuid() { return "5e7e0000-0000-4000-8000-000000000001"; }
  // `_Server`'s row for `database` on a standalone server, which a writer takes as the leader.
  static nlohmann::json StandaloneServerRow(const std::string& database);

 private:
  // Turns the client's loop until `ready` holds, if the client runs on this thread.
  void TurnClientUntil(const std::function<bool()>& ready, const char* what);

  boost::asio::io_context* client_loop_;
  ovs::JsonStreamSplitter splitter_;
  std::vector<nlohmann::json> ready_;
};

}  // namespace netd::testing
