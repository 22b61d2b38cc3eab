#include "netd/testing/libvirt_test_driver.hpp"

#include <libvirt/virterror.h>

#include <cstdlib>
#include <stdexcept>

namespace netd::testing {

LibvirtTestDriver::LibvirtTestDriver() : connection_(virConnectOpen("test:///default")) {
  if (!connection_) throw std::runtime_error("cannot open libvirt's test:///default");
}

LibvirtTestDriver::~LibvirtTestDriver() {
  virConnectClose(connection_);
}

LibvirtTestDriver::Network LibvirtTestDriver::FindNetwork(const std::string& name) const {
  return Network(virNetworkLookupByName(connection_, name.c_str()));
}

std::optional<libvirt::LibvirtNetworkSpec> LibvirtTestDriver::Defined(
    const std::string& name) const {
  auto network = FindNetwork(name);
  if (!network || virNetworkIsPersistent(network.get()) != 1) return std::nullopt;
  char* xml = virNetworkGetXMLDesc(network.get(), 0);
  if (!xml) return std::nullopt;
  auto spec = libvirt::ParseLibvirtNetworkXml(xml);
  std::free(xml);
  return spec;
}

bool LibvirtTestDriver::Active(const std::string& name) const {
  auto network = FindNetwork(name);
  return network && virNetworkIsActive(network.get()) == 1;
}

bool LibvirtTestDriver::Autostart(const std::string& name) const {
  auto network = FindNetwork(name);
  int autostart = 0;
  return network && virNetworkGetAutostart(network.get(), &autostart) == 0 && autostart;
}

std::string LibvirtTestDriver::Uuid(const std::string& name) const {
  auto network = FindNetwork(name);
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (network) virNetworkGetUUIDString(network.get(), uuid);
  return uuid;
}

bool LibvirtTestDriver::AllAsSpecified(
    const std::vector<libvirt::LibvirtNetworkSpec>& specs) const {
  for (const auto& spec : specs) {
    if (Defined(spec.name) != spec || !Active(spec.name) || !Autostart(spec.name)) return false;
  }
  return true;
}

std::string LibvirtTestDriver::DomainXml(const std::string& name, const std::string& uuid,
                                         const std::string& mac, const std::string& network) {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory>1024</memory><os><type>hvm</type></os><devices>"
         "<interface type='network'><source network='" +
         network + "'/><mac address='" + mac + "'/></interface></devices></domain>";
}

LibvirtTestDriver::Domain LibvirtTestDriver::DefineAndStart(const std::string& xml) const {
  Domain domain(virDomainDefineXML(connection_, xml.c_str()));
  if (!domain || virDomainCreate(domain.get()) != 0) {
    throw std::runtime_error(std::string("cannot define and start a test domain: ") +
                             virGetLastErrorMessage());
  }
  return domain;
}

}  // namespace netd::testing
