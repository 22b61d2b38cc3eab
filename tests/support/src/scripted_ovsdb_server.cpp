#include "netd/testing/scripted_ovsdb_server.hpp"

#include <chrono>
#include <stdexcept>

#include "netd/testing/within.hpp"

namespace netd::testing {

using nlohmann::json;

ScriptedOvsdbServer::ScriptedOvsdbServer(const std::filesystem::path& path,
                                         boost::asio::io_context* client_loop)
    : ScriptedPeer(path), client_loop_(client_loop) {}

json ScriptedOvsdbServer::Read() {
  while (ready_.empty()) {
    TurnClientUntil([&] { return BytesWaiting() > 0; }, "the client sent nothing");
    auto bytes = ReadSome();
    for (auto& text : splitter_.Feed(std::string_view(bytes.data(), bytes.size()))) {
      ready_.push_back(json::parse(text));
    }
  }
  auto message = ready_.front();
  ready_.erase(ready_.begin());
  return message;
}

json ScriptedOvsdbServer::Expect(const std::string& method) {
  auto request = Read();
  if (request.value("method", "") != method) {
    throw std::runtime_error("expected " + method + ", got " + request.dump());
  }
  return request;
}

void ScriptedOvsdbServer::Send(const json& message) {
  Write(message.dump());
}

void ScriptedOvsdbServer::Reply(const json& request, const json& result) {
  Send({{"id", request["id"]}, {"result", result}, {"error", nullptr}});
}

void ScriptedOvsdbServer::AcceptAndServeSchema(const json& schema) {
  TurnClientUntil([&] { return ConnectionWaiting(); }, "no client connected");
  // What the last connection left unread is not this one's.
  splitter_ = ovs::JsonStreamSplitter();
  ready_.clear();
  Accept();
  Reply(Expect("get_schema"), schema);
}

void ScriptedOvsdbServer::ServeServerRow(const json& row) {
  auto request = Expect("monitor");
  if (request["params"][0] != "_Server") throw std::runtime_error(request.dump());
  Reply(request, {{"Database", {{ServerRowUuid(), {{"new", row}}}}}});
}

json ScriptedOvsdbServer::StandaloneServerRow(const std::string& database) {
  return {{"name", database},  {"model", "standalone"},
          {"connected", true}, {"leader", true},
          {"schema", ""},      {"index", json::array({"set", json::array()})}};
}

void ScriptedOvsdbServer::TurnClientUntil(const std::function<bool()>& ready, const char* what) {
  if (client_loop_ && !RunUntil(*client_loop_, std::chrono::seconds(5), ready)) {
    throw std::runtime_error(std::string(what) + " within 5 s");
  }
}

}  // namespace netd::testing
