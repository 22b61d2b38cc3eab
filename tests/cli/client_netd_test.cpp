// netd_client's typed calls against a real netd.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "netd/client/client.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"

namespace netd::client {
namespace {

using ::testing::HasSubstr;

class ClientAgainstNetdTest : public ::testing::Test {
 protected:
  void SetUp() override { netd_.Start(); }

  lab::TempDir directory_{"client"};
  testing::NetdProcess netd_{directory_.path()};
  Client client_{netd_.socket().string(), std::chrono::seconds(10)};
};

TEST_F(ClientAgainstNetdTest, BindsShowsListsAndUnbinds) {
  const BindResult first = client_.BindVm("vm-1", "secure", "analysis-1");
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.binding.vm, "vm-1");
  EXPECT_EQ(first.binding.network, "secure");
  EXPECT_EQ(first.binding.hostname, "analysis-1");
  // The address plan: 52:54 followed by the IP's four octets.
  EXPECT_EQ(first.binding.ip, "192.168.129.1");
  EXPECT_EQ(first.binding.mac, "52:54:c0:a8:81:01");

  const BindResult again = client_.BindVm("vm-1", "secure", "analysis-1");
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.binding.ip, first.binding.ip);

  client_.BindVm("vm-2", "service");
  EXPECT_EQ(client_.GetVm("vm-2").hostname, std::nullopt);
  EXPECT_EQ(client_.ListVms().size(), 2u);
  const auto secure = client_.ListVms("secure");
  ASSERT_EQ(secure.size(), 1u);
  EXPECT_EQ(secure[0].vm, "vm-1");

  EXPECT_EQ(client_.UnbindVm("vm-1").ip, "192.168.129.1");
  try {
    client_.GetVm("vm-1");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 404u);
  }
}

TEST_F(ClientAgainstNetdTest, RefusalNamesTheRejectedField) {
  try {
    client_.BindVm("vm-1", "no-such-network");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 422u);
    EXPECT_FALSE(error.code().empty());
    EXPECT_EQ(error.field(), "network");
  }
}

TEST_F(ClientAgainstNetdTest, BindingElsewhereIsAConflict) {
  client_.BindVm("vm-1", "secure");
  try {
    client_.BindVm("vm-1", "service");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 409u);
  }
}

TEST_F(ClientAgainstNetdTest, IdsThatWouldEscapeThePathAreRefusedNotRouted) {
  try {
    client_.GetVm("../status");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 422u);
    EXPECT_EQ(error.field(), "vm");
  }
}

TEST_F(ClientAgainstNetdTest, StatusNetworksAuditAndMetrics) {
  client_.BindVm("vm-1", "datain");

  const StatusReport status = client_.Status();
  EXPECT_EQ(status.version, "0.1.0");
  EXPECT_EQ(status.roles, (std::vector<std::string>{"gateway", "host"}));
  EXPECT_EQ(status.vms_total, 1);
  EXPECT_EQ(status.vms_by_network.at("datain"), 1);
  EXPECT_EQ(status.audit_length, 1);

  const auto networks = client_.Networks();
  ASSERT_EQ(networks.size(), 3u);
  EXPECT_EQ(networks[0].name, "secure");
  EXPECT_EQ(networks[0].egress, "allowlist");
  EXPECT_EQ(networks[2].bound_vms, 1);

  const AuditPage page = client_.Audit();
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].seq, 1u);
  EXPECT_EQ(page.records[0].action, "vm.bind");
  EXPECT_EQ(page.records[0].result, "ok");
  EXPECT_EQ(page.records[0].status, 201u);
  EXPECT_EQ(page.records[0].caller.uid, static_cast<std::int64_t>(getuid()));
  EXPECT_TRUE(client_.Audit(1).records.empty());

  const AuditVerification verification = client_.VerifyAudit();
  EXPECT_TRUE(verification.ok);
  EXPECT_EQ(verification.length, 1u);

  EXPECT_THAT(client_.Metrics(), HasSubstr("# TYPE "));
}

TEST_F(ClientAgainstNetdTest, DnsLogStartsEmptyAndVmsHaveNothingLearned) {
  client_.BindVm("vm-1", "secure");
  EXPECT_TRUE(client_.DnsLog().empty());
  EXPECT_TRUE(client_.DnsLog("vm-1", 1000).empty());
  // A gateway sends the list, empty until an answer opens something.
  const VmBinding binding = client_.GetVm("vm-1");
  ASSERT_TRUE(binding.dns_learned.has_value());
  EXPECT_TRUE(binding.dns_learned->empty());

  try {
    client_.DnsLog("../status");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 422u);
    EXPECT_EQ(error.code(), "invalid_vm_id");
    EXPECT_EQ(error.field(), "vm");
  }
  EXPECT_THROW(client_.DnsLog(std::nullopt, 0), ApiError);
}

TEST_F(ClientAgainstNetdTest, HostPortsAreNoneWithoutAnOvsdbServer) {
  // The host role runs, but no ovsdb-server listens at its host.ovsdb_remote.
  EXPECT_TRUE(client_.HostPorts().empty());
}

TEST(ClientAgainstGatewayNetdTest, HostPortsAreRefusedWithoutTheHostRole) {
  lab::TempDir directory("client");
  testing::NetdProcess netd(directory.path(), [](std::string text) {
    return testing::Replace(std::move(text), R"(roles = ["gateway", "host"])",
                            R"(roles = ["gateway"])");
  });
  netd.Start();
  try {
    Client(netd.socket().string(), std::chrono::seconds(10)).HostPorts();
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 409u);
    EXPECT_EQ(error.code(), "no_host_role");
    EXPECT_EQ(error.message(), "this netd does not run the host role");
    EXPECT_EQ(error.field(), std::nullopt);
  }
}

TEST_F(ClientAgainstNetdTest, OpensRenewsListsAndClosesForwards) {
  client_.BindVm("vm-1", "secure");
  const Forward opened = client_.OpenForward(
      ForwardSpec{.vm = "vm-1", .client_ip = "198.51.100.7", .port = 22, .ttl_s = 600});
  EXPECT_EQ(opened.vm, "vm-1");
  EXPECT_EQ(opened.vm_ip, "192.168.129.1");
  EXPECT_EQ(opened.vm_port, 22);
  EXPECT_EQ(opened.client_ip, "198.51.100.7");
  EXPECT_EQ(opened.listen_port, 6000);
  EXPECT_FALSE(opened.listen_ip.has_value());
  EXPECT_GE(opened.expires_in_s, 599);
  EXPECT_EQ(client_.GetForward(opened.id).id, opened.id);
  EXPECT_LE(client_.RenewForward(opened.id, 60).expires_in_s, 60);
  ASSERT_EQ(client_.ListForwards().size(), 1u);
  EXPECT_EQ(client_.CloseForward(opened.id).id, opened.id);
  EXPECT_TRUE(client_.ListForwards().empty());
  EXPECT_THROW(client_.GetForward(opened.id), ApiError);
}

TEST_F(ClientAgainstNetdTest, PutsAssignsUnassignsAndDeletesAllowlistRules) {
  client_.BindVm("vm-1", "secure");
  client_.BindVm("vm-2", "secure");
  AllowlistRuleSpec spec{.destinations = {"203.0.113.7", "198.51.100.0/24", "lic.example.org"},
                         .protocol = "tcp",
                         .ports = {"27000-27010", "1717"},
                         .vms = {"vm-1"},
                         .comment = "FlexLM"};
  const AllowlistPutResult created = client_.PutAllowlistRule("flexlm", spec);
  EXPECT_TRUE(created.created);
  EXPECT_EQ(created.rule.name, "flexlm");
  EXPECT_EQ(created.rule.destinations, spec.destinations);
  EXPECT_EQ(created.rule.ports, spec.ports);
  EXPECT_EQ(created.rule.qtypes, (std::vector<std::string>{"A", "AAAA"})) << "netd's default";
  EXPECT_EQ(created.rule.vms, spec.vms);
  EXPECT_EQ(created.rule.comment, "FlexLM");
  EXPECT_EQ(created.rule.bound_vms, 1);
  EXPECT_TRUE(created.rule.created_at.has_value());
  EXPECT_FALSE(client_.PutAllowlistRule("flexlm", spec).created);

  const AllowlistRule assigned = client_.AssignAllowlistRule("flexlm", "vm-2");
  EXPECT_EQ(assigned.vms, (std::vector<std::string>{"vm-1", "vm-2"}));
  EXPECT_EQ(assigned.bound_vms, 2);
  EXPECT_EQ(client_.GetAllowlistRule("flexlm").vms_bound,
            (std::vector<std::string>{"vm-1", "vm-2"}));
  EXPECT_EQ(client_.UnassignAllowlistRule("flexlm", "vm-1").vms,
            (std::vector<std::string>{"vm-2"}));

  spec.all_vms = true;
  spec.qtypes = {"aaaa", "A"};
  EXPECT_EQ(client_.PutAllowlistRule("every-vm", spec).rule.qtypes,
            (std::vector<std::string>{"A", "AAAA"}));
  const auto rules = client_.ListAllowlist();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].name, "every-vm");
  EXPECT_TRUE(rules[0].all_vms);
  EXPECT_EQ(rules[0].bound_vms, 2);

  const AllowlistRule deleted = client_.DeleteAllowlistRule("flexlm");
  EXPECT_EQ(deleted.name, "flexlm");
  EXPECT_EQ(deleted.vms, (std::vector<std::string>{"vm-2"}));
  EXPECT_EQ(client_.ListAllowlist().size(), 1u);
  try {
    client_.GetAllowlistRule("flexlm");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 404u);
    EXPECT_EQ(error.field(), "rule");
  }
}

TEST_F(ClientAgainstNetdTest, AllowlistRefusalsNameTheRejectedField) {
  client_.BindVm("vm-s", "service");
  const AllowlistRuleSpec spec{.destinations = {"203.0.113.7"},
                               .protocol = "tcp",
                               .ports = {"22"},
                               .vms = {"vm-s"},
                               .comment = "licence server"};
  try {
    client_.PutAllowlistRule("r1", spec);
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 422u);
    EXPECT_EQ(error.code(), "vm_not_secure");
    EXPECT_EQ(error.field(), "vms");
  }

  auto bad_port = spec;
  bad_port.vms.clear();
  bad_port.ports = {"22", "0-80"};
  try {
    client_.PutAllowlistRule("r1", bad_port);
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 422u);
    EXPECT_EQ(error.field(), "ports[1]");
  }
  EXPECT_TRUE(client_.ListAllowlist().empty());
}

TEST_F(ClientAgainstNetdTest, PutsListsChangesMembersAndDeletesGroups) {
  GroupSpec spec{.network = "secure",
                 .members = {"vm-2", "vm-1"},
                 .protocol = "tcp",
                 .ports = {6817, 22},
                 .comment = "Slurm jobs"};
  const GroupPutResult created = client_.PutGroup("slurm", spec);
  EXPECT_TRUE(created.created);
  EXPECT_EQ(created.group.members, (std::vector<std::string>{"vm-1", "vm-2"}));
  EXPECT_EQ(created.group.ports, (std::vector<std::uint16_t>{22, 6817}));
  EXPECT_EQ(created.group.bound_members, 0);
  EXPECT_FALSE(client_.PutGroup("slurm", spec).created);

  client_.BindVm("vm-1", "secure");
  const Group shown = client_.GetGroup("slurm");
  EXPECT_EQ(shown.members_bound, std::vector<std::string>{"vm-1"});
  EXPECT_EQ(client_.AddGroupMember("slurm", "vm-3").members.size(), 3u);
  EXPECT_EQ(client_.RemoveGroupMember("slurm", "vm-2").members,
            (std::vector<std::string>{"vm-1", "vm-3"}));
  const GroupPutResult open = client_.PutGroup("cluster", {.network = "secure"});
  EXPECT_EQ(open.group.protocol, "all") << "netd's default";
  ASSERT_EQ(client_.ListGroups().size(), 2u);
  EXPECT_EQ(client_.DeleteGroup("cluster").name, "cluster");
  try {
    client_.RemoveGroupMember("slurm", "vm-2");
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 404u);
    EXPECT_EQ(error.code(), "vm_not_member");
    EXPECT_EQ(error.field(), "vm");
  }
  try {
    client_.PutGroup("bad", {.network = "secure", .protocol = "icmp", .ports = {22}});
    FAIL() << "expected ApiError";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 422u);
    EXPECT_EQ(error.code(), "invalid_ports");
    EXPECT_EQ(error.field(), "ports");
  }
}

TEST_F(ClientAgainstNetdTest, StoppedNetdIsUnreachable) {
  netd_.Stop();
  EXPECT_THROW(client_.Status(), UnreachableError);
}

}  // namespace
}  // namespace netd::client
