// The filtered resolver's policy on loopback, without the kernel: a fake AddressOpener holds
// the policy and records what it is asked to open, and a scripted upstream records what reaches
// it. The kernel side (allow4, real VMs in namespaces) is tests/kernel/dns_test.cpp.
#include "netd/dns/filtered_resolver.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_messages.hpp"

namespace netd::dns {
namespace {

using boost::asio::ip::udp;
using test_messages::Bytes;

const Ipv4Address kLoopback = *Ipv4Address::Parse("127.0.0.1");
const Ipv4Address kAnswered = *Ipv4Address::Parse("198.51.100.7");

udp::endpoint Endpoint(Ipv4Address address, std::uint16_t port) {
  return {boost::asio::ip::address_v4(address.value()), port};
}

// Records what the resolver opens, and whether the VM had its answer by then.
class RecordingOpener final : public AddressOpener {
 public:
  struct Opened {
    std::string vm;
    std::string name;
    std::vector<Ipv4Address> addresses;
    std::int64_t lifetime_ms = 0;
    bool answer_waiting = false;  // the answer had reached the VM's socket already
  };

  const allowlist::AllowlistPolicy& policy() const override { return rules_and_vms; }
  void OpenLearned(const allowlist::SecureVm& vm,
                   const std::vector<const allowlist::AllowlistRule*>&, const std::string& name,
                   const std::vector<Ipv4Address>& addresses, std::int64_t lifetime_ms) override {
    if (refuse) throw std::runtime_error("the kernel refused");
    opened.push_back(
        {vm.id, name, addresses, lifetime_ms, vm_socket && vm_socket->available() > 0});
  }

  allowlist::AllowlistPolicy rules_and_vms;
  bool refuse = false;
  const udp::socket* vm_socket = nullptr;
  std::vector<Opened> opened;
};

// An upstream resolver on loopback: answers every A query with kAnswered and keeps the names.
class ScriptedUpstream {
 public:
  explicit ScriptedUpstream(boost::asio::io_context& io) : socket_(io, Endpoint(kLoopback, 0)) {
    Receive();
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  const std::vector<std::string>& names() const { return names_; }

 private:
  void Receive() {
    socket_.async_receive_from(boost::asio::buffer(buffer_), peer_, [this](auto error, auto size) {
      if (error) return;
      auto parsed = ParseQuery(std::span(buffer_.data(), size));
      if (parsed.query) {
        names_.push_back(parsed.query->name);
        socket_.send_to(boost::asio::buffer(BuildAddressAnswer(*parsed.query, {kAnswered}, 300)),
                        peer_);
      }
      Receive();
    });
  }

  udp::socket socket_;
  udp::endpoint peer_;
  std::array<std::uint8_t, 1500> buffer_{};
  std::vector<std::string> names_;
};

// A UDP port free on loopback now; the resolver takes it for TCP too, where it is free as well
// but for a rare race with another process.
std::uint16_t FreePort(boost::asio::io_context& io) {
  udp::socket probe(io, Endpoint(kLoopback, 0));
  return probe.local_endpoint().port();
}

class FilteredResolverTest : public ::testing::Test {
 protected:
  FilteredResolverTest() {
    opener_.rules_and_vms.AddVm({"vm1", kLoopback, MacAddress::ForVmAddress(kLoopback)});
    allowlist::AllowlistRule rule;
    rule.name = "license";
    rule.destinations = {"license.example.org"};
    rule.hosts = {"license.example.org"};
    rule.ports = {{27000, 27000}};
    rule.vms = {"vm1"};
    opener_.rules_and_vms.PutRule(rule);
    ResolverOptions options;
    options.listen_addresses = {kLoopback};
    options.listen_port = FreePort(io_);
    options.upstream = {{kLoopback, upstream_.port()}};
    options.upstream_timeout_ms = 5000;
    resolver_.emplace(io_, options, opener_);
    resolver_->Start();
    listen_port_ = options.listen_port;
  }

  // Asks the resolver from `source` (a VM's address: the resolver knows VMs by it) and returns
  // its answer.
  Bytes Ask(const std::string& name, std::uint16_t qtype, Ipv4Address source = kLoopback) {
    udp::socket vm(io_, Endpoint(source, 0));
    opener_.vm_socket = &vm;
    vm.send_to(boost::asio::buffer(test_messages::Query(name, qtype)),
               Endpoint(kLoopback, listen_port_));
    Bytes answer(1500);
    std::size_t received = 0;
    vm.async_receive(boost::asio::buffer(answer), [&](auto error, auto size) {
      if (!error) received = size;
    });
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (received == 0 && std::chrono::steady_clock::now() < give_up) {
      io_.run_for(std::chrono::milliseconds(10));
    }
    opener_.vm_socket = nullptr;
    answer.resize(received);
    return answer;
  }

  std::uint64_t Count(FilteredResolver::Verdict verdict) const {
    return resolver_->counters().verdicts[static_cast<std::size_t>(verdict)];
  }

  boost::asio::io_context io_;
  RecordingOpener opener_;
  ScriptedUpstream upstream_{io_};
  std::optional<FilteredResolver> resolver_;
  std::uint16_t listen_port_ = 0;
};

Rcode RcodeOf(const Bytes& answer) {
  return static_cast<Rcode>(answer.at(3) & 0x0f);
}

TEST_F(FilteredResolverTest, NamesNotAllowedAreRefusedAndNeverReachTheUpstream) {
  EXPECT_EQ(RcodeOf(Ask("data.evil.example", type::kA)), Rcode::kRefused);
  EXPECT_EQ(RcodeOf(Ask("license.example.org", type::kTxt)), Rcode::kRefused)
      << "a type the rule does not allow";
  EXPECT_EQ(RcodeOf(Ask("license.example.org", type::kA, *Ipv4Address::Parse("127.0.0.2"))),
            Rcode::kRefused)
      << "a source that is no VM";
  EXPECT_TRUE(upstream_.names().empty());
  EXPECT_TRUE(opener_.opened.empty());
  EXPECT_EQ(Count(FilteredResolver::Verdict::kRefused), 1u);
  EXPECT_EQ(Count(FilteredResolver::Verdict::kQtypeRefused), 1u);
  EXPECT_EQ(Count(FilteredResolver::Verdict::kUnknownSource), 1u);
}

TEST_F(FilteredResolverTest, AnAllowedNameIsOpenedForTheVmBeforeItGetsTheAnswer) {
  auto answer = Ask("License.Example.ORG", type::kA);
  ASSERT_EQ(RcodeOf(answer), Rcode::kNoError);
  auto summary = ParseResponse(answer, "license.example.org");
  ASSERT_TRUE(summary);
  ASSERT_EQ(summary->addresses.size(), 1u);
  EXPECT_EQ(summary->addresses[0].address, kAnswered);
  EXPECT_EQ(upstream_.names(), std::vector<std::string>{"license.example.org"});
  ASSERT_EQ(opener_.opened.size(), 1u);
  const auto& opened = opener_.opened[0];
  EXPECT_EQ(opened.vm, "vm1");
  EXPECT_EQ(opened.name, "license.example.org");
  EXPECT_EQ(opened.addresses, std::vector<Ipv4Address>{kAnswered});
  EXPECT_EQ(opened.lifetime_ms, (300 + 30) * 1000) << "the TTL plus the grace";
  EXPECT_FALSE(opened.answer_waiting);
  // From the cache the addresses are opened again for the VM, before it gets them.
  EXPECT_EQ(RcodeOf(Ask("license.example.org", type::kA)), Rcode::kNoError);
  EXPECT_EQ(upstream_.names().size(), 1u);
  ASSERT_EQ(opener_.opened.size(), 2u);
  EXPECT_FALSE(opener_.opened[1].answer_waiting);
  EXPECT_EQ(Count(FilteredResolver::Verdict::kAllowed), 1u);
  EXPECT_EQ(Count(FilteredResolver::Verdict::kCached), 1u);
}

TEST_F(FilteredResolverTest, AnAnswerWhoseAddressesCannotBeOpenedIsServfail) {
  opener_.refuse = true;
  EXPECT_EQ(RcodeOf(Ask("license.example.org", type::kA)), Rcode::kServFail);
  EXPECT_EQ(Count(FilteredResolver::Verdict::kServfail), 1u);
}

}  // namespace
}  // namespace netd::dns
