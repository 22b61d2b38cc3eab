// OvsdbClient against a scripted JSON-RPC server on a unix socket: what a real ovsdb-server
// rarely does on demand (echo requests, messages split across reads, a drop mid-transaction).
#include "netd/ovs/ovsdb_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/json_stream.hpp"
#include "netd/testing/scripted_peer.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A scripted ovsdb-server: whole JSON-RPC messages over a ScriptedPeer.
class ScriptedServer : public testing::ScriptedPeer {
 public:
  using ScriptedPeer::ScriptedPeer;
  // The next whole message the client sent.
  json Read() {
    while (ready_.empty()) {
      auto bytes = ReadSome();
      for (auto& text : splitter_.Feed(std::string_view(bytes.data(), bytes.size()))) {
        ready_.push_back(json::parse(text));
      }
    }
    auto message = ready_.front();
    ready_.erase(ready_.begin());
    return message;
  }

 private:
  JsonStreamSplitter splitter_;
  std::vector<json> ready_;
};

using testing::RunUntil;

TEST(OvsdbClientScripted, AnswersEchoesReadsSplitMessagesAndFailsTransactionsOnADrop) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(io, path,
                     {.database = "Open_vSwitch",
                      .tables = {{"Bridge", {}}},
                      .min_backoff = 50ms,
                      .max_backoff = 50ms});
  std::optional<OvsdbClient::TransactionResult> outcome;
  std::string failure;
  std::thread script([&] {
    try {
      server.Accept();
      auto monitor = server.Read();
      if (monitor["method"] != "monitor" || monitor["params"][1] != "netd") {
        throw std::runtime_error("not a monitor: " + monitor.dump());
      }
      // The answer in two writes, cut inside a string.
      auto answer = json{
          {"id", monitor["id"]},
          {"result", {{"Bridge", {{"u1", {{"new", {{"name", "br-a"}}}}}}}}},
          {"error",
           nullptr}}.dump();
      server.Write(answer.substr(0, 30));
      std::this_thread::sleep_for(50ms);
      server.Write(answer.substr(30) + R"({"id":"echo","method":"echo","params":["x"]})");
      auto echo = server.Read();
      if (echo["id"] != "echo" || echo["result"] != json::array({"x"})) {
        throw std::runtime_error("bad echo reply: " + echo.dump());
      }
      auto transact = server.Read();
      if (transact["method"] != "transact") throw std::runtime_error(transact.dump());
      server.Drop();  // before answering
    } catch (const std::exception& error) {
      failure = error.what();
    }
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  EXPECT_EQ(client.rows("Bridge").at("u1")["name"], "br-a");
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return client.counters().echoes == 1; }));
  client.Transact(json::array({{{"op", "comment"}, {"comment", "x"}}}),
                  [&](const auto& result) { outcome = result; });
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return outcome.has_value(); }));
  script.join();
  EXPECT_EQ(failure, "");
  ASSERT_TRUE(outcome);
  EXPECT_NE(outcome->error.find("may or may not have been committed"), std::string::npos)
      << outcome->error;
  EXPECT_FALSE(client.synced());
  EXPECT_TRUE(client.rows("Bridge").empty()) << "a cache of a lost connection is not current";
}

}  // namespace
}  // namespace netd::ovs
