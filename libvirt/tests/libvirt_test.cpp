// LibvirtClient against libvirt's own test driver (test:///default): real libvirt calls and
// events, with the driver's state held in this process. Each test opens its own connection
// (LibvirtTestDriver) first and closes it last, so each starts from the driver's default
// (network "default", running domain "test").
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netd/libvirt/client.hpp"
#include "netd/testing/libvirt_test_driver.hpp"
#include "netd/testing/within.hpp"

namespace netd::libvirt {
namespace {

using namespace std::chrono_literals;

const std::vector<LibvirtNetworkSpec> kNetworks = {
    {"secure", "br-secure", 1081, true},
    {"service", "br-service", 1082, true},
    {"datain", "br-datain", 1083, false},
};

TEST(LibvirtNetworkXml, ReadsBackWhatItWrites) {
  for (const auto& spec : kNetworks) {
    auto xml = LibvirtNetworkXml(spec);
    EXPECT_EQ(ParseLibvirtNetworkXml(xml), spec) << xml;
    EXPECT_EQ(
        ParseLibvirtNetworkXml(LibvirtNetworkXml(spec, "a17f347e-8a29-4369-8b84-41daa244876c")),
        spec);
  }
  auto xml = LibvirtNetworkXml(kNetworks[0]);
  EXPECT_NE(xml.find("<forward mode='bridge'/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<virtualport type='openvswitch'/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<tag id='1081'/>"), std::string::npos) << xml;
  EXPECT_EQ(LibvirtNetworkXml(kNetworks[2]).find("<vlan>"), std::string::npos);
}

TEST(LibvirtNetworkXml, RejectsNetworksThatAreNotNetds) {
  for (const char* xml : {
           "",
           "<network><name>secure</name>",
           // NAT, not bridge
           "<network><name>secure</name><forward mode='nat'/><bridge name='br-secure'/>"
           "<virtualport type='openvswitch'/><portgroup name='vlan-1081' default='yes'/></network>",
           // a Linux bridge
           "<network><name>secure</name><forward mode='bridge'/><bridge name='br-secure'/>"
           "<portgroup name='vlan-1081' default='yes'/></network>",
           // no default portgroup
           "<network><name>secure</name><forward mode='bridge'/><bridge name='br-secure'/>"
           "<virtualport type='openvswitch'/></network>",
           // the VLAN as a trunk: VMs would have to tag their frames
           "<network><name>secure</name><forward mode='bridge'/><bridge name='br-secure'/>"
           "<virtualport type='openvswitch'/><portgroup name='vlan-1081' default='yes'>"
           "<vlan trunk='yes'><tag id='1081'/></vlan></portgroup></network>",
           // a tag other than the portgroup's VLAN
           "<network><name>secure</name><forward mode='bridge'/><bridge name='br-secure'/>"
           "<virtualport type='openvswitch'/><portgroup name='vlan-1081' default='yes'>"
           "<vlan><tag id='1082'/></vlan></portgroup></network>",
       }) {
    EXPECT_EQ(ParseLibvirtNetworkXml(xml), std::nullopt) << xml;
  }
}

TEST(ParseDomainInterfaces, ReadsNetworkAndBridgeInterfaces) {
  auto interfaces = ParseDomainInterfaces(R"(<domain type='kvm'><name>vm1</name><devices>
    <interface type='network'>
      <mac address='52:54:c0:a8:81:0a'/>
      <source network='secure' portid='9a5f' bridge='br-secure'/>
      <target dev='vnet3'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:c0:a8:7a:0b'/>
      <source bridge='br-service'/>
    </interface>
    <interface type='user'><mac address='52:54:00:00:00:01'/></interface>
  </devices></domain>)");
  ASSERT_EQ(interfaces.size(), 2u);
  EXPECT_EQ(interfaces[0], (DomainInterface{"secure", "br-secure", "52:54:c0:a8:81:0a", "vnet3"}));
  EXPECT_EQ(interfaces[1], (DomainInterface{"", "br-service", "52:54:c0:a8:7a:0b", ""}));
  EXPECT_TRUE(ParseDomainInterfaces("<domain").empty());
}

class LibvirtClientTest : public ::testing::Test {
 protected:
  void Start(std::string uri = "test:///default") {
    client_ =
        std::make_unique<LibvirtClient>(io_,
                                        LibvirtClient::Options{.uri = std::move(uri),
                                                               .networks = kNetworks,
                                                               .check_interval = 200ms,
                                                               .min_backoff = 50ms,
                                                               .max_backoff = 200ms},
                                        [this](std::vector<DomainState> domains, bool complete) {
                                          if (complete) ++snapshots_;
                                          for (auto& domain : domains)
                                            seen_.push_back(std::move(domain));
                                        });
    client_->Start();
  }
  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }
  // The last state reported of domain `uuid`.
  std::optional<DomainState> Last(const std::string& uuid) const {
    for (auto it = seen_.rbegin(); it != seen_.rend(); ++it) {
      if (it->uuid == uuid) return *it;
    }
    return std::nullopt;
  }

  testing::LibvirtTestDriver driver_;
  boost::asio::io_context io_;
  std::unique_ptr<LibvirtClient> client_;
  std::vector<DomainState> seen_;
  int snapshots_ = 0;
};

TEST_F(LibvirtClientTest, DefinesStartsAndAutostartsTheNetworks) {
  auto untouched =
      testing::LibvirtTestDriver::Network(virNetworkLookupByName(driver_.get(), "default"));
  ASSERT_TRUE(untouched);
  char* before = virNetworkGetXMLDesc(untouched.get(), 0);
  Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return driver_.AllAsSpecified(kNetworks); }));
  // The counters follow the changes.
  ASSERT_TRUE(RunUntil(5s, [&] { return client_->status().network_changes == 9; }));
  auto status = client_->status();
  EXPECT_TRUE(status.connected);
  EXPECT_EQ(status.error, "");
  EXPECT_EQ(status.connects, 1u);
  // Three networks, each defined, started and autostarted; none of that a repair.
  EXPECT_EQ(status.network_repairs, 0u);
  ASSERT_EQ(status.networks.size(), 3u);
  for (const auto& network : status.networks) {
    EXPECT_TRUE(network.active && network.autostart && network.as_specified) << network.name;
  }
  // libvirt's own network is not netd's business.
  char* after = virNetworkGetXMLDesc(untouched.get(), 0);
  EXPECT_STREQ(before, after);
  std::free(before);
  std::free(after);
}

TEST_F(LibvirtClientTest, ASecondStartChangesNothing) {
  Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return driver_.AllAsSpecified(kNetworks); }));
  auto uuid = driver_.Uuid("secure");
  client_->Stop();
  Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return client_->status().connected; }));
  // Two more check rounds pass too.
  auto checks = client_->status().checks;
  ASSERT_TRUE(RunUntil(5s, [&] { return client_->status().checks >= checks + 2; }));
  auto status = client_->status();
  EXPECT_EQ(status.network_changes, 0u);
  EXPECT_EQ(driver_.Uuid("secure"), uuid);
}

TEST_F(LibvirtClientTest, DestroyedUndefinedAndRedefinedNetworksAreRepaired) {
  Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return driver_.AllAsSpecified(kNetworks); }));
  auto uuid = driver_.Uuid("secure");

  ASSERT_EQ(virNetworkDestroy(driver_.FindNetwork("secure").get()), 0);
  EXPECT_TRUE(RunUntil(5s, [&] { return driver_.AllAsSpecified(kNetworks); })) << "not restarted";

  // Autostart switched off is noticed by the periodic check (libvirt sends no event for it).
  ASSERT_EQ(virNetworkSetAutostart(driver_.FindNetwork("datain").get(), 0), 0);
  EXPECT_TRUE(RunUntil(5s, [&] { return driver_.AllAsSpecified(kNetworks); }))
      << "autostart not restored";
  // Restarted; autostarted.
  EXPECT_TRUE(RunUntil(5s, [&] { return client_->status().network_repairs == 2; }))
      << client_->status().network_repairs;

  // While netd is away, someone points secure at another bridge (same network, same uuid).
  client_->Stop();
  ASSERT_EQ(virNetworkDestroy(driver_.FindNetwork("secure").get()), 0);
  auto wrong = LibvirtNetworkXml({"secure", "br-other", 1081, true}, uuid);
  testing::LibvirtTestDriver::Network redefined(virNetworkDefineXML(driver_.get(), wrong.c_str()));
  ASSERT_TRUE(redefined);
  ASSERT_EQ(virNetworkCreate(redefined.get()), 0);
  ASSERT_EQ(driver_.Defined("secure")->bridge, "br-other");
  // And removes service.
  auto service = driver_.FindNetwork("service");
  ASSERT_EQ(virNetworkDestroy(service.get()), 0);
  ASSERT_EQ(virNetworkUndefine(service.get()), 0);
  Start();
  EXPECT_TRUE(RunUntil(5s, [&] { return driver_.AllAsSpecified(kNetworks); })) << "not restored";
  EXPECT_EQ(driver_.Uuid("secure"), uuid) << "netd replaced the network instead of fixing it";
  // secure stopped, defined again and started; service defined, started, autostarted.
  EXPECT_TRUE(RunUntil(5s, [&] { return client_->status().network_changes == 6; }))
      << client_->status().network_changes;
}

TEST_F(LibvirtClientTest, ReportsEveryDomainAtConnectAndEachLifecycleEvent) {
  Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return snapshots_ == 1; }));
  // The driver's own domain "test", running.
  auto test = std::find_if(seen_.begin(), seen_.end(), [](auto& d) { return d.name == "test"; });
  ASSERT_NE(test, seen_.end());
  EXPECT_TRUE(test->running && test->defined);

  const std::string transient = "11111111-2222-3333-4444-000000000001";
  testing::LibvirtTestDriver::Domain domain(virDomainCreateXML(
      driver_.get(),
      testing::LibvirtTestDriver::DomainXml("vm1", transient, "52:54:c0:a8:81:0a").c_str(), 0));
  ASSERT_TRUE(domain);
  ASSERT_TRUE(RunUntil(5s, [&] { return Last(transient) && Last(transient)->running; }));
  auto started = *Last(transient);
  EXPECT_EQ(started.name, "vm1");
  ASSERT_EQ(started.interfaces.size(), 1u);
  EXPECT_EQ(started.interfaces[0].network, "secure");
  EXPECT_EQ(started.interfaces[0].mac, "52:54:c0:a8:81:0a");
  ASSERT_EQ(virDomainDestroy(domain.get()), 0);
  // A transient domain is gone once it stops.
  ASSERT_TRUE(RunUntil(5s, [&] { return !Last(transient)->running; }));
  EXPECT_FALSE(Last(transient)->defined);

  const std::string persistent = "11111111-2222-3333-4444-000000000002";
  testing::LibvirtTestDriver::Domain defined(virDomainDefineXML(
      driver_.get(),
      testing::LibvirtTestDriver::DomainXml("vm2", persistent, "52:54:c0:a8:81:0b").c_str()));
  ASSERT_TRUE(defined);
  ASSERT_TRUE(RunUntil(5s, [&] { return Last(persistent).has_value(); }));
  EXPECT_TRUE(Last(persistent)->defined);
  EXPECT_FALSE(Last(persistent)->running);
  ASSERT_EQ(virDomainCreate(defined.get()), 0);
  ASSERT_TRUE(RunUntil(5s, [&] { return Last(persistent)->running; }));
  ASSERT_EQ(virDomainDestroy(defined.get()), 0);
  ASSERT_TRUE(RunUntil(5s, [&] { return !Last(persistent)->running; }));
  EXPECT_TRUE(Last(persistent)->defined) << "a defined domain that stopped is still defined";
  ASSERT_EQ(virDomainUndefine(defined.get()), 0);
  ASSERT_TRUE(RunUntil(5s, [&] { return !Last(persistent)->defined; }));
  EXPECT_GE(client_->status().domain_events, 6u);
}

TEST_F(LibvirtClientTest, AnUnreachableUriIsReportedAndRetried) {
  Start("test:///nonexistent/netd-test.xml");
  // Tried again after the pause, and again.
  ASSERT_TRUE(RunUntil(5s, [&] { return client_->status().connect_failures >= 3; }));
  auto status = client_->status();
  EXPECT_FALSE(status.connected);
  EXPECT_NE(status.error.find("test:///nonexistent/netd-test.xml"), std::string::npos)
      << status.error;
  EXPECT_EQ(status.connects, 0u);
  EXPECT_EQ(driver_.Defined("secure"), std::nullopt) << "defined through another connection";
  client_->Stop();
}

}  // namespace
}  // namespace netd::libvirt
