// OvsdbClient against a scripted JSON-RPC server on a unix socket: what a real ovsdb-server
// rarely does on demand (echo requests, messages split across reads, a drop mid-transaction);
// and the remotes it connects to, in ovsdb-server's notation.
#include "netd/ovs/ovsdb_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/json_stream.hpp"
#include "netd/ovs/remote.hpp"
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
  OvsdbClient client(io, Remote::Unix(path),
                     {.database = "Open_vSwitch",
                      .tables = {{"Bridge", {}}},
                      .min_backoff = 50ms,
                      .max_backoff = 50ms,
                      .tls = {}});
  std::optional<OvsdbClient::TransactionResult> outcome;
  std::string failure;
  // The monitor's answer comes in two writes, cut inside a string; the second waits until the
  // client has read all of the first, so the client sees the message split across reads.
  std::atomic<bool> first_part_written = false;
  std::promise<void> first_part_read;
  auto first_part_read_by_client = first_part_read.get_future();
  std::thread script([&] {
    try {
      server.Accept();
      auto monitor = server.Read();
      if (monitor["method"] != "monitor" || monitor["params"][1] != "netd") {
        throw std::runtime_error("not a monitor: " + monitor.dump());
      }
      auto answer = json{
          {"id", monitor["id"]},
          {"result", {{"Bridge", {{"u1", {{"new", {{"name", "br-a"}}}}}}}}},
          {"error",
           nullptr}}.dump();
      server.Write(answer.substr(0, 30));
      first_part_written = true;
      if (first_part_read_by_client.wait_for(5s) != std::future_status::ready) {
        throw std::runtime_error("the client never read the first part");
      }
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
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return first_part_written && server.BytesUnread() == 0; }));
  EXPECT_FALSE(client.synced()) << "half an answer is not an answer";
  first_part_read.set_value();
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

TEST(OvsdbClientScripted, AttemptsThatNeverConnectAreCountedAndNeverSync) {
  lab::TempDir dir("ovsdbfake");
  boost::asio::io_context io;
  OvsdbClient absent(io, Remote::Unix(dir.path() / "none.sock"),
                     {.min_backoff = 10ms, .max_backoff = 10ms, .tls = {}});
  // Files that are not there: the attempt fails before any connection is opened.
  OvsdbClient without_files(io, ParseOvsdbRemote("ssl:127.0.0.1:6640"),
                            {.min_backoff = 10ms,
                             .max_backoff = 10ms,
                             .tls = {.private_key = dir.path() / "key.pem",
                                     .certificate = dir.path() / "cert.pem",
                                     .ca_certificate = dir.path() / "ca.pem"}});
  absent.Start();
  without_files.Start();
  EXPECT_TRUE(RunUntil(io, 5s, [&] {
    return absent.counters().connect_failures >= 3 &&
           without_files.counters().connect_failures >= 3;
  }));
  EXPECT_FALSE(absent.synced());
  EXPECT_FALSE(without_files.synced());
  EXPECT_EQ(absent.counters().connects + without_files.counters().connects, 0u);
}

TEST(OvsdbRemote, ReadsOvsdbServerNotation) {
  auto socket = ParseOvsdbRemote("unix:/run/openvswitch/db.sock");
  EXPECT_EQ(socket.kind, Remote::Kind::kUnix);
  EXPECT_EQ(socket.path, "/run/openvswitch/db.sock");
  EXPECT_EQ(ParseOvsdbRemote("/run/openvswitch/db.sock"), socket) << "a bare path is a socket";

  auto tcp = ParseOvsdbRemote("tcp:192.0.2.1:6640");
  EXPECT_EQ(tcp.kind, Remote::Kind::kTcp);
  EXPECT_EQ(tcp.address, boost::asio::ip::make_address("192.0.2.1"));
  EXPECT_EQ(tcp.port, 6640);

  auto ssl = ParseOvsdbRemote("ssl:[2001:db8::1]:65535");
  EXPECT_EQ(ssl.kind, Remote::Kind::kSsl);
  EXPECT_EQ(ssl.address, boost::asio::ip::make_address("2001:db8::1"));
  EXPECT_EQ(ssl.port, 65535);

  for (const char* text : {"unix:/run/openvswitch/db.sock", "tcp:192.0.2.1:6640", "tcp:[::1]:1",
                           "ssl:10.0.0.1:6641", "ssl:[2001:db8::1]:6640"}) {
    EXPECT_EQ(ToString(ParseOvsdbRemote(text)), text);
  }
}

struct BadRemote {
  const char* text;
  const char* error;
};

class OvsdbRemoteErrors : public ::testing::TestWithParam<BadRemote> {};

TEST_P(OvsdbRemoteErrors, NameTheRemoteAndWhatIsWrong) {
  const auto& bad = GetParam();
  try {
    ParseOvsdbRemote(bad.text);
    ADD_FAILURE() << bad.text << " was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(error.what(), fmt::format("ovsdb remote \"{}\": {}", bad.text, bad.error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Remotes, OvsdbRemoteErrors,
    ::testing::Values(
        BadRemote{"tcp:1.2.3.4", "expected tcp:IP:PORT"},
        BadRemote{"ssl:1.2.3.4", "expected ssl:IP:PORT"},
        BadRemote{"tcp::6640", "expected tcp:IP:PORT"},
        BadRemote{"tcp:1.2.3.4:", "expected tcp:IP:PORT"},
        BadRemote{"tcp:[::1]", "expected tcp:IP:PORT"},
        BadRemote{"tcp:[::1:6640", "expected tcp:IP:PORT"},
        BadRemote{"", "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT"},
        BadRemote{"db.sock", "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT"},
        // Passive remotes are the server's side.
        BadRemote{"ptcp:6640", "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT"},
        BadRemote{"unix:db.sock", "expected unix: and an absolute path"},
        BadRemote{"unix:", "expected unix: and an absolute path"},
        BadRemote{"tcp:ovsdb.example:6640", "\"ovsdb.example\" is not an IP address"},
        BadRemote{"tcp:1.2.3:6640", "\"1.2.3\" is not an IP address"},
        BadRemote{"tcp:::1:6640",
                  "expected tcp:IP:PORT, an IPv6 address in brackets (tcp:[::1]:6640)"},
        BadRemote{"ssl:[192.0.2.1]:6640", "\"192.0.2.1\" in brackets is not an IPv6 address"},
        BadRemote{"tcp:192.0.2.1:0", "port \"0\" is not a number 1-65535"},
        BadRemote{"tcp:192.0.2.1:65536", "port \"65536\" is not a number 1-65535"},
        BadRemote{"tcp:192.0.2.1:66x", "port \"66x\" is not a number 1-65535"},
        BadRemote{"tcp:192.0.2.1:-1", "port \"-1\" is not a number 1-65535"}));

}  // namespace
}  // namespace netd::ovs
