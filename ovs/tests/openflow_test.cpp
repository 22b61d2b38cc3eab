// OpenFlow 1.3: what netd encodes, decoded by Open vSwitch's own ovs-ofctl; OpenFlowClient
// against a scripted switch (hello, echo, an error inside a batch, the barrier); and the ports
// and flows PlanPorts derives from OVSDB rows.
#include "netd/ovs/openflow.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>

#include "netd/lab/command.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/openflow_client.hpp"
#include "netd/ovs/port_security.hpp"
#include "netd/testing/scripted_peer.hpp"
#include "netd/testing/stated_bindings.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string Hex(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  for (auto byte : bytes) out += fmt::format("{:02x}", byte);
  return out;
}

// ovs-ofctl's reading of an encoded message.
std::string OfpPrint(const std::vector<std::uint8_t>& message) {
  auto result = lab::RunCommand({"ovs-ofctl", "ofp-print", Hex(message)});
  EXPECT_TRUE(result.ok()) << result.err;
  return result.out.substr(0, result.out.find('\n'));
}

TEST(OpenFlowEncoding, OvsOfctlDecodesWhatNetdEncodes) {
  auto flows = PinnedPortFlows(5, *MacAddress::Parse("52:54:0a:51:00:0a"),
                               Ipv4Cidr(*Ipv4Address::Parse("10.81.0.10"), 32), std::nullopt);
  ASSERT_EQ(flows.size(), 7u);
  const char* expected[] = {
      "ADD priority=310,udp,in_port=5,tp_src=67 cookie:0x6e64000000000002 actions=drop",
      "ADD priority=310,udp,in_port=5,tp_dst=68 cookie:0x6e64000000000002 actions=drop",
      "ADD priority=300,ip,in_port=5,vlan_tci=0x0000/0x1fff,dl_src=52:54:0a:51:00:0a,"
      "nw_src=10.81.0.10 cookie:0x6e64000000000002 actions=NORMAL",
      "ADD priority=300,arp,in_port=5,vlan_tci=0x0000/0x1fff,dl_src=52:54:0a:51:00:0a,"
      "arp_spa=10.81.0.10,arp_sha=52:54:0a:51:00:0a cookie:0x6e64000000000002 actions=NORMAL",
      "ADD priority=300,udp,in_port=5,vlan_tci=0x0000/0x1fff,dl_src=52:54:0a:51:00:0a,"
      "nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67 cookie:0x6e64000000000002 "
      "actions=NORMAL",
      "ADD priority=300,rarp,in_port=5,vlan_tci=0x0000/0x1fff,dl_src=52:54:0a:51:00:0a "
      "cookie:0x6e64000000000002 actions=NORMAL",
      "ADD priority=200,in_port=5 cookie:0x6e64000000000002 actions=drop",
  };
  for (std::size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(OfpPrint(openflow::EncodeAddFlow(7, flows[i], 0x6e64000000000002)),
              std::string("OFPT_FLOW_MOD (OF1.3) (xid=0x7): ") + expected[i]);
  }
  // A masked source: a port pinned to its MAC on a network.
  auto mac_only =
      PinnedPortFlows(6, *MacAddress::Parse("02:00:00:00:00:4d"), *Ipv4Cidr::Parse("10.82.0.0/24"),
                      *Ipv4Address::Parse("10.82.0.1"));
  ASSERT_EQ(mac_only.size(), 9u);
  EXPECT_NE(
      OfpPrint(openflow::EncodeAddFlow(1, mac_only[2], kCookieTag | 3)).find("nw_src=10.82.0.0/24"),
      std::string::npos);
  // ... but never the gateway's address, for IPv4 or ARP.
  EXPECT_NE(OfpPrint(openflow::EncodeAddFlow(1, mac_only[7], kCookieTag | 3))
                .find("priority=310,ip,in_port=6,nw_src=10.82.0.1 "),
            std::string::npos);
  EXPECT_NE(OfpPrint(openflow::EncodeAddFlow(1, mac_only[8], kCookieTag | 3))
                .find("priority=310,arp,in_port=6,arp_spa=10.82.0.1 "),
            std::string::npos);
  EXPECT_EQ(OfpPrint(openflow::EncodeDeleteFlows(9, kCookieTag, kCookieTagMask)),
            "OFPT_FLOW_MOD (OF1.3) (xid=0x9): DEL table:255 priority=0 "
            "cookie:0x6e64000000000000/0xffff000000000000 actions=drop");
  EXPECT_EQ(OfpPrint(openflow::EncodeBarrierRequest(3)), "OFPT_BARRIER_REQUEST (OF1.3) (xid=0x3):");
  // The internal port of a host without the gateway role: frames to its MAC dropped, NO_FWD set.
  EXPECT_EQ(OfpPrint(openflow::EncodeAddFlow(
                7, {400, {.eth_dst = *MacAddress::Parse("52:54:00:00:00:01")}}, 0x6e64)),
            "OFPT_FLOW_MOD (OF1.3) (xid=0x7): ADD priority=400,dl_dst=52:54:00:00:00:01 "
            "cookie:0x6e64 actions=drop");
  auto port_mod =
      lab::RunCommand({"ovs-ofctl", "ofp-print",
                       Hex(openflow::EncodePortMod(
                           4, {openflow::kPortLocal, *MacAddress::Parse("52:54:00:00:00:01"),
                               openflow::kPortConfigNoForward, openflow::kPortConfigNoForward}))});
  EXPECT_EQ(port_mod.out,
            "OFPT_PORT_MOD (OF1.3) (xid=0x4): port: LOCAL: addr:52:54:00:00:00:01\n"
            "     config: NO_FWD\n"
            "     mask:   NO_FWD\n"
            "     advertise: UNCHANGED\n");
  EXPECT_EQ(OfpPrint(openflow::EncodePortDescriptionRequest(8)),
            "OFPST_PORT_DESC request (OF1.3) (xid=0x8): port=ANY");
}

// What the segmentation pipeline sends: other tables, goto_table, conntrack (NXAST_CT) and its
// state (NXM_NX_CT_STATE), outputs to ports, VLAN push and pop, and set_field.
TEST(OpenFlowEncoding, OvsOfctlDecodesThePipelinesActionsAndMatches) {
  namespace of = openflow;
  auto mac = [](const char* text) { return *MacAddress::Parse(text); };
  auto ip = [](const char* text) { return *Ipv4Address::Parse(text); };
  auto print = [](const of::Flow& flow) { return OfpPrint(of::EncodeAddFlow(2, flow, 0x6e64)); };
  const std::string prefix = "OFPT_FLOW_MOD (OF1.3) (xid=0x2): ADD ";
  EXPECT_EQ(print({300, {.in_port = 5, .eth_type = of::kEthTypeIpv4}, {}, 0, 10}),
            prefix + "priority=300,ip,in_port=5 cookie:0x6e64 actions=goto_table:10");
  EXPECT_EQ(print({200,
                   {.eth_type = of::kEthTypeIpv4, .ipv4_dst = *Ipv4Cidr::Parse("10.81.0.0/24")},
                   {of::Conntrack{1081, false, 11}},
                   10}),
            prefix +
                "table:10 priority=200,ip,nw_dst=10.81.0.0/24 cookie:0x6e64 "
                "actions=ct(table=11,zone=1081)");
  EXPECT_EQ(print({100,
                   {.eth_type = of::kEthTypeIpv4,
                    .ip_proto = of::kIpProtoTcp,
                    .ipv4_src = Ipv4Cidr(ip("10.81.0.10"), 32),
                    .ipv4_dst = Ipv4Cidr(ip("10.81.0.11"), 32),
                    .tcp_dst = 22,
                    .ct_state = of::CtState{of::kCtNew | of::kCtTracked,
                                            of::kCtNew | of::kCtTracked | of::kCtInvalid}},
                   {of::Conntrack{1081, true, std::nullopt},
                    of::SetField{of::SetField::Field::kEthDst, 0x52540a51000b}, of::Output{7}},
                   11}),
            prefix +
                "table:11 priority=100,ct_state=+new-inv+trk,tcp,nw_src=10.81.0.10,"
                "nw_dst=10.81.0.11,tp_dst=22 cookie:0x6e64 "
                "actions=ct(commit,zone=1081),set_field:52:54:0a:51:00:0b->eth_dst,output:7");
  EXPECT_EQ(print({100, {.in_port = 5}, {of::PushVlan{1081}, of::Output{1}}, 11}),
            prefix +
                "table:11 priority=100,in_port=5 cookie:0x6e64 "
                "actions=push_vlan:0x8100,set_field:5177->vlan_vid,output:1");
  EXPECT_EQ(print({100, {.in_port = 1, .vlan_vid = 0x1000 | 1081}, {of::PopVlan{}}, 0, 30}),
            prefix +
                "priority=100,in_port=1,dl_vlan=1081 cookie:0x6e64 "
                "actions=pop_vlan,goto_table:30");
  EXPECT_EQ(print({100,
                   {.eth_dst = mac("01:00:00:00:00:00"), .eth_dst_mask = mac("01:00:00:00:00:00")},
                   {of::Output{of::kPortNormal}},
                   30}),
            prefix +
                "table:30 priority=100,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 "
                "cookie:0x6e64 actions=NORMAL");
  // The ARP responder: a request for a peer's address turned into the peer's reply.
  using Field = of::SetField::Field;
  EXPECT_EQ(
      print({100,
             {.in_port = 5,
              .eth_type = of::kEthTypeArp,
              .arp_op = of::kArpRequest,
              .arp_tpa = Ipv4Cidr(ip("10.81.0.11"), 32)},
             {of::SetField{Field::kEthDst, 0x52540a51000a},
              of::SetField{Field::kEthSrc, 0x52540a51000b},
              of::SetField{Field::kArpOp, of::kArpReply},
              of::SetField{Field::kArpSha, 0x52540a51000b},
              of::SetField{Field::kArpSpa, ip("10.81.0.11").value()},
              of::SetField{Field::kArpTha, 0x52540a51000a},
              of::SetField{Field::kArpTpa, ip("10.81.0.10").value()}, of::Output{of::kPortInPort}},
             20}),
      prefix +
          "table:20 priority=100,arp,in_port=5,arp_tpa=10.81.0.11,arp_op=1 "
          "cookie:0x6e64 actions=set_field:52:54:0a:51:00:0a->eth_dst,"
          "set_field:52:54:0a:51:00:0b->eth_src,set_field:2->arp_op,"
          "set_field:52:54:0a:51:00:0b->arp_sha,set_field:10.81.0.11->arp_spa,"
          "set_field:52:54:0a:51:00:0a->arp_tha,set_field:10.81.0.10->arp_tpa,"
          "IN_PORT");
}

// An OFPMP_AGGREGATE reply: packets, bytes and flows.
TEST(OpenFlowEncoding, AggregateRepliesAreRead) {
  std::vector<std::uint8_t> reply = {
      openflow::kVersion, 19, 0, 40, 0, 0, 0, 5, 0, 2, 0, 0, 0, 0, 0, 0};
  for (std::uint64_t value : {0x0000000100000002ULL, 0x0000000000000500ULL}) {
    for (int shift = 56; shift >= 0; shift -= 8) reply.push_back((value >> shift) & 0xff);
  }
  for (std::uint8_t byte : {0, 0, 0, 7, 0, 0, 0, 0}) reply.push_back(byte);
  auto stats = openflow::ParseAggregateReply(reply);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->packets, 0x100000002u);
  EXPECT_EQ(stats->bytes, 0x500u);
  EXPECT_EQ(stats->flows, 7u);
  reply.resize(30);
  EXPECT_FALSE(openflow::ParseAggregateReply(reply));
}

// An OFPMP_PORT_DESC reply in two messages, as a switch with many ports sends it.
TEST(OpenFlowEncoding, PortDescriptionRepliesAreRead) {
  auto port = [](std::uint32_t number, std::uint64_t mac, std::uint32_t config) {
    std::vector<std::uint8_t> bytes(64, 0);
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<std::uint8_t>(number >> (24 - 8 * i));
    for (int i = 0; i < 6; ++i) bytes[8 + i] = static_cast<std::uint8_t>(mac >> (40 - 8 * i));
    for (int i = 0; i < 4; ++i) bytes[32 + i] = static_cast<std::uint8_t>(config >> (24 - 8 * i));
    return bytes;
  };
  auto reply = [](bool more, const std::vector<std::vector<std::uint8_t>>& ports) {
    std::vector<std::uint8_t> bytes = {openflow::kVersion,
                                       19,
                                       0,
                                       0,
                                       0,
                                       0,
                                       0,
                                       9,
                                       0,
                                       13,
                                       0,
                                       static_cast<std::uint8_t>(more ? 1 : 0),
                                       0,
                                       0,
                                       0,
                                       0};
    for (const auto& described : ports)
      bytes.insert(bytes.end(), described.begin(), described.end());
    bytes[2] = static_cast<std::uint8_t>(bytes.size() >> 8);
    bytes[3] = static_cast<std::uint8_t>(bytes.size());
    return bytes;
  };
  auto first = openflow::ParsePortDescriptionReply(
      reply(true, {port(1, 0x020000000001, 0), port(openflow::kPortLocal, 0x525400000001, 32)}));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->more);
  ASSERT_EQ(first->ports.size(), 2u);
  EXPECT_EQ(first->ports[1].port_no, openflow::kPortLocal);
  EXPECT_EQ(first->ports[1].hw_addr.ToString(), "52:54:00:00:00:01");
  EXPECT_EQ(first->ports[1].config, openflow::kPortConfigNoForward);
  auto last = openflow::ParsePortDescriptionReply(reply(false, {port(2, 0x020000000002, 0)}));
  ASSERT_TRUE(last);
  EXPECT_FALSE(last->more);
  auto truncated = reply(false, {port(2, 0x020000000002, 0)});
  truncated.resize(truncated.size() - 1);
  truncated[3] = static_cast<std::uint8_t>(truncated.size());
  EXPECT_FALSE(openflow::ParsePortDescriptionReply(truncated));
}

// A scripted switch: whole OpenFlow messages over a ScriptedPeer.
class ScriptedSwitch : public testing::ScriptedPeer {
 public:
  using ScriptedPeer::ScriptedPeer;
  // The next message the client sent, whole.
  std::vector<std::uint8_t> Read() {
    std::vector<char> bytes;
    ReadExactly(openflow::kHeaderSize, bytes);
    auto length = openflow::ParseHeader(
                      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()))
                      .length;
    ReadExactly(length - openflow::kHeaderSize, bytes);
    return {bytes.begin(), bytes.end()};
  }
  void Write(const std::vector<std::uint8_t>& bytes) {
    ScriptedPeer::Write(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  static std::vector<std::uint8_t> Message(openflow::MessageType type, std::uint32_t xid,
                                           std::vector<std::uint8_t> body = {}) {
    auto length = static_cast<std::uint16_t>(8 + body.size());
    std::vector<std::uint8_t> bytes = {openflow::kVersion,
                                       static_cast<std::uint8_t>(type),
                                       static_cast<std::uint8_t>(length >> 8),
                                       static_cast<std::uint8_t>(length & 0xff),
                                       static_cast<std::uint8_t>(xid >> 24),
                                       static_cast<std::uint8_t>(xid >> 16),
                                       static_cast<std::uint8_t>(xid >> 8),
                                       static_cast<std::uint8_t>(xid)};
    for (auto byte : body) bytes.push_back(byte);
    return bytes;
  }
};

// The script's reads block and the client writes only while its loop turns: these turn the
// loop until the client has connected, or has written something, before the script goes on.
bool RunUntilConnected(boost::asio::io_context& io, const ScriptedSwitch& fake) {
  return testing::RunUntil(io, 2s, [&] { return fake.ConnectionWaiting(); });
}
bool RunUntilSent(boost::asio::io_context& io, const ScriptedSwitch& fake) {
  return testing::RunUntil(io, 2s, [&] { return fake.BytesWaiting() > 0; });
}

TEST(OpenFlowClientScripted, SaysHelloAnswersEchoesAndNamesTheRefusedChangeOfABatch) {
  using openflow::MessageType;
  lab::TempDir dir("offake");
  auto path = dir.path() / "br.mgmt";
  ScriptedSwitch fake(path);
  boost::asio::io_context io;
  OpenFlowClient client(io, path);
  int readies = 0;
  client.set_on_ready([&] { ++readies; });
  client.Start();
  ASSERT_TRUE(RunUntilConnected(io, fake));
  fake.Accept();
  ASSERT_TRUE(RunUntilSent(io, fake));
  auto hello = fake.Read();
  EXPECT_EQ(hello[0], openflow::kVersion);
  EXPECT_EQ(hello[1], static_cast<std::uint8_t>(MessageType::kHello));
  fake.Write(ScriptedSwitch::Message(MessageType::kHello, 1));
  ASSERT_TRUE(testing::RunUntil(io, 2s, [&] { return client.ready(); }));
  EXPECT_EQ(readies, 1);

  fake.Write(ScriptedSwitch::Message(MessageType::kEchoRequest, 77, {1, 2, 3}));
  ASSERT_TRUE(RunUntilSent(io, fake));
  auto echo = fake.Read();
  EXPECT_EQ(echo, ScriptedSwitch::Message(MessageType::kEchoReply, 77, {1, 2, 3}));

  std::optional<OpenFlowClient::BatchResult> outcome;
  client.Send(
      {FlowChange::Delete(kCookieTag, kCookieTagMask), FlowChange::Add({0, {}}, kBaselineCookie)},
      [&](const auto& result) { outcome = result; });
  // The client writes whole messages, though not necessarily all three in one write.
  ASSERT_TRUE(RunUntilSent(io, fake));
  auto first = openflow::ParseHeader(fake.Read());
  ASSERT_TRUE(RunUntilSent(io, fake));
  auto second = openflow::ParseHeader(fake.Read());
  ASSERT_TRUE(RunUntilSent(io, fake));
  auto barrier = openflow::ParseHeader(fake.Read());
  EXPECT_EQ(second.xid, first.xid + 1);
  EXPECT_EQ(barrier.type, static_cast<std::uint8_t>(MessageType::kBarrierRequest));
  // OFPET_FLOW_MOD_FAILED / OFPFMFC_TABLE_FULL for the second change.
  fake.Write(ScriptedSwitch::Message(MessageType::kError, second.xid, {0, 5, 0, 1}));
  ASSERT_TRUE(testing::RunUntil(io, 2s, [&] { return client.counters().errors == 1; }));
  EXPECT_FALSE(outcome.has_value()) << "the batch ended before its barrier";
  fake.Write(ScriptedSwitch::Message(MessageType::kBarrierReply, barrier.xid));
  ASSERT_TRUE(testing::RunUntil(io, 2s, [&] { return outcome.has_value(); }));
  ASSERT_EQ(outcome->refused.size(), 1u);
  EXPECT_EQ(outcome->refused[0].first, 1u);
  EXPECT_EQ(openflow::Describe(outcome->refused[0].second),
            "OFPET_FLOW_MOD_FAILED/OFPFMFC_TABLE_FULL");
  EXPECT_TRUE(outcome->lost.empty());
}

TEST(OpenFlowClientScripted, ASwitchBelowOpenFlow13IsGivenUp) {
  lab::TempDir dir("offake");
  auto path = dir.path() / "br.mgmt";
  ScriptedSwitch fake(path);
  boost::asio::io_context io;
  OpenFlowClient client(io, path, {.min_backoff = 10s, .max_backoff = 10s});
  client.Start();
  ASSERT_TRUE(RunUntilConnected(io, fake));
  fake.Accept();
  ASSERT_TRUE(RunUntilSent(io, fake));
  fake.Read();
  auto hello = ScriptedSwitch::Message(openflow::MessageType::kHello, 1);
  hello[0] = 0x01;  // OpenFlow 1.0
  fake.Write(hello);
  ASSERT_TRUE(testing::RunUntil(io, 2s, [&] { return client.counters().disconnects == 1; }));
  EXPECT_FALSE(client.ready());
}

// A connected client whose switch has said hello.
void Connect(boost::asio::io_context& io, ScriptedSwitch& fake, OpenFlowClient& client) {
  client.Start();
  ASSERT_TRUE(RunUntilConnected(io, fake));
  fake.Accept();
  ASSERT_TRUE(RunUntilSent(io, fake));
  fake.Read();
  fake.Write(ScriptedSwitch::Message(openflow::MessageType::kHello, 1));
  ASSERT_TRUE(testing::RunUntil(io, 2s, [&] { return client.ready(); }));
}

// The types of the messages the client sent, up to its close.
std::vector<int> TypesSent(ScriptedSwitch& fake) {
  std::vector<int> types;
  try {
    for (;;) types.push_back(fake.Read()[1]);
  } catch (const std::exception&) {
  }
  return types;
}

// One batch sent to a switch that says hello and then answers nothing, by a client with
// `options`: how the batch ended, the client's counters, and what it sent.
struct Unanswered {
  OpenFlowClient::BatchResult outcome;
  OpenFlowClient::Counters counters;
  bool ready = false;
  std::vector<int> types_sent;
};
Unanswered SendToASilentSwitch(const OpenFlowClient::Options& options) {
  lab::TempDir dir("offake");
  auto path = dir.path() / "br.mgmt";
  ScriptedSwitch fake(path);
  boost::asio::io_context io;
  OpenFlowClient client(io, path, options);
  Unanswered result;
  Connect(io, fake, client);
  std::optional<OpenFlowClient::BatchResult> outcome;
  client.Send({FlowChange::Delete(kCookieTag, kCookieTagMask)},
              [&](const auto& batch) { outcome = batch; });
  EXPECT_TRUE(testing::RunUntil(io, 2s, [&] { return outcome.has_value(); }));
  result.outcome = outcome.value_or(OpenFlowClient::BatchResult{{}, "never ended"});
  result.counters = client.counters();
  result.ready = client.ready();
  result.types_sent = TypesSent(fake);
  return result;
}

// A switch that went silent without closing (ovs-vswitchd stopped, not killed): an echo
// request, then the connection given up, and the batch in flight hears it lost.
TEST(OpenFlowClientScripted, ASilentSwitchIsProbedAndGivenUp) {
  auto silent = SendToASilentSwitch(
      {.min_backoff = 10s, .max_backoff = 10s, .inactivity_probe = 100ms, .request_timeout = 0ms});
  EXPECT_NE(silent.outcome.lost.find("not even an answer to an echo request"), std::string::npos)
      << silent.outcome.lost;
  EXPECT_EQ(silent.counters.probe_timeouts, 1u);
  EXPECT_FALSE(silent.ready);
  const auto& types = silent.types_sent;
  EXPECT_NE(
      std::find(types.begin(), types.end(), static_cast<int>(openflow::MessageType::kEchoRequest)),
      types.end());
}

// A barrier left unanswered (the probe off, as a switch answering echoes would keep it quiet):
// the batch hears the connection given up.
TEST(OpenFlowClientScripted, ABarrierUnansweredPastItsTimeoutGivesTheConnectionUp) {
  auto unanswered = SendToASilentSwitch(
      {.min_backoff = 10s, .max_backoff = 10s, .inactivity_probe = 0ms, .request_timeout = 200ms});
  EXPECT_NE(unanswered.outcome.lost.find("no answer to request"), std::string::npos)
      << unanswered.outcome.lost;
  EXPECT_EQ(unanswered.counters.request_timeouts, 1u);
  EXPECT_EQ(unanswered.counters.probe_timeouts, 0u);
}

// A switch that stops reading: netd's queue does not grow without end; the connection is given
// up once the switch leaves max_unwritten bytes untaken, and every batch hears it lost.
TEST(OpenFlowClientScripted, ASwitchThatStopsReadingIsGivenUpAtTheQueuesBound) {
  lab::TempDir dir("offake");
  auto path = dir.path() / "br.mgmt";
  ScriptedSwitch fake(path);
  boost::asio::io_context io;
  OpenFlowClient client(io, path,
                        {.min_backoff = 10s,
                         .max_backoff = 10s,
                         .inactivity_probe = 0ms,
                         .request_timeout = 0ms,
                         .max_unwritten = 512 * 1024});
  ASSERT_NO_FATAL_FAILURE(Connect(io, fake, client));
  std::vector<FlowChange> changes;
  for (std::uint16_t i = 0; i < 1000; ++i) {
    openflow::Flow flow{.priority = 100,
                        .match = {.in_port = i},
                        .actions = {openflow::Output{openflow::kPortNormal}}};
    changes.push_back(FlowChange::Add(flow, kBaselineCookie));
  }
  int sent = 0;
  int lost = 0;
  while (client.ready() && sent < 200) {
    client.Send(changes, [&](const auto& result) { lost += !result.lost.empty(); });
    ++sent;
    io.poll();
  }
  ASSERT_TRUE(testing::RunUntil(io, 2s, [&] { return lost == sent; }))
      << lost << " of " << sent << " batches heard the end";
  EXPECT_LT(sent, 200) << "never given up";
  EXPECT_EQ(client.counters().overflows, 1u);
  EXPECT_FALSE(client.ready());
}

// OVSDB rows of one bridge, as the monitor cache holds them.
class PortRows {
 public:
  explicit PortRows(bool managed = true) {
    bridge_ = {{"name", "br-secure"}, {"ports", json::array({"set", json::array()})}};
    if (managed) {
      bridge_["external_ids"] =
          json::array({"map", json::array({json::array({"netd-managed", "true"})})});
    }
  }
  void Add(const std::string& name, json ofport, std::optional<std::string> mac = std::nullopt,
           bool managed = false) {
    auto n = std::to_string(tables_["Port"].size());
    json interface = {{"name", name}, {"ofport", ofport}};
    json ids = json::array();
    if (mac) ids.push_back(json::array({"attached-mac", *mac}));
    ids.push_back(json::array({"vm-id", "vm-" + name}));
    interface["external_ids"] = json::array({"map", ids});
    tables_["Interface"]["i" + n] = interface;
    tables_["Port"]["p" + n] = {{"name", name}, {"interfaces", json::array({"uuid", "i" + n})}};
    if (managed) {
      tables_["Port"]["p" + n]["external_ids"] =
          json::array({"map", json::array({json::array({"netd-managed", "true"})})});
    }
    bridge_["ports"][1].push_back(json::array({"uuid", "p" + n}));
  }
  // Sets `column` of the Interface row of port `name`.
  void SetInterface(const std::string& name, const std::string& column, json value) {
    for (auto& [uuid, interface] : tables_["Interface"]) {
      if (interface["name"] == name) interface[column] = std::move(value);
    }
  }
  std::optional<std::vector<PortPlan>> Plan(const PortSecuritySpec& spec,
                                            const PortBindings* bindings = nullptr) {
    tables_["Bridge"]["b"] = bridge_;
    return PlanPorts(
        spec,
        [this](const std::string& table) -> const OvsdbClient::Rows& { return tables_[table]; }, {},
        bindings);
  }

 private:
  json bridge_;
  std::map<std::string, OvsdbClient::Rows> tables_;
};

PortSecuritySpec SecureSpec() {
  return {.network = "secure",
          .bridge = "br-secure",
          .uplink = "bond0.1081",
          .cidr = *Ipv4Cidr::Parse("10.81.0.0/24"),
          .gateway = *Ipv4Address::Parse("10.81.0.1"),
          .dhcp_first = *Ipv4Address::Parse("10.81.0.10"),
          .dhcp_last = *Ipv4Address::Parse("10.81.0.200"),
          .pin_mac_only = false,
          .mgmt_socket = {}};
}

TEST(PlanPorts, PinsVmPortsWhoseMacEncodesAnAddressOfTheRangeAndRefusesTheRest) {
  PortRows rows;
  rows.Add("br-secure", 65534, std::nullopt, /*managed=*/true);
  rows.Add("bond0.1081", 1, std::nullopt, /*managed=*/true);
  rows.Add("vnet0", 2, "52:54:0A:51:00:0A");
  rows.Add("vnet1", 3, "52:54:0a:51:00:05");
  rows.Add("vnet2", 4, "02:00:00:00:00:01");
  rows.Add("vnet3", 5);
  rows.Add("vnet4", json::array({"set", json::array()}), "52:54:0a:51:00:0b");
  rows.Add("vnet5", -1, "52:54:0a:51:00:0c");
  auto plans = rows.Plan(SecureSpec());
  ASSERT_TRUE(plans);
  std::map<std::string, PortPlan> by_name;
  for (auto& plan : *plans) by_name[plan.name] = plan;
  EXPECT_EQ(by_name["br-secure"].state, PortState::kForward);
  EXPECT_EQ(by_name["br-secure"].flows.at(0).match.in_port, 0xfffffffeu) << "OFPP_LOCAL";
  EXPECT_EQ(by_name["bond0.1081"].state, PortState::kForward);
  EXPECT_EQ(by_name["vnet0"].state, PortState::kPinned);
  EXPECT_EQ(by_name["vnet0"].address->ToString(), "10.81.0.10");
  EXPECT_EQ(by_name["vnet0"].vm_id, "vm-vnet0");
  EXPECT_EQ(by_name["vnet0"].flows.size(), 7u);
  EXPECT_EQ(by_name["vnet1"].state, PortState::kRefused);
  EXPECT_EQ(by_name["vnet1"].reason,
            "MAC encodes 10.81.0.5, outside the DHCP range 10.81.0.10-10.81.0.200");
  EXPECT_EQ(by_name["vnet2"].state, PortState::kRefused);
  EXPECT_TRUE(by_name["vnet2"].flows.empty());
  EXPECT_EQ(by_name["vnet3"].reason, "no external_ids:attached-mac");
  EXPECT_EQ(by_name["vnet4"].state, PortState::kPending);
  EXPECT_EQ(by_name["vnet5"].state, PortState::kPending);

  auto spec = SecureSpec();
  spec.pin_mac_only = true;
  auto open = rows.Plan(spec);
  auto vnet2 = std::find_if(open->begin(), open->end(), [](auto& p) { return p.name == "vnet2"; });
  EXPECT_EQ(vnet2->state, PortState::kPinnedMac);
  EXPECT_EQ(vnet2->flows.at(2).match.ipv4_src, *Ipv4Cidr::Parse("10.81.0.0/24"));
}

TEST(PlanPorts, APortWithTheUplinksNameThatNetdDidNotCreateDoesNotForward) {
  PortRows rows;
  rows.Add("bond0.1081", 1);
  auto plans = rows.Plan(SecureSpec());
  ASSERT_TRUE(plans && plans->size() == 1);
  EXPECT_EQ(plans->front().state, PortState::kRefused);
  EXPECT_TRUE(plans->front().flows.empty());
}

TEST(PlanPorts, ABridgeNetdDidNotCreateIsNotProgrammed) {
  PortRows rows(/*managed=*/false);
  rows.Add("vnet0", 2, "52:54:0a:51:00:0a");
  EXPECT_FALSE(rows.Plan(SecureSpec()).has_value());
  PortRows none;
  auto spec = SecureSpec();
  spec.bridge = "br-other";
  EXPECT_FALSE(none.Plan(spec).has_value());
}

// A host without the gateway role: its internal port receives nothing from the bridge; with the
// gateway role it is the gateway's interface, and an isolation left behind is lifted.
TEST(PlanPorts, TheInternalPortIsIsolatedOnlyWithoutTheGatewayRole) {
  PortRows rows;
  rows.Add("br-secure", 65534, std::nullopt, /*managed=*/true);
  rows.Add("bond0.1081", 1, std::nullopt, /*managed=*/true);
  rows.Add("vnet0", 2, "52:54:0a:51:00:0a");
  auto spec = SecureSpec();
  spec.isolate_local = true;
  auto Find = [](const std::vector<PortPlan>& plans, const std::string& name) {
    return *std::find_if(plans.begin(), plans.end(), [&](auto& p) { return p.name == name; });
  };

  // ovs-vswitchd has not reported the port's MAC yet: nothing to isolate it with.
  auto unknown = Find(*rows.Plan(spec), "br-secure");
  EXPECT_EQ(unknown.state, PortState::kPending);
  EXPECT_EQ(unknown.reason, "interface br-secure has no mac_in_use yet");
  EXPECT_TRUE(unknown.flows.empty());

  rows.SetInterface("br-secure", "mac_in_use", "6e:16:b2:f5:d1:4c");
  auto plans = *rows.Plan(spec);
  auto local = Find(plans, "br-secure");
  auto mac = *MacAddress::Parse("6e:16:b2:f5:d1:4c");
  EXPECT_EQ(local.state, PortState::kIsolated);
  EXPECT_EQ(local.mac, mac);
  ASSERT_EQ(local.flows.size(), 2u);
  EXPECT_EQ(local.flows[0],
            (openflow::Flow{
                100, {.in_port = openflow::kPortLocal}, {openflow::Output{openflow::kPortNormal}}}))
      << "the host may still send";
  EXPECT_EQ(local.flows[1], (openflow::Flow{400, {.eth_dst = mac}}))
      << "frames to the host's MAC, from every port, above every port's flows";
  EXPECT_EQ(local.port_config,
            (openflow::PortConfig{openflow::kPortLocal, mac, openflow::kPortConfigNoForward,
                                  openflow::kPortConfigNoForward}));
  // The uplink and VM ports are planned as before: the per-port flow count does not change.
  EXPECT_EQ(Find(plans, "bond0.1081").state, PortState::kForward);
  EXPECT_FALSE(Find(plans, "bond0.1081").port_config);
  EXPECT_EQ(Find(plans, "vnet0").flows, Find(*rows.Plan(SecureSpec()), "vnet0").flows);

  auto gateway = Find(*rows.Plan(SecureSpec()), "br-secure");
  EXPECT_EQ(gateway.state, PortState::kForward);
  EXPECT_EQ(gateway.flows.size(), 1u);
  EXPECT_EQ(gateway.port_config,
            (openflow::PortConfig{openflow::kPortLocal, mac, 0, openflow::kPortConfigNoForward}));
}

std::map<std::string, PortPlan> ByName(const std::optional<std::vector<PortPlan>>& plans) {
  std::map<std::string, PortPlan> by_name;
  for (const auto& plan : plans.value()) by_name[plan.name] = plan;
  return by_name;
}

TEST(PlanPorts, WhereABindingIsRequiredOnlyPortsWhoseMacIsBoundThereArePinned) {
  PortRows rows;
  rows.Add("br-secure", 65534, std::nullopt, /*managed=*/true);
  rows.Add("vnet0", 2, "52:54:0a:51:00:0a");  // bound to the address it encodes
  rows.Add("vnet1", 3, "52:54:0a:51:00:0b");  // well-formed, in the range, not bound
  rows.Add("vnet2", 4, "52:54:0a:51:00:0c");  // bound on another network only
  rows.Add("vnet3", 5, "52:54:0a:51:00:0d");  // bound to an address it does not encode
  auto spec = SecureSpec();
  spec.require_binding = true;
  testing::StatedBindings bindings;
  auto mac = [](const char* text) { return *MacAddress::Parse(text); };
  bindings.Bind("secure", mac("52:54:0a:51:00:0a"), "vm-a");
  bindings.Bind("service", mac("52:54:0a:51:00:0c"), "vm-c");
  // Bound to another address than the MAC encodes: not a port the gateway made.
  struct Mismatched final : ovs::PortBindings {
    const ovs::PortBindings& real;
    explicit Mismatched(const ovs::PortBindings& bindings) : real(bindings) {}
    State state() const override { return real.state(); }
    std::optional<ovs::BoundPort> Find(std::string_view network, MacAddress mac) const override {
      if (mac == *MacAddress::Parse("52:54:0a:51:00:0d")) {
        return ovs::BoundPort{"vm-d", *Ipv4Address::Parse("10.81.0.99")};
      }
      return real.Find(network, mac);
    }
    std::vector<ovs::GroupPeer> PeersOf(std::string_view network,
                                        std::string_view vm) const override {
      return real.PeersOf(network, vm);
    }
  };

  Mismatched with_mismatch(bindings);
  auto plans = ByName(rows.Plan(spec, &with_mismatch));
  EXPECT_EQ(plans["br-secure"].state, PortState::kForward);
  EXPECT_EQ(plans["vnet0"].state, PortState::kPinned);
  EXPECT_EQ(plans["vnet0"].address->ToString(), "10.81.0.10");
  EXPECT_EQ(plans["vnet0"].flows, rows.Plan(SecureSpec()).value().at(1).flows)
      << "a bound port gets the flows the MAC rule gave it";
  for (const char* name : {"vnet1", "vnet2"}) {
    EXPECT_EQ(plans[name].state, PortState::kRefused) << name;
    EXPECT_TRUE(plans[name].unbound) << name;
    EXPECT_TRUE(plans[name].flows.empty()) << name;
    EXPECT_EQ(plans[name].reason, "MAC not bound on secure") << name;
  }
  EXPECT_EQ(plans["vnet3"].state, PortState::kRefused);
  EXPECT_FALSE(plans["vnet3"].unbound);
  EXPECT_EQ(plans["vnet3"].reason,
            "MAC bound to 10.81.0.99 on secure, but it does not encode that address");

  // Stale bindings (the feed went away) still pin what they knew.
  bindings.set_state(PortBindings::State::kStale);
  EXPECT_EQ(ByName(rows.Plan(spec, &bindings))["vnet0"].state, PortState::kPinned);
  EXPECT_EQ(ByName(rows.Plan(spec, &bindings))["vnet1"].state, PortState::kRefused);

  // Before the bindings are first known, no VM port is planned to get flows.
  bindings.set_state(PortBindings::State::kAwaiting);
  auto awaiting = ByName(rows.Plan(spec, &bindings));
  EXPECT_EQ(awaiting["vnet0"].state, PortState::kPending);
  EXPECT_TRUE(awaiting["vnet0"].flows.empty());
  EXPECT_EQ(ByName(rows.Plan(spec, nullptr))["vnet0"].state, PortState::kPending)
      << "no bindings given where one is required: nothing is pinned";
}

}  // namespace
}  // namespace netd::ovs
