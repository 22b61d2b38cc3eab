#include "netd/proxy/forward_lifecycle.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>

namespace netd::proxy {
namespace {

constexpr std::int64_t kNowMs = 1'800'000'000'000;

Ipv4Address Address(std::string_view text) {
  return *Ipv4Address::Parse(text);
}

ForwardOptions Options() {
  ForwardOptions options;
  options.default_ttl_s = 3600;
  options.max_ttl_s = 86400;
  options.vm_ports = {22, 2222};
  options.enclave_networks = {{"secure", *Ipv4Cidr::Parse("192.168.128.0/17")},
                              {"service", *Ipv4Cidr::Parse("192.168.122.0/24")}};
  options.grace_ms = 2000;
  return options;
}

// The ForwardError `request` is refused with.
ForwardError RefusalOf(const ForwardLifecycle& lifecycle, const OpenRequest& request) {
  try {
    lifecycle.Validate(request);
  } catch (const ForwardError& error) {
    return error;
  }
  ADD_FAILURE() << "accepted " << request.client_ip;
  return ForwardError(ForwardError::Kind::kInvalid, "", "", "");
}

void ExpectRefusal(const ForwardError& refusal, std::string_view code, std::string_view field,
                   std::string_view message) {
  EXPECT_EQ(refusal.kind(), ForwardError::Kind::kInvalid);
  EXPECT_EQ(refusal.code(), code);
  EXPECT_EQ(refusal.field(), field);
  EXPECT_EQ(refusal.what(), message);
}

// Out of range for a VM port and for a life, and not an integer at all.
const std::vector<IntegerField> kUnacceptable{std::int64_t{0}, std::int64_t{100'000},
                                              NotAnInteger{}};

TEST(ForwardLifecycle, AValidRequestTakesTheDefaults) {
  ForwardLifecycle lifecycle(Options());
  auto terms = lifecycle.Validate({"198.51.100.9", {}, {}});
  EXPECT_EQ(terms.client, Address("198.51.100.9"));
  EXPECT_EQ(terms.vm_port, 22);
  EXPECT_EQ(terms.ttl_s, 3600);
  terms = lifecycle.Validate({"198.51.100.9", std::int64_t{2222}, std::int64_t{60}});
  EXPECT_EQ(terms.vm_port, 2222);
  EXPECT_EQ(terms.ttl_s, 60);
}

TEST(ForwardLifecycle, AClientMustBeUnicastAndOutsideTheEnclave) {
  ForwardLifecycle lifecycle(Options());
  for (const char* client :
       {"198.51.100", "0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255"}) {
    ExpectRefusal(RefusalOf(lifecycle, {client, {}, {}}), "invalid_client_ip", "client_ip",
                  fmt::format("client_ip \"{}\" is not a unicast IPv4 address", client));
  }
  ExpectRefusal(RefusalOf(lifecycle, {"192.168.122.40", {}, {}}), "invalid_client_ip", "client_ip",
                "client_ip 192.168.122.40 is inside the enclave network service "
                "(192.168.122.0/24); forwards serve clients outside the enclave");
  EXPECT_EQ(RefusalOf(lifecycle, {std::string(100, 'x'), {}, {}}).what(),
            "client_ip \"" + std::string(64, 'x') + "\" is not a unicast IPv4 address")
      << "the echo of what the caller sent is bounded";
}

TEST(ForwardLifecycle, APortMustBeAnIntegerTheVmPortsAllow) {
  ForwardLifecycle lifecycle(Options());
  for (const auto& port : kUnacceptable) {
    ExpectRefusal(RefusalOf(lifecycle, {"198.51.100.9", port, {}}), "invalid_port", "port",
                  "port must be an integer 1-65535");
  }
  ExpectRefusal(RefusalOf(lifecycle, {"198.51.100.9", std::int64_t{80}, {}}), "port_not_allowed",
                "port",
                "forwards may reach VM port(s) 22, 2222 (gateway.forward_vm_ports), not 80");
}

TEST(ForwardLifecycle, ALifeMustBeAnIntegerUpToTheMaximum) {
  ForwardLifecycle lifecycle(Options());
  for (const auto& ttl : kUnacceptable) {
    ExpectRefusal(RefusalOf(lifecycle, {"198.51.100.9", {}, ttl}), "invalid_ttl", "ttl_s",
                  "ttl_s must be an integer of seconds, 1-86400 (gateway.forward_max_ttl_s)");
  }
  EXPECT_EQ(RefusalOf(lifecycle, {"198.51.100.9", {}, std::int64_t{86401}}).code(), "invalid_ttl");
}

TEST(ForwardLifecycle, ARenewalCountsTheLifeFromNow) {
  ForwardLifecycle lifecycle(Options());
  Forward forward{"fwd-a", "vm1",           Address("192.168.129.1"), 22, Address("198.51.100.9"),
                  6000,    kNowMs - 50'000, kNowMs + 10'000};
  auto renewed = lifecycle.PlanRenewal(forward, {}, kNowMs);
  EXPECT_EQ(renewed.expires_ms, kNowMs + 3'600'000) << "the default life";
  EXPECT_EQ(renewed.created_ms, forward.created_ms);
  EXPECT_EQ(lifecycle.PlanRenewal(forward, std::int64_t{86400}, kNowMs).expires_ms,
            kNowMs + 86'400'000);
  try {
    lifecycle.PlanRenewal(forward, std::int64_t{-5}, kNowMs);
    ADD_FAILURE() << "a negative life";
  } catch (const ForwardError& error) {
    EXPECT_EQ(error.code(), "invalid_ttl");
    EXPECT_EQ(error.field(), "ttl_s");
  }
}

TEST(ForwardLifecycle, FieldsAreCheckedInTheApisOrder) {
  ForwardLifecycle lifecycle(Options());
  EXPECT_EQ(RefusalOf(lifecycle, {"127.0.0.1", NotAnInteger{}, NotAnInteger{}}).code(),
            "invalid_client_ip");
  EXPECT_EQ(RefusalOf(lifecycle, {"198.51.100.9", NotAnInteger{}, NotAnInteger{}}).code(),
            "invalid_port");
  EXPECT_EQ(RefusalOf(lifecycle, {"198.51.100.9", std::int64_t{80}, NotAnInteger{}}).code(),
            "port_not_allowed");
}

TEST(ForwardLifecycle, AnOpenTakesTheClientsLowestFreePortAndANewId) {
  std::deque<std::string> ids{"fwd-000000000001", "fwd-000000000001", "fwd-000000000002"};
  ForwardLifecycle lifecycle(Options(), [&] {
    auto id = ids.front();
    ids.pop_front();
    return id;
  });
  ForwardTable table(PortRange{6000, 6001});
  auto client = Address("198.51.100.9");
  auto terms = lifecycle.Validate({"198.51.100.9", {}, std::int64_t{60}});
  auto first = lifecycle.PlanOpen(table, terms, "vm1", Address("192.168.129.1"), kNowMs);
  EXPECT_EQ(first, (Forward{"fwd-000000000001", "vm1", Address("192.168.129.1"), 22, client, 6000,
                            kNowMs, kNowMs + 60'000}));
  EXPECT_TRUE(table.all().empty()) << "planning leaves the table to the caller";
  table.Add(first);
  auto second = lifecycle.PlanOpen(table, terms, "vm1", Address("192.168.129.1"), kNowMs);
  EXPECT_EQ(second.id, "fwd-000000000002") << "an id the table holds is drawn again";
  EXPECT_EQ(second.listen_port, 6001);
  table.Add(second);

  try {
    lifecycle.PlanOpen(table, terms, "vm1", Address("192.168.129.1"), kNowMs);
    ADD_FAILURE() << "a third forward on a range of two";
  } catch (const ForwardError& error) {
    EXPECT_EQ(error.kind(), ForwardError::Kind::kNoFreePort);
    EXPECT_EQ(error.code(), "forward_ports_exhausted");
    EXPECT_EQ(error.field(), "client_ip");
    EXPECT_STREQ(error.what(),
                 "client 198.51.100.9 already holds a forward on every port of 6000-6001 "
                 "(gateway.forward_ports); close one first");
  }
  ids = {"fwd-000000000003"};
  auto other = lifecycle.Validate({"198.51.100.10", {}, {}});
  EXPECT_EQ(lifecycle.PlanOpen(table, other, "vm1", Address("192.168.129.1"), kNowMs).listen_port,
            6000)
      << "another client is not affected";

  table.Remove(first.id);
  ids = {"fwd-000000000004"};
  EXPECT_EQ(lifecycle.PlanOpen(table, terms, "vm1", Address("192.168.129.1"), kNowMs).listen_port,
            6000)
      << "a closed forward's port is free again";
}

TEST(ForwardLifecycle, RandomIdsAreFwdAndTwelveHexDigits) {
  auto id = RandomForwardId();
  ASSERT_EQ(id.size(), 16u);
  EXPECT_EQ(id.substr(0, 4), "fwd-");
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
  EXPECT_NE(RandomForwardId(), RandomForwardId());
}

TEST(ForwardLifecycle, DueForwardsComeEarliestFirstWithTheKernelsPart) {
  ForwardLifecycle lifecycle(Options());
  ForwardTable table(PortRange{6000, 6100});
  auto client = Address("198.51.100.9");
  auto vm_ip = Address("192.168.129.1");
  table.Add({"fwd-b", "vm1", vm_ip, 22, client, 6000, 0, kNowMs - 999});
  table.Add({"fwd-a", "vm1", vm_ip, 22, client, 6001, 0, kNowMs});
  table.Add({"fwd-c", "vm1", vm_ip, 22, client, 6002, 0, kNowMs - 1000});
  table.Add({"fwd-d", "vm1", vm_ip, 22, client, 6003, 0, kNowMs + 1});

  auto due = lifecycle.Due(table, kNowMs);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].forward.id, "fwd-c");
  EXPECT_FALSE(due[0].in_kernel) << "half its grace gone: the kernel may have dropped it";
  EXPECT_EQ(due[1].forward.id, "fwd-b");
  EXPECT_TRUE(due[1].in_kernel);
  EXPECT_EQ(due[2].forward.id, "fwd-a");
  EXPECT_TRUE(due[2].in_kernel) << "due at its expiry";
  EXPECT_EQ(table.all().size(), 4u) << "the due list leaves the table to the caller";
}

}  // namespace
}  // namespace netd::proxy
